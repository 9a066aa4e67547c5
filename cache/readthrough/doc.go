// Package readthrough reads values through a cache.Cache: Get returns the
// cached value of a key, or runs the loader, stores what it returns and
// hands it back. Concurrent misses of one key run the loader once.
//
// A Kind is one sort of cached value (a workspace's post list, say) with a
// name that labels its hit and miss counts, so metrics report a hit ratio
// per kind rather than one number for the whole port.
//
// Generations make "everything of scope S is stale" one Delete: a kind's
// keys include the scope's current generation, a random token kept in the
// cache, and a write deletes the token once its transaction has committed.
// Entries under the old token are never read again and age out by their
// time to live. The token is random rather than a counter, so a token that
// was evicted and made anew can never bring back an old entry.
//
// # What it must never do
//
// It must never make a cache failure a read failure: a cache that errors
// or has forgotten everything makes reads slower, never wrong or failing.
// A nil Cache (no cache configured) loads every time.
//
// It must never be used for data whose staleness is dangerous (credentials,
// whether a post may still be published): invalidation can be lost, and
// then an entry is served until its time to live passes.
package readthrough
