// Package tiered is the two-tier cache: an in-process tier (mem://) in
// front of a distributed one (Redis, memcached) shared by every node, kept
// fresh by invalidation events on the bus. Reads are served from memory
// when they can be, so a hot entry costs no network round trip, while a
// write on any node reaches every node.
//
// A node builds it in its composition root from two caches and the bus:
//
//	local, _ := cache.Open(ctx, "mem://?max_bytes=33554432")
//	remote, _ := cache.Open(ctx, "redis://cache.internal:6379/0")
//	c, err := tiered.New(ctx, local, remote, b, "node-a", tiered.Options{})
//
// # How it works
//
//   - Get reads the local tier; on a miss it reads the distributed tier and
//     keeps a local copy for at most Options.LocalTTL (default 30 s), and
//     never past the entry's own expiry, which the distributed tier stores
//     beside the value (a 9-byte header).
//   - Set and Delete write the distributed tier, drop this node's local copy
//     and publish the keys on Topic ("cache.invalidate"). Every other node
//     receives them in its own consumer group (Group(nodeID)) and drops its
//     local copies. Set never writes the local tier: the next Get fetches
//     the value, so racing writers cannot leave a node holding the value
//     that lost.
//   - A read that fetched a value while an invalidation of the same key came
//     in does not keep a local copy of what it fetched (a generation count
//     per stripe of keys), so an invalidation is never undone by a read in
//     flight.
//
// # Staleness bound
//
// After a Set or Delete returns on one node, another node may serve the old
// value until the invalidation reaches it: for the in-process bus, not at
// all (Publish returns once every node has handled it); for a broker, the
// broker's delivery latency, typically milliseconds. If an invalidation is
// lost (Set returns an error saying so when it could not be published; a
// node that was cut off from the broker), the bound is Options.LocalTTL. An
// entry is never served past its expiry, up to the clock skew between
// nodes.
//
// # What it must never do
//
// It must never be the only copy of anything, like every cache. The
// distributed tier's key space belongs to the tiered caches: a value written
// there by anything else is not recognised and reads as a miss. Invalidations
// bypass the outbox on purpose: they are hints, not facts, and a lost one
// costs at most LocalTTL of staleness, so they must never be used to carry
// state.
//
// Each node needs a node id of its own (letters, digits, '-' and '_'),
// stable across restarts: with a durable broker its consumer group is a
// queue that outlives the process, and a new id per start would leave one
// abandoned queue behind each time.
package tiered
