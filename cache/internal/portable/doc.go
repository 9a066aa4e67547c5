// Package portable is the layer every distributed cache adapter (memcached,
// Redis, the two-tier cache) sits behind, so that callers get the same
// behaviour from each whatever the server: keys checked by memcached's rules
// before anything is sent, a negative time to live refused, a time to live
// of 0 resolved to the adapter's default, an empty value told apart from a
// miss, a closed cache refusing every call, and server failures reported as
// errs.Unavailable naming the cache. An adapter only writes a Driver: the
// thin part that talks to its server.
//
// It also reads the URL options the adapters share (ttl, timeout and
// counts) into errs.Fields errors that name the option, and builds the one
// line an Open that cannot reach its server returns.
//
// It must never hold state of its own beyond the closed flag, nor retry:
// reconnecting is the driver's business, because only it knows which of its
// errors leave a connection unusable.
package portable
