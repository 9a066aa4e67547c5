-- How an agency's emails look (white label). No row: Herald's own look with
-- the agency's name. name empty: the agency's name; sender_name empty: name.

-- +goose Up
CREATE TABLE portal_branding (
    agency_id       TEXT PRIMARY KEY REFERENCES portal_agencies (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL DEFAULT '',
    logo_url        TEXT    NOT NULL DEFAULT '',
    primary_color   TEXT    NOT NULL DEFAULT '',
    sender_name     TEXT    NOT NULL DEFAULT '',
    hide_powered_by BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      BIGINT  NOT NULL
);

-- expiry_warned is the expires_at an account.credential_expiring was
-- emitted for: one warning per account per expiry, and a reconnect (a new
-- expires_at) arms the next.
ALTER TABLE portal_accounts ADD COLUMN expiry_warned BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE portal_accounts DROP COLUMN expiry_warned;
DROP TABLE portal_branding;
