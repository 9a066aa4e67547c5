-- Schedules and shard ownership of the Trigger service.
-- Instants are BIGINT Unix microseconds in UTC.

-- +goose Up
CREATE TABLE trigger_schedules (
    tenant_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    -- kind is 'once' today; recurring, evergreen and feed schedules come later
    -- and advance due_at when they fire instead of becoming 'fired'.
    kind        TEXT    NOT NULL DEFAULT 'once',
    post_id     TEXT    NOT NULL,
    -- revision of the post's content the schedule was made for.
    revision    BIGINT  NOT NULL,
    -- zone is the IANA zone the user picked the time in, for display only.
    zone        TEXT    NOT NULL,
    -- due_at is the next instant the schedule fires at.
    due_at      BIGINT  NOT NULL,
    -- shard is fixed at creation from the tenant and schedule id.
    shard       INTEGER NOT NULL,
    -- state: pending, fired, cancelled.
    state       TEXT    NOT NULL,
    -- version grows with every change; a fire must name the version it saw.
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    fired_at    BIGINT  NOT NULL DEFAULT 0,
    -- lateness_us is fired_at - due_at: large after downtime (catch-up).
    lateness_us BIGINT  NOT NULL DEFAULT 0,
    -- fire_token is the fencing token of the shard lock the fire happened under.
    fire_token  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);

-- The engine reads pending schedules shard by shard in due order; fired and
-- cancelled rows stay out of the index so it does not grow with history.
CREATE INDEX trigger_schedules_due ON trigger_schedules (shard, due_at, tenant_id, id) WHERE state = 'pending';

-- Changes made by other nodes are found by their update time.
CREATE INDEX trigger_schedules_changed ON trigger_schedules (updated_at) WHERE state = 'pending';

-- trigger_shards records which node claimed a shard under which fencing
-- token; a fire checks it in its transaction, so a node that lost the shard
-- to a newer holder cannot fire.
CREATE TABLE trigger_shards (
    shard      INTEGER PRIMARY KEY,
    owner      TEXT    NOT NULL,
    token      BIGINT  NOT NULL,
    claimed_at BIGINT  NOT NULL,
    fenced_at  BIGINT  NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE trigger_shards;
DROP TABLE trigger_schedules;
