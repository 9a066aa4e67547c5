-- +goose Up

-- One row per (post, target account, content revision, occurrence): the
-- publish attempt and everything needed to settle it. Tokens and content are
-- never stored here: Portal owns them and is asked again for every try.
CREATE TABLE publisher_attempts (
    attempt_id      TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    post_id         TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    account_id      TEXT NOT NULL,
    network         TEXT NOT NULL,
    -- idempotency_key is unique: a redelivered post.due, or a second
    -- Publisher node, finds the row and does not publish again.
    idempotency_key TEXT NOT NULL UNIQUE,
    -- state: in_flight, retry_wait, unknown, succeeded, failed, canceled.
    state           TEXT NOT NULL,
    tries           INTEGER NOT NULL DEFAULT 0,
    -- claim names the try currently holding an in_flight attempt; only that
    -- try may settle it.
    claim           TEXT NOT NULL DEFAULT '',
    -- next_try_at: when a waiting attempt is due, or when an in_flight claim
    -- expires (its holder is presumed dead); 0 once settled.
    next_try_at     BIGINT NOT NULL DEFAULT 0,
    remote_id       TEXT NOT NULL DEFAULT '',
    remote_url      TEXT NOT NULL DEFAULT '',
    -- error is safe to show to the user; error_kind is the last failure's
    -- provider kind (retry, rate_limited, unknown, bad_content, ...).
    error           TEXT NOT NULL DEFAULT '',
    error_kind      TEXT NOT NULL DEFAULT '',
    due_at          BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT NOT NULL DEFAULT 0,
    tried_at        BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX publisher_attempts_post ON publisher_attempts (tenant_id, post_id);

-- The retry loop's work list: only unsettled attempts are indexed.
CREATE INDEX publisher_attempts_due ON publisher_attempts (next_try_at)
    WHERE state IN ('in_flight', 'retry_wait', 'unknown');

-- The request budget each account has left, as its network last reported
-- it, shared by every Publisher node.
CREATE TABLE publisher_rate_limits (
    tenant_id   TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    network     TEXT NOT NULL,
    budget      INTEGER NOT NULL DEFAULT 0,
    remaining   INTEGER NOT NULL,
    reset_at    BIGINT NOT NULL,
    observed_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);

-- +goose Down
DROP TABLE publisher_rate_limits;
DROP TABLE publisher_attempts;
