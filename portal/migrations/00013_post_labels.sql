-- +goose Up
-- A post's labels ("launch", "promo"), free words its workspace files it
-- under; the calendar filters by them. Stored lower-cased, one row each.
CREATE TABLE portal_post_labels (
    post_id   TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    agency_id TEXT NOT NULL,
    label     TEXT NOT NULL,
    PRIMARY KEY (post_id, label)
);
CREATE INDEX portal_post_labels_label ON portal_post_labels (agency_id, label);

-- +goose Down
DROP TABLE portal_post_labels;
