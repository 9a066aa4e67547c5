// Package simnet is a simulated Mastodon server, kept in memory, for
// developing and testing Herald without a real social network: the
// Mastodon provider's tests, the end-to-end scenarios and the load
// generator all publish to it.
//
// The same server also plays the other networks Herald publishes to, each
// in its own file and under its own path prefix, sharing the faults below:
// Telegram's Bot API (/telegram/bot<token>/<method>, telegram.go), Discord
// channel webhooks (/discord/api/webhooks/..., discord.go), Slack incoming
// webhooks (/slack/services/..., slack.go) and receivers of Herald's signed
// webhook (/webhook/<id>, webhook.go). Each has POST /_simnet/NAME/accounts
// to make an account and GET /_simnet/NAME/posts to list what was posted.
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
// Beside Mastodon it simulates a Bluesky PDS (bluesky.go) under the real
// XRPC paths: app-password sessions whose access tokens expire, one-use
// refresh tokens, blobs, app.bsky.feed.post records with the reference
// PDS's 500 for a record key already taken, handle resolution and write
// rate limits; POST /_simnet/bluesky/accounts and GET
// /_simnet/bluesky/posts are its control endpoints. The same Faults apply
// (limit them to one network with Path, e.g. "/xrpc/").
//
// It also simulates Meta's networks (meta.go, facebook.go,
// instagram.go, threads.go): Facebook Pages and Instagram content
// publishing under /graph/{version}/ as graph.facebook.com serves them,
// the Facebook Login dialog under /facebook/{version}/dialog/oauth, and
// Threads under /threads/ as graph.threads.net, with the Graph error
// object, usage headers, containers that download their image_url, and
// control endpoints under /_simnet/facebook/, /_simnet/instagram/ and
// /_simnet/threads/.
//
// Videos are simulated as each network processes them (see
// docs/decisions/0024): Mastodon (Options.VideoProcessing), X
// (X.SetVideoProcessing: FINALIZE answers pending), Meta's containers and
// page videos (MetaOptions.VideoProcessing) and LinkedIn's Videos API
// (LinkedIn.SetVideoProcessing) keep a video processing for a while and
// refuse a post that names it before it is ready; Telegram takes sendVideo.
// simnet reads only a video's first bytes, for its type, and counts the
// rest.
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
