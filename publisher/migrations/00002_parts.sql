-- +goose Up

-- The parts of a thread (and its first comment) that an attempt has
-- published: recorded by the try holding the claim as soon
-- as the network took each, so the next try goes on from the first part
-- not listed. ref is the provider's own reference to the post (what a
-- reply to it needs).
CREATE TABLE publisher_attempt_parts (
    attempt_id   TEXT NOT NULL,
    part_index   INTEGER NOT NULL,
    remote_id    TEXT NOT NULL DEFAULT '',
    remote_url   TEXT NOT NULL DEFAULT '',
    ref          TEXT NOT NULL DEFAULT '',
    published_at BIGINT NOT NULL,
    PRIMARY KEY (attempt_id, part_index)
);

-- +goose Down
DROP TABLE publisher_attempt_parts;
