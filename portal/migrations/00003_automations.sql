-- RSS/Atom automations: a workspace's feed (polled by Trigger, whose feed
-- id is the automation's id), a template turning an item into a post's
-- text, the accounts it posts to, and what to do with each new item.

-- +goose Up
-- action: draft (for approval) or queue (added to queue_id).
CREATE TABLE portal_automations (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    feed_url     TEXT NOT NULL,
    interval_s   BIGINT NOT NULL,
    template     TEXT NOT NULL,
    action       TEXT NOT NULL,
    queue_id     TEXT NOT NULL DEFAULT '',
    evergreen    BOOLEAN NOT NULL DEFAULT FALSE,
    paused       BOOLEAN NOT NULL DEFAULT FALSE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX portal_automations_workspace ON portal_automations (agency_id, workspace_id);

CREATE TABLE portal_automation_accounts (
    automation_id TEXT NOT NULL REFERENCES portal_automations (id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL,
    PRIMARY KEY (automation_id, account_id)
);

-- One row per feed item an automation acted on, written in the same
-- transaction as the post it made: the primary key is what keeps an item
-- from being acted on twice. outcome: draft, queued or failed (error says
-- why; no post).
CREATE TABLE portal_automation_items (
    automation_id TEXT NOT NULL REFERENCES portal_automations (id) ON DELETE CASCADE,
    item_key      TEXT NOT NULL,
    agency_id     TEXT NOT NULL,
    title         TEXT NOT NULL,
    link          TEXT NOT NULL,
    post_id       TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (automation_id, item_key)
);
CREATE INDEX portal_automation_items_recent ON portal_automation_items (automation_id, created_at);

-- +goose Down
DROP TABLE portal_automation_items;
DROP TABLE portal_automation_accounts;
DROP TABLE portal_automations;
