// Package mastodon publishes to Mastodon (and servers compatible with its
// REST API) for Herald: it implements provider.Provider, counts characters
// as Mastodon does, reports the rate-limit headers each instance sends, and
// carries out the OAuth steps that connect an account (register Herald as
// an app on the instance, send the user to authorize it, exchange the
// code).
//
// Publishing follows Mastodon's documented API: media go up through
// POST /api/v2/media (waiting while the instance processes them), then the
// status through POST /api/v1/statuses with the publish attempt's
// Idempotency-Key, so a repeated attempt never posts twice. Failures come
// back as *provider.Error with a Kind that says what to do next; only a
// status request that may have reached the instance is Unknown.
//
// The package must never retry a status request itself (that is the
// Publisher's decision, made with the same key), never follow redirects on
// API calls (a redirected POST would be replayed as a GET elsewhere), and
// never log or return access tokens or client secrets in errors.
package mastodon
