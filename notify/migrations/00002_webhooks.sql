-- +goose Up
-- Where a workspace's events are posted. kind: webhook (signed) or slack.
-- topics is a space-separated list, or "*" for every workspace event.
-- secret signs the payloads; previous_secret signs beside it until
-- previous_until, so receivers can move to a rotated secret without a gap.
-- failing_since is 0 while the last delivery succeeded.
CREATE TABLE notify_endpoints (
    endpoint_id     TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    kind            TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    topics          TEXT NOT NULL,
    secret          TEXT NOT NULL DEFAULT '',
    previous_secret TEXT NOT NULL DEFAULT '',
    previous_until  BIGINT NOT NULL DEFAULT 0,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT NOT NULL DEFAULT '',
    failing_since   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX notify_endpoints_workspace ON notify_endpoints (tenant_id, workspace_id);

-- One event for one endpoint. The body is rendered once, when the event is
-- recorded, so every attempt posts the same bytes. status: pending,
-- delivered, dead (retries exhausted: a dead letter, kept and re-sendable).
-- deadline_at ends the retry window. claim is the token of the attempt under
-- way, which alone may record its outcome.
CREATE TABLE notify_deliveries (
    delivery_id      TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    topic            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claim            TEXT NOT NULL DEFAULT '',
    next_try_at      BIGINT NOT NULL,
    deadline_at      BIGINT NOT NULL,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_latency_ms  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT NOT NULL DEFAULT 0
);
-- A redelivered bus event finds its deliveries already there.
CREATE UNIQUE INDEX notify_deliveries_event_endpoint ON notify_deliveries (event_id, endpoint_id);
CREATE INDEX notify_deliveries_due ON notify_deliveries (status, next_try_at);
CREATE INDEX notify_deliveries_endpoint ON notify_deliveries (endpoint_id, delivery_id);

-- The delivery log: one row per attempt. response holds at most 1 KiB.
CREATE TABLE notify_attempts (
    attempt_id   TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  INTEGER NOT NULL,
    latency_ms   BIGINT NOT NULL,
    response     TEXT NOT NULL,
    error        TEXT NOT NULL
);
CREATE INDEX notify_attempts_delivery ON notify_attempts (delivery_id, attempt_id);

-- +goose Down
DROP TABLE notify_attempts;
DROP TABLE notify_deliveries;
DROP TABLE notify_endpoints;
