// Package memcached is the cache adapter for memcached servers, through
// github.com/bradfitz/gomemcache. It registers the URL scheme "memcached":
//
//	memcached://127.0.0.1:11211
//	memcached://cache1:11211,cache2:11211,cache3?ttl=10m&timeout=500ms
//
// The host is a comma-separated list of servers, host or host:port (port
// 11211 when left out); keys are spread over them by a hash of the key, so
// every node must list the same servers in the same order. Names are
// resolved once, at Open. An IPv6 address can only be given as the only
// server ("memcached://[::1]:11211"). Options:
//
//	ttl             time to live of entries set with a ttl of 0 (default 5m;
//	                "0" keeps them until memcached evicts them)
//	timeout         bound on connecting and on each read or write
//	                (default 1s; at least 1ms)
//	max_idle_conns  idle connections kept per server (default 64)
//
// memcached has no authentication in its text protocol: a URL with a user or
// password is refused rather than ignored. Open checks that every server
// answers (within 5 s) and otherwise fails with one line naming the cache,
// its URL and the cause.
//
// # Semantics
//
// Everything the cache port promises (cache/cachetest) holds, with these
// server-given limits:
//
//   - Time to live: memcached counts whole seconds on a clock that ticks
//     once a second, so an entry lives at least its ttl and less than two
//     seconds more (ttls above 30 days are sent as absolute times).
//   - A value above memcached's item size limit (-I, 1 MiB by default) is
//     not stored, and the key's older value is removed: Set returns nil and
//     the next Get misses, as for the embedded cache's oversized values.
//   - gomemcache takes no context: a call is bounded by the timeout option,
//     not by its context's deadline (which is checked before each call).
//   - After a server restarts, the first call that meets a dead pooled
//     connection drops every idle connection and is retried once on a new
//     one; every cache operation is idempotent, so this is safe. A server
//     that is down fails its keys' calls with errs.Unavailable, and Ping
//     fails while any server is down.
//
// It must never be the only copy of anything: memcached forgets entries when
// full or restarted, and the cache is rebuilt from each entry's owner.
package memcached
