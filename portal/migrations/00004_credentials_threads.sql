-- +goose Up

-- Renewable credentials. refresh_sealed and secret_sealed are sealed like
-- token_sealed (AES-GCM under the portal key, bound to the account's natural
-- key, each with its own label), NULL when the network gave none.
-- expires_at is when the access token stops working (0: never, or not
-- known); credentials_version grows with every change of the credentials,
-- so a refresh computed from old ones cannot overwrite newer ones.
ALTER TABLE portal_accounts ADD COLUMN refresh_sealed BYTEA;
ALTER TABLE portal_accounts ADD COLUMN secret_sealed BYTEA;
ALTER TABLE portal_accounts ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE portal_accounts ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 1;

-- A thread's parts after the post (a JSON array of texts, '' for none)
-- and a first comment ('' for none), published after the post by
-- Publisher on networks that take them.
ALTER TABLE portal_posts ADD COLUMN thread TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_posts ADD COLUMN first_comment TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE portal_posts DROP COLUMN first_comment;
ALTER TABLE portal_posts DROP COLUMN thread;
ALTER TABLE portal_accounts DROP COLUMN credentials_version;
ALTER TABLE portal_accounts DROP COLUMN expires_at;
ALTER TABLE portal_accounts DROP COLUMN secret_sealed;
ALTER TABLE portal_accounts DROP COLUMN refresh_sealed;
