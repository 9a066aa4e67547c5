// Package cachetest is the conformance suite of the cache port: the one set
// of tests that every cache.Cache adapter (in-process, memcached, Redis)
// runs unchanged from its own tests, so callers get the same behaviour from
// each: copies in and out, per-entry time to live, portable keys, and
// validation errors that name the field.
//
// The suite uses keys no other test or run uses, so it may run against a
// server shared with other tests. It must never rely on what only one
// adapter does (eviction order, memory bounds); those are the adapters' own
// tests.
package cachetest
