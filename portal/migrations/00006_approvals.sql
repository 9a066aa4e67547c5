-- +goose Up

-- How a workspace's posts are approved before they are scheduled: 'none',
-- 'internal' (an owner or manager), 'client' (a client approver or a
-- holder of a review link) or 'internal_client' (both, in that order).
ALTER TABLE portal_workspaces ADD COLUMN approval_policy TEXT NOT NULL DEFAULT 'none';

-- One stage of approval of one revision of a post. stages is the list of
-- stages fixed when the post was submitted (comma-separated), so a policy
-- change applies to the next submission, not to one under way. status is
-- 'pending', 'approved', 'rejected' or 'superseded' (the post was edited
-- or withdrawn before a decision). publish_now: the author asked to publish
-- at once, so approval publishes at the time of approval.
CREATE TABLE portal_approvals (
    id              TEXT PRIMARY KEY,
    agency_id       TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    post_id         TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    revision        BIGINT NOT NULL,
    stage           TEXT NOT NULL,
    stages          TEXT NOT NULL,
    status          TEXT NOT NULL,
    publish_now     BOOLEAN NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at    BIGINT NOT NULL,
    decided_by      TEXT NOT NULL DEFAULT '',
    decided_by_name TEXT NOT NULL DEFAULT '',
    decided_at      BIGINT NOT NULL DEFAULT 0,
    comment         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX portal_approvals_post ON portal_approvals (agency_id, post_id, requested_at);
CREATE INDEX portal_approvals_pending ON portal_approvals (agency_id, workspace_id, status, stage);

-- What happened in a post's review, in order: submitted, approved,
-- rejected, withdrawn, commented. actor_id is a user id, or 'link:<id>'
-- for someone signed in by a review link; actor_name is what they were
-- called at the time.
CREATE TABLE portal_approval_history (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    post_id      TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    approval_id  TEXT NOT NULL,
    revision     BIGINT NOT NULL,
    stage        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    body         TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX portal_approval_history_post ON portal_approval_history (agency_id, post_id, at);

-- A link that signs its holder into the client review of one workspace.
-- token_hash is the SHA-256 of the token in the link; revoked_at is 0
-- while the link works.
CREATE TABLE portal_review_links (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX portal_review_links_workspace ON portal_review_links (agency_id, workspace_id);

-- A browser signed in by a review link, with the name its holder typed.
-- It ends with its link (revoked or expired) at the latest.
CREATE TABLE portal_review_sessions (
    id_hash    TEXT PRIMARY KEY,
    link_id    TEXT NOT NULL REFERENCES portal_review_links (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_review_sessions_expiry ON portal_review_sessions (expires_at);

-- +goose Down
DROP TABLE portal_review_sessions;
DROP TABLE portal_review_links;
DROP TABLE portal_approval_history;
DROP TABLE portal_approvals;
ALTER TABLE portal_workspaces DROP COLUMN approval_policy;
