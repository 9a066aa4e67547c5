-- +goose Up

-- A flow with an app of Herald's own (X, LinkedIn, Meta, Threads) keeps
-- its PKCE verifier with the state until the callback, sealed like a token
-- (bound to the state's hash); NULL for a flow without one.
ALTER TABLE portal_oauth_states ADD COLUMN verifier_sealed BYTEA;

-- A Facebook or Instagram grant waiting for the user to pick the pages or
-- accounts to connect. pick_hash is the SHA-256 of the single-use pick
-- token handed to the browser; choices_sealed holds the choices with their
-- tokens (JSON, sealed, bound to pick_hash). Bound to the session that
-- finished the flow; short-lived.
CREATE TABLE portal_oauth_picks (
    pick_hash      TEXT PRIMARY KEY,
    agency_id      TEXT NOT NULL,
    workspace_id   TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    session_hash   TEXT NOT NULL,
    network        TEXT NOT NULL,
    choices_sealed BYTEA NOT NULL,
    expires_at     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE portal_oauth_picks;
ALTER TABLE portal_oauth_states DROP COLUMN verifier_sealed;
