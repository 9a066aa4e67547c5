-- +goose Up
-- Who changed what, per workspace (workspace_id is '' for the agency's own
-- settings). actor_id is a user id or link:<review link id>.
CREATE TABLE portal_audit (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    via_token    BOOLEAN NOT NULL DEFAULT FALSE,
    action       TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
-- A workspace's log, newest first, paged by (created_at, id).
CREATE INDEX portal_audit_workspace ON portal_audit (agency_id, workspace_id, created_at, id);

-- +goose Down
DROP TABLE portal_audit;
