-- Evergreen queues: a queue is a weekly table of posting slots in a zone;
-- a queued post is a trigger_schedules row of kind 'queue' whose due_at is
-- its slot. State 'held' joins pending, fired and cancelled: a queued post
-- whose queue (or one of its accounts) is paused keeps its place and does
-- not fire.

-- +goose Up
ALTER TABLE trigger_schedules ADD COLUMN queue_id TEXT NOT NULL DEFAULT '';
-- evergreen: the queue recycles the post after it fires; fired_count
-- counts its posts, so the repeats left are known.
ALTER TABLE trigger_schedules ADD COLUMN evergreen BOOLEAN NOT NULL DEFAULT FALSE;

-- One post per slot: the locks on the queue row decide which post takes a
-- slot, and this index refuses a second one should they ever fail to. It
-- also serves the look-ups of a queue's taken slots in slot order.
CREATE UNIQUE INDEX trigger_schedules_queue_slot ON trigger_schedules (tenant_id, queue_id, due_at)
    WHERE kind = 'queue' AND state IN ('pending', 'held');

CREATE TABLE trigger_queues (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    workspace_id   TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    -- zone is the IANA zone the slots' wall times are in.
    zone           TEXT    NOT NULL,
    -- slots is the weekly table, "D HH:MM" (ISO weekday, wall time) in
    -- order, comma-separated.
    slots          TEXT    NOT NULL,
    -- recycle_max is how many times an evergreen post goes out again after
    -- its first time; 0: the queue does not recycle.
    recycle_gap_us BIGINT  NOT NULL DEFAULT 0,
    recycle_max    INTEGER NOT NULL DEFAULT 0,
    paused         BOOLEAN NOT NULL DEFAULT FALSE,
    -- held: the queue's posts are held (paused, or one of its accounts is).
    -- It is what the rows' states reflect, so a change of it is a hold or
    -- a release.
    held           BOOLEAN NOT NULL DEFAULT FALSE,
    -- version grows with every transaction that locks the queue (enqueues,
    -- recycling fires, pauses, changes): updating it is how they take the
    -- row lock in both dialects.
    version        BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX trigger_queues_workspace ON trigger_queues (tenant_id, workspace_id, id);

-- The accounts a queue posts to, keyed by account so PauseAccount finds
-- the queues of an account.
CREATE TABLE trigger_queue_accounts (
    tenant_id  TEXT NOT NULL,
    account_id TEXT NOT NULL,
    queue_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, queue_id)
);

CREATE INDEX trigger_queue_accounts_queue ON trigger_queue_accounts (tenant_id, queue_id, account_id);

-- trigger_accounts holds a row per account a queue names or PauseAccount
-- was asked about, with its paused flag. The row is also the lock that
-- orders PauseAccount against PutQueue adding the account to a queue, so
-- neither misses the other.
CREATE TABLE trigger_accounts (
    tenant_id  TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    paused     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);

-- +goose Down
DROP TABLE trigger_accounts;
DROP TABLE trigger_queue_accounts;
DROP TABLE trigger_queues;
DROP INDEX trigger_schedules_queue_slot;
ALTER TABLE trigger_schedules DROP COLUMN evergreen;
ALTER TABLE trigger_schedules DROP COLUMN queue_id;
