// Package redis is the cache adapter for a Redis server, through
// github.com/redis/go-redis/v9. It registers the URL schemes "redis" and
// "rediss" (TLS):
//
//	redis://127.0.0.1:6379/0
//	redis://:password@cache.internal:6379/2?ttl=10m
//	rediss://herald:password@cache.example.com:6380/0?timeout=500ms
//
// The user and password, if any, are sent with AUTH (a password alone
// authenticates the default user); put them in the URL percent-encoded.
// They never appear in messages: the URL is shown redacted. The path is the
// database number (default 0). With "rediss" the server's certificate is
// verified against the system roots and the host name. Options:
//
//	ttl        time to live of entries set with a ttl of 0 (default 5m;
//	           "0" keeps them until Redis evicts them)
//	timeout    bound on connecting and on each read or write (default 1s;
//	           at least 1ms)
//	pool_size  most connections open at once (default 10 per CPU)
//
// One server (or a proxy in front of several) is supported; Redis Cluster
// and Sentinel are not. Open checks that the server answers and accepts the
// credentials (within 5 s), and otherwise fails with one line naming the
// cache, its URL and the cause: errs.Unauthenticated when the server refused
// the credentials, errs.Unavailable when it could not be reached.
//
// # Semantics
//
// Everything the cache port promises (cache/cachetest) holds. Times to live
// are kept to the millisecond (rounded up), and Set replaces an entry's time
// to live with its value. go-redis checks a pooled connection before reusing
// it and retries a command that failed on a broken one, so after a server
// restart the same cache works again without being reopened; while the
// server is down, calls fail with errs.Unavailable and Ping fails. Redis
// should run with an eviction policy (maxmemory-policy allkeys-lru or
// volatile-lru) so a full server evicts entries rather than refuse writes.
//
// It must never be the only copy of anything, even with Redis persistence
// on: the cache is rebuilt from each entry's owner. Nor may it share a
// database with data that is not cache: every key in it may be evicted.
package redis
