-- +goose Up
-- A workspace's content library: snippets and hashtag sets to insert into
-- a post's text, and templates a new post starts from. Tags and a
-- template's media are kept as comma-bounded lists (",a,b,") so a tag
-- matches with one LIKE in both engines; a few per item, never joined.
CREATE TABLE portal_library_items (
    id           TEXT PRIMARY KEY,
    agency_id    TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES portal_workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    body         TEXT NOT NULL,
    media_ids    TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX portal_library_items_page ON portal_library_items (agency_id, workspace_id, created_at, id);

-- +goose Down
DROP TABLE portal_library_items;
