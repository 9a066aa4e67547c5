-- Posts that are not one-shot: recurring (an RRULE in a zone), queued (in
-- a Trigger evergreen queue) and drafts (no schedule yet, status draft).
-- Each firing of a recurring or queued post is published on its own; its
-- outcome per target account is a row of portal_post_firings.

-- +goose Up
-- kind: once, recurring, queue; '' for a draft.
ALTER TABLE portal_posts ADD COLUMN kind TEXT NOT NULL DEFAULT 'once';
-- The recurrence as the user gave it (zone is the posts' zone column).
-- exdates: the exceptions' wall times, one per line.
ALTER TABLE portal_posts ADD COLUMN rrule TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_posts ADD COLUMN start_local TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_posts ADD COLUMN exdates TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_posts ADD COLUMN skip_late_s BIGINT NOT NULL DEFAULT 0;
-- A queued post: its queue, whether the queue recycles it, whether the
-- queue holds it, and the version of the last schedule.moved applied.
ALTER TABLE portal_posts ADD COLUMN queue_id TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_posts ADD COLUMN evergreen BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE portal_posts ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE portal_posts ADD COLUMN moved_version BIGINT NOT NULL DEFAULT 0;
-- finished: Trigger said the last firing was the last one (post.due with
-- no next_due_at); last_due_at is the latest firing's due instant.
ALTER TABLE portal_posts ADD COLUMN finished BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE portal_posts ADD COLUMN last_due_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE portal_posts ADD COLUMN fired_count BIGINT NOT NULL DEFAULT 0;
CREATE INDEX portal_posts_queue ON portal_posts (agency_id, queue_id);

-- One row per firing of a recurring or queued post and target account.
CREATE TABLE portal_post_firings (
    post_id    TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    due_at     BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    agency_id  TEXT NOT NULL,
    network    TEXT NOT NULL,
    status     TEXT NOT NULL,
    remote_id  TEXT NOT NULL DEFAULT '',
    remote_url TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, due_at, account_id)
);

-- +goose Down
DROP TABLE portal_post_firings;
DROP INDEX portal_posts_queue;
ALTER TABLE portal_posts DROP COLUMN fired_count;
ALTER TABLE portal_posts DROP COLUMN last_due_at;
ALTER TABLE portal_posts DROP COLUMN finished;
ALTER TABLE portal_posts DROP COLUMN moved_version;
ALTER TABLE portal_posts DROP COLUMN held;
ALTER TABLE portal_posts DROP COLUMN evergreen;
ALTER TABLE portal_posts DROP COLUMN queue_id;
ALTER TABLE portal_posts DROP COLUMN skip_late_s;
ALTER TABLE portal_posts DROP COLUMN exdates;
ALTER TABLE portal_posts DROP COLUMN start_local;
ALTER TABLE portal_posts DROP COLUMN rrule;
ALTER TABLE portal_posts DROP COLUMN kind;
