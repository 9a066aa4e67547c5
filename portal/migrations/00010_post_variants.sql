-- +goose Up

-- A post's content for one network where it differs from the post's own.
-- Each part is kept or replaced on its own: has_thread and
-- has_first_comment say whether thread and first_comment replace the
-- post's (an empty one then removes it), has_media whether the variant's
-- media (portal_post_variant_media) replace the post's; text '' keeps the
-- post's text.
CREATE TABLE portal_post_variants (
    post_id           TEXT NOT NULL REFERENCES portal_posts (id) ON DELETE CASCADE,
    network           TEXT NOT NULL,
    text              TEXT NOT NULL DEFAULT '',
    has_thread        BOOLEAN NOT NULL DEFAULT FALSE,
    thread            TEXT NOT NULL DEFAULT '',
    has_first_comment BOOLEAN NOT NULL DEFAULT FALSE,
    first_comment     TEXT NOT NULL DEFAULT '',
    has_media         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (post_id, network)
);

-- A variant's media in order, each with the alt text it is published with
-- on that network ('' for the library file's own description). The
-- reference keeps a file in use from being deleted, as for a post's media.
CREATE TABLE portal_post_variant_media (
    post_id  TEXT NOT NULL,
    network  TEXT NOT NULL,
    position INTEGER NOT NULL,
    media_id TEXT NOT NULL REFERENCES portal_media (id),
    alt_text TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (post_id, network, position),
    FOREIGN KEY (post_id, network) REFERENCES portal_post_variants (post_id, network) ON DELETE CASCADE
);
CREATE INDEX portal_post_variant_media_media ON portal_post_variant_media (media_id);

-- UTM tagging of the post's links at publish time: a JSON object
-- {"source", "medium", "campaign"}, '' for none. An empty source is the
-- network's name.
ALTER TABLE portal_posts ADD COLUMN utm TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE portal_posts DROP COLUMN utm;
DROP TABLE portal_post_variant_media;
DROP TABLE portal_post_variants;
