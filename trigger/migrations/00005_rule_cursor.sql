-- The cursor of a recurring schedule: where it stands in its rule, so a
-- fire computes the next occurrence from the last one instead of expanding
-- the rule from its start. cursor_local is the wall time of the pending
-- occurrence (due_at), cursor_index its place in the rule's own sequence
-- (as COUNT counts). The cursor holds only while cursor_version equals
-- version: any other change of the row (a new rule, a new start) makes
-- the engine expand the rule from its start once and write a new cursor.

-- +goose Up
ALTER TABLE trigger_schedules ADD COLUMN cursor_local TEXT NOT NULL DEFAULT '';
ALTER TABLE trigger_schedules ADD COLUMN cursor_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trigger_schedules ADD COLUMN cursor_version BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE trigger_schedules DROP COLUMN cursor_version;
ALTER TABLE trigger_schedules DROP COLUMN cursor_index;
ALTER TABLE trigger_schedules DROP COLUMN cursor_local;
