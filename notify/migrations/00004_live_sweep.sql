-- +goose Up
-- The live sweep reads the notifications of the last seconds, whoever
-- wrote them.
CREATE INDEX notify_notifications_created ON notify_notifications (created_at);

-- +goose Down
DROP INDEX notify_notifications_created;
