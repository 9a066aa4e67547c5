// Package bluesky publishes to Bluesky, and to any AT Protocol PDS, for
// Herald: it implements provider.Provider, provider.Looker,
// provider.Deleter, provider.Refresher and provider.RateLimitReporter, and
// Connect, the app-password sign-in the Portal uses to connect an account.
//
// It speaks the documented XRPC API of the account's PDS:
// com.atproto.server.createSession and refreshSession for the session,
// com.atproto.repo.uploadBlob for images, createRecord, getRecord and
// deleteRecord for app.bsky.feed.post records, and
// com.atproto.identity.resolveHandle for @mentions. The client is written
// here with net/http rather than taken from a library: the maintained Go
// implementation of the protocol (bluesky-social/indigo) is a whole
// relay, repository and lexicon code generator, far more than these seven
// calls, and is not among the modules Herald's builds can fetch.
//
// A post's record key is a TID derived from the publish attempt's
// idempotency key (see RecordKey), so every try of one attempt writes the
// same record: a repeat finds the record there (a PDS answers a duplicate
// record key with a 500, or a 409 on some implementations) and settles as
// the same post, and Lookup finds it without one.
//
// The package must never retry a createRecord itself (that is the
// Publisher's decision), never follow redirects, and never put a password,
// access or refresh token into an error or a log line.
package bluesky
