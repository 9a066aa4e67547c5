-- Recurring schedules (kind 'rrule'): one row per schedule whose due_at is
-- its next occurrence; a fire advances it in the same transaction.

-- +goose Up
-- rrule is the RFC 5545 RRULE body, evaluated on wall times in zone from
-- start_local (a local date-time); exdates holds skipped local date-times,
-- comma-separated.
ALTER TABLE trigger_schedules ADD COLUMN rrule TEXT NOT NULL DEFAULT '';
ALTER TABLE trigger_schedules ADD COLUMN start_local TEXT NOT NULL DEFAULT '';
ALTER TABLE trigger_schedules ADD COLUMN exdates TEXT NOT NULL DEFAULT '';
-- skip_late_us: an occurrence more late than this when it fires is skipped;
-- 0 fires late however late.
ALTER TABLE trigger_schedules ADD COLUMN skip_late_us BIGINT NOT NULL DEFAULT 0;
-- fired_count and skipped_count count occurrences; last_due_at is the due
-- instant of the last occurrence fired or skipped, so a replaced rule never
-- fires an occurrence again.
ALTER TABLE trigger_schedules ADD COLUMN fired_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trigger_schedules ADD COLUMN skipped_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trigger_schedules ADD COLUMN last_due_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE trigger_schedules DROP COLUMN last_due_at;
ALTER TABLE trigger_schedules DROP COLUMN skipped_count;
ALTER TABLE trigger_schedules DROP COLUMN fired_count;
ALTER TABLE trigger_schedules DROP COLUMN skip_late_us;
ALTER TABLE trigger_schedules DROP COLUMN exdates;
ALTER TABLE trigger_schedules DROP COLUMN start_local;
ALTER TABLE trigger_schedules DROP COLUMN rrule;
