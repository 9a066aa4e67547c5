-- +goose Up
-- One row per recipient of an event. read_at is 0 while unread.
CREATE TABLE notify_notifications (
    notification_id TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    link            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    read_at         BIGINT NOT NULL DEFAULT 0
);
-- A second guard, besides the inbox, against telling a user twice about one event.
CREATE UNIQUE INDEX notify_notifications_event_user ON notify_notifications (event_id, user_id);
-- The inbox of one user, newest first, and its unread count.
CREATE INDEX notify_notifications_inbox ON notify_notifications (tenant_id, user_id, created_at);
CREATE INDEX notify_notifications_unread ON notify_notifications (tenant_id, user_id, read_at);

-- The email queue. An email is rendered when it is queued, so what is sent is
-- what was true when the event happened. status: pending, sent, failed (a
-- dead letter, kept with its last error).
CREATE TABLE notify_emails (
    email_id        TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    to_name         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_at     BIGINT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notify_emails_due ON notify_emails (status, next_try_at);

-- +goose Down
DROP TABLE notify_emails;
DROP TABLE notify_notifications;
