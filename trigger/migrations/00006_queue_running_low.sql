-- running_low: queue.running_empty was emitted since the queue last had
-- enough posts waiting, so it is told once per time it runs low.

-- +goose Up
ALTER TABLE trigger_queues ADD COLUMN running_low BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE trigger_queues DROP COLUMN running_low;
