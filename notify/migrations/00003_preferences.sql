-- +goose Up
-- A user's choice of channel for one kind of event: in_app, email, both or
-- none. A kind without a row takes its default (notify/prefs.go).
CREATE TABLE notify_preferences (
    tenant_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, kind)
);

-- A user's daily digest: while enabled, their emails are held and go out
-- as one, at hour (0-23) in zone.
CREATE TABLE notify_digests (
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL,
    hour       INTEGER NOT NULL,
    zone       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- What an email needs beyond its rendered bodies: whose it is and of which
-- kind (category), for unsubscribing and digests; the agency's sender name
-- and look (brand, JSON); the one-click unsubscribe link for its headers;
-- and the notice itself, which a digest renders again among others.
ALTER TABLE notify_emails ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN from_name TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN unsubscribe_url TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN brand TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN body TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_emails ADD COLUMN link TEXT NOT NULL DEFAULT '';
-- The emails held for digests, by user.
CREATE INDEX notify_emails_held ON notify_emails (status, tenant_id, user_id, created_at);

-- +goose Down
DROP INDEX notify_emails_held;
ALTER TABLE notify_emails DROP COLUMN link;
ALTER TABLE notify_emails DROP COLUMN body;
ALTER TABLE notify_emails DROP COLUMN title;
ALTER TABLE notify_emails DROP COLUMN brand;
ALTER TABLE notify_emails DROP COLUMN unsubscribe_url;
ALTER TABLE notify_emails DROP COLUMN from_name;
ALTER TABLE notify_emails DROP COLUMN category;
ALTER TABLE notify_emails DROP COLUMN user_id;
DROP TABLE notify_digests;
DROP TABLE notify_preferences;
