// Package x publishes to X (formerly Twitter) for Herald through the X API
// v2: it implements provider.Provider, provider.Refresher,
// provider.Deleter and provider.RateLimitReporter, counts text the way X
// does (package xtext), and carries out the OAuth 2.0 Authorization Code
// flow with PKCE that connects an account.
//
// No maintained Go client covers X API v2's current endpoints, so this is
// a small REST client on net/http, with golang.org/x/oauth2 for the token
// endpoint. Publishing uploads each image through the v2 media upload
// (POST /2/media/upload/initialize, /{id}/append in chunks, /{id}/finalize,
// polling GET /2/media/upload?command=STATUS while X processes it), gives
// it its alt text (POST /2/media/metadata), then creates the post (POST
// /2/tweets) with media.media_ids and, for a thread's next part or a first
// comment, reply.in_reply_to_tweet_id.
//
// Access tokens last two hours; NeedsRefresh asks for a refresh five
// minutes before Account.ExpiresAt, and Refresh uses the refresh_token
// grant. X rotates refresh tokens: the old one stops working once used,
// so the new one Refresh returns must be stored at once. A refresh whose
// answer is lost is Retry, but X may have rotated the token meanwhile; the
// next try is then refused and the account must be reconnected.
//
// X has no idempotency key, and a post carries nothing invisible that a
// key could be stored in, so the package does not implement
// provider.Looker. A post request that went out without an answer is
// Unknown; Herald never repeats it blindly. FindByText is a best-effort
// way to settle it: it searches the account's recent posts (GET
// /2/users/:id/tweets) for the exact text, links aside since X rewrites
// them to t.co. A repeat that X refuses as duplicate content also shows
// the first try went through, which is why that refusal is BadContent
// with a message that says so.
//
// The package must never retry a post request itself, never follow
// redirects, and never put tokens or the client secret in errors.
package x
