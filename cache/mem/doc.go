// Package mem is the embedded cache adapter: a bounded in-process cache
// (W-TinyLFU, github.com/maypok86/otter/v2) weighed by the bytes it holds,
// with a time to live per entry. It registers the "mem://" URL scheme:
//
//	mem://?max_bytes=67108864&ttl=5m
//
// max_bytes bounds what the cache holds (default 64 MiB); ttl is the time
// to live of entries set with a ttl of 0 (default 5m; "0" keeps them until
// they are evicted).
//
// It must never be the only copy of anything: like every cache it forgets
// entries when it is full, when they expire and when the process ends. And it
// is private to its process: where a service runs on several nodes, each has
// its own, kept fresh by invalidation events, not by sharing.
package mem
