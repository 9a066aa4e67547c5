-- +goose Up
-- What an API token may do: "read" (GET requests), "write" (the rest).
ALTER TABLE portal_api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write';

-- The outcome of a request sent with an Idempotency-Key, kept for a day so
-- that a client's retry gets the first answer instead of a second effect.
-- status is 0 while the first request runs.
CREATE TABLE portal_idempotency (
    principal    TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    agency_id    TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    request_hash TEXT NOT NULL DEFAULT '',
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL DEFAULT '',
    body         BYTEA,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX portal_idempotency_created ON portal_idempotency (created_at);

-- +goose Down
DROP TABLE portal_idempotency;
ALTER TABLE portal_api_tokens DROP COLUMN scopes;
