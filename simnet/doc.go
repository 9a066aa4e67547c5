// Package simnet is a simulated Mastodon server, kept in memory, for
// developing and testing Herald without a real social network: the
// Mastodon provider's tests, the end-to-end scenarios and the load
// generator all publish to it.
//
// It speaks the parts of Mastodon's REST API that Herald uses (statuses with
// Idempotency-Key, media uploads with asynchronous processing, credential
// verification, instance limits, the OAuth authorization-code flow) with
// Mastodon's status codes, error bodies and rate-limit headers, and it adds
// what a real server cannot give a test: accounts made on demand, a list of
// everything posted, a count of duplicates avoided, and injected faults
// (latency, errors, a connection dropped after the post was made, which
// leaves the client not knowing whether it was).
//
// It keeps everything in memory, is safe for concurrent use and is meant to
// take thousands of posts a second.
//
// Beside Mastodon (at the root, as an instance is), it simulates X under
// /x/ and LinkedIn under /linkedin/ (see X and LinkedIn), sharing the
// server's Faults, so one server serves every provider's tests: their
// posting and media APIs, their OAuth 2.0 authorization servers (PKCE,
// expiring access tokens, refresh tokens rotated or kept as each network
// does, a count of refreshes) and their rate-limit answers. Their
// accounts and posts are reached through Server.X and Server.LinkedIn and
// the control endpoints /_simnet/x/... and /_simnet/linkedin/... (accounts,
// clients, posts). It must never be exposed beyond the
// machine it runs on: its control endpoints under /_simnet/ are
// unauthenticated by design, and it stores no media bytes, only their size
// and type.
package simnet
