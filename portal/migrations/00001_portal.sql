-- Portal's tables. Every row of a tenant carries agency_id and every query
-- filters on it. Instants are BIGINT Unix microseconds (UTC).

-- +goose Up
CREATE TABLE portal_agencies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row at most: the first-run setup. Its primary key makes a second,
-- concurrent setup fail even where two transactions both saw no agency.
CREATE TABLE portal_setup (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    agency_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A user belongs to one agency; the email signs in, so it is unique.
CREATE TABLE portal_users (
    id            TEXT PRIMARY KEY,
    agency_id     TEXT NOT NULL REFERENCES portal_agencies (id) ON DELETE CASCADE,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    owner         BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX portal_users_agency ON portal_users (agency_id);

-- id_hash is the SHA-256 of the cookie value; the value itself is never stored.
CREATE TABLE portal_sessions (
    id_hash    TEXT PRIMARY KEY,
    agency_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);

CREATE TABLE portal_api_tokens (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX portal_api_tokens_user ON portal_api_tokens (agency_id, user_id);

CREATE TABLE portal_workspaces (
    id         TEXT PRIMARY KEY,
    agency_id  TEXT NOT NULL REFERENCES portal_agencies (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX portal_workspaces_agency ON portal_workspaces (agency_id, id);

-- Workspace roles of non-owners: manager, client_approver.
CREATE TABLE portal_memberships (
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX portal_memberships_user ON portal_memberships (user_id);

CREATE TABLE portal_invites (
    token_hash   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT NOT NULL DEFAULT 0
);

-- token_sealed is the access token encrypted with AES-256-GCM, bound to
-- the row's natural key.
CREATE TABLE portal_accounts (
    id            TEXT PRIMARY KEY,
    agency_id     TEXT NOT NULL,
    workspace_id  TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    network       TEXT NOT NULL,
    instance_url  TEXT NOT NULL,
    remote_id     TEXT NOT NULL,
    handle        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    profile_url   TEXT NOT NULL,
    token_sealed  BYTEA NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, network, instance_url, remote_id)
);
CREATE INDEX portal_accounts_agency ON portal_accounts (agency_id, workspace_id);

-- OAuth client registrations, one per network instance and redirect URI,
-- shared by all agencies (the instance sees one Herald application).
CREATE TABLE portal_oauth_apps (
    network              TEXT NOT NULL,
    instance_url         TEXT NOT NULL,
    redirect_uri         TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_secret_sealed BYTEA NOT NULL,
    scopes               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    PRIMARY KEY (network, instance_url, redirect_uri)
);

-- A started OAuth connection, bound to the session that started it.
CREATE TABLE portal_oauth_states (
    state_hash   TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    session_hash TEXT NOT NULL,
    network      TEXT NOT NULL,
    instance_url TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE portal_media (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    blob_key     TEXT NOT NULL,
    mime_type    TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    file_name    TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX portal_media_workspace ON portal_media (agency_id, workspace_id, id);

-- status: scheduled, publishing, published, failed, partially_failed.
-- schedule_synced is false while Trigger has not confirmed the current
-- revision's schedule; the resync loop re-sends those.
CREATE TABLE portal_posts (
    id              TEXT PRIMARY KEY,
    agency_id       TEXT NOT NULL,
    workspace_id    TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    scheduled_at    BIGINT NOT NULL,
    local_time      TEXT NOT NULL,
    zone            TEXT NOT NULL,
    schedule_synced BOOLEAN NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX portal_posts_workspace ON portal_posts (agency_id, workspace_id, scheduled_at);
CREATE INDEX portal_posts_unsynced ON portal_posts (schedule_synced, updated_at);

-- One row per target account. account_id is not a foreign key: the
-- outcome stays in the post's history after the account is removed.
CREATE TABLE portal_post_targets (
    post_id    TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    agency_id  TEXT NOT NULL,
    network    TEXT NOT NULL,
    status     TEXT NOT NULL,
    remote_id  TEXT NOT NULL DEFAULT '',
    remote_url TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, account_id)
);
CREATE INDEX portal_post_targets_account ON portal_post_targets (account_id);

CREATE TABLE portal_post_media (
    post_id  TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    media_id TEXT NOT NULL REFERENCES portal_media (id),
    PRIMARY KEY (post_id, position)
);
CREATE INDEX portal_post_media_media ON portal_post_media (media_id);

-- +goose Down
DROP TABLE portal_post_media;
DROP TABLE portal_post_targets;
DROP TABLE portal_posts;
DROP TABLE portal_media;
DROP TABLE portal_oauth_states;
DROP TABLE portal_oauth_apps;
DROP TABLE portal_accounts;
DROP TABLE portal_invites;
DROP TABLE portal_memberships;
DROP TABLE portal_workspaces;
DROP TABLE portal_api_tokens;
DROP TABLE portal_sessions;
DROP TABLE portal_users;
DROP TABLE portal_setup;
DROP TABLE portal_agencies;
