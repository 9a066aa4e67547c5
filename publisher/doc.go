// Package publisher is Herald's Publisher service: it turns a post.due event
// into posts on the social networks, once per target account, and reports
// each outcome as post.published, post.failed or account.needs_reconnect.
//
// Its one promise is that a post is neither lost nor doubled. Every target
// of a due post gets a publish attempt whose idempotency key is derived from
// (post, account, content revision, due instant), so any redelivery of the
// event, or a second Publisher node, finds the same row instead of making a
// new one. The attempt is committed as in flight before the network call and
// its outcome, with its event (through the outbox), in one transaction after
// it. An answer that never came (timeout, reset, crash) leaves the attempt
// unknown, and it is settled by trying again with the same key, which the
// network deduplicates — never by a try under a fresh key. Where the
// provider can look a post up by that key (provider.Looker), the next try
// looks first: found, the attempt succeeds with the post it found; not
// found, it publishes with the same key; a failed lookup leaves it unknown
// for a later try. An account whose token expires (provider.Refresher) is
// renewed once for all the tries that need it, across nodes (see
// refresh.go), and the renewal is stored in Portal. Typed provider
// errors decide what follows: bad content and disconnected accounts fail at
// once, temporary failures wait with backoff and jitter up to a number of
// tries, and a rate-limited account waits for its reset, tracked per account
// in the publisher_rate_limits table so that every node honours it.
//
// A retry loop started by Service.Start settles the waiting attempts and
// those left in flight by a node that died. It asks Portal again for the
// content and credentials of every try, since Portal owns them: access
// tokens and post content are never stored in Publisher's tables.
//
// The package must never hold a store transaction across a network call,
// never publish under a new idempotency key what may already be published,
// never read or write another service's tables (Portal is reached through
// its client interface only), and never answer a query without scoping it
// to the caller's tenant.
package publisher
