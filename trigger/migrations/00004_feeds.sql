-- RSS/Atom feeds: Trigger polls each feed at its next_poll_at and emits a
-- feed.item event once per new item. A feed belongs to a shard like a
-- schedule, and only the shard's holder polls it.

-- +goose Up
CREATE TABLE trigger_feeds (
    tenant_id          TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    workspace_id       TEXT    NOT NULL,
    url                TEXT    NOT NULL,
    interval_us        BIGINT  NOT NULL,
    paused             BOOLEAN NOT NULL DEFAULT FALSE,
    -- backfill: how many of the newest items found by the first poll of
    -- the URL become events; primed is set once that poll committed.
    backfill           INTEGER NOT NULL DEFAULT 0,
    primed             BOOLEAN NOT NULL DEFAULT FALSE,
    -- shard is fixed at creation from the tenant and feed id.
    shard              INTEGER NOT NULL,
    -- The validators of the last full response, sent back as
    -- If-None-Match and If-Modified-Since.
    etag               TEXT    NOT NULL DEFAULT '',
    last_modified      TEXT    NOT NULL DEFAULT '',
    -- consecutive_errors > 0 means failing; last_error is safe for users.
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT    NOT NULL DEFAULT '',
    last_polled_at     BIGINT  NOT NULL DEFAULT 0,
    next_poll_at       BIGINT  NOT NULL,
    items_seen         BIGINT  NOT NULL DEFAULT 0,
    items_emitted      BIGINT  NOT NULL DEFAULT 0,
    -- version grows with every change, by a request or by a poll; a poll
    -- commits only over the version it started from, so a feed changed,
    -- paused or deleted meanwhile takes nothing from a poll in flight.
    version            BIGINT  NOT NULL,
    -- poll_token is the fencing token of the shard lock the last poll
    -- committed under.
    poll_token         BIGINT  NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- The poller reads the due feeds of its shards in due order.
CREATE INDEX trigger_feeds_due ON trigger_feeds (shard, next_poll_at) WHERE paused = FALSE;

CREATE INDEX trigger_feeds_workspace ON trigger_feeds (tenant_id, workspace_id, id);

-- trigger_feed_items holds the items a feed has shown, so none is acted on
-- twice. A poll inserts the new ones in the transaction that writes their
-- feed.item events and the feed's poll state. last_seen_at is the last poll
-- whose document held the item; rows absent for long are pruned, never one
-- still present.
CREATE TABLE trigger_feed_items (
    tenant_id     TEXT    NOT NULL,
    feed_id       TEXT    NOT NULL,
    item_key      TEXT    NOT NULL,
    -- emitted: the item became a feed.item event (else it was only marked
    -- seen: older than the first poll's backfill, or over a poll's cap).
    emitted       BOOLEAN NOT NULL,
    first_seen_at BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, feed_id, item_key)
);

CREATE INDEX trigger_feed_items_seen ON trigger_feed_items (tenant_id, feed_id, last_seen_at);

-- +goose Down
DROP TABLE trigger_feed_items;
DROP TABLE trigger_feeds;
