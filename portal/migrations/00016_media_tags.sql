-- +goose Up
-- Tags on media files, for the media library's search: a comma-bounded
-- list (",logo,summer,") as the content library keeps them.
ALTER TABLE portal_media ADD COLUMN tags TEXT NOT NULL DEFAULT '';
CREATE INDEX portal_media_page ON portal_media (agency_id, workspace_id, created_at, id);

-- +goose Down
DROP INDEX portal_media_page;
ALTER TABLE portal_media DROP COLUMN tags;
