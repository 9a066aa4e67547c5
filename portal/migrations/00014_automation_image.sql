-- +goose Up
-- An automation may attach each feed item's image (its own image, an image
-- enclosure or media content) to the post it makes.
ALTER TABLE portal_automations ADD COLUMN attach_image BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE portal_automations DROP COLUMN attach_image;
