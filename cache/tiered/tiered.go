package tiered

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/internal/portable"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// Topic is the bus topic of invalidations. A message's payload is the
// invalidated keys separated by "\n" (keys never contain control
// characters); its "origin" metadata is the node that wrote them.
const Topic = "cache.invalidate"

const (
	// DefaultLocalTTL bounds how long a node serves an entry from memory
	// without asking the distributed tier: the staleness bound when
	// invalidations are lost.
	DefaultLocalTTL = 30 * time.Second
	// DefaultTTL is the time to live of entries set with a ttl of 0, as for
	// the other caches.
	DefaultTTL = 5 * time.Minute

	// originKey is the metadata naming the node that published a message.
	originKey = "origin"
	// stripes spreads the per-key generation counters over locks, so that
	// unrelated keys rarely contend.
	stripes = 64
)

// Options tune a tiered cache.
type Options struct {
	// LocalTTL is the longest a node keeps an entry in its local tier
	// (default DefaultLocalTTL). It is the staleness bound when an
	// invalidation is lost; shorter means fresher, and more reads reaching
	// the distributed tier.
	LocalTTL time.Duration
	// DefaultTTL is the time to live of entries set with a ttl of 0
	// (default DefaultTTL). Tiered resolves it itself, rather than leave it
	// to the distributed tier, because the local tier needs to know when
	// each entry expires.
	DefaultTTL time.Duration
}

// Cache is a two-tier cache: an in-process tier in front of a distributed
// one, kept fresh by invalidations on the bus. It is safe for concurrent
// use.
type Cache struct {
	*portable.Cache
}

// New returns a tiered cache for this node over local (in-process, private
// to this node, typically mem://) and remote (shared by every node: Redis,
// memcached). nodeID names this node: it must be unique among the nodes
// sharing remote, and should stay the same across restarts, because the
// node subscribes to Topic in its own consumer group, Group(nodeID), so
// that every node receives every invalidation. New returns once the
// subscription is ready.
//
// The cache owns local and remote once New succeeds: Close closes them.
// It does not own b.
func New(ctx context.Context, local, remote cache.Cache, b bus.Bus, nodeID string, opts Options) (*Cache, error) {
	var v errs.Fields
	if local == nil {
		v.Add("local", "must not be nil")
	}
	if remote == nil {
		v.Add("remote", "must not be nil")
	}
	if b == nil {
		v.Add("bus", "must not be nil")
	}
	if !validNodeID(nodeID) {
		// The node id becomes part of a consumer group name, which brokers
		// restrict (NATS refuses dots, RabbitMQ limits lengths).
		v.Add("node_id", "must be 1 to %d letters, digits, '-' or '_', not %q", maxNodeID, nodeID)
	}
	if opts.LocalTTL < 0 {
		v.Add("local_ttl", "must not be negative")
	}
	if opts.DefaultTTL < 0 {
		v.Add("default_ttl", "must not be negative")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if opts.LocalTTL == 0 {
		opts.LocalTTL = DefaultLocalTTL
	}
	if opts.DefaultTTL == 0 {
		opts.DefaultTTL = DefaultTTL
	}
	d := &tiers{
		local:    local,
		remote:   remote,
		bus:      b,
		node:     nodeID,
		localTTL: opts.LocalTTL,
		seed:     maphash.MakeSeed(),
	}
	// The subscription lives as long as the cache, not as long as ctx.
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := b.Subscribe(subCtx, Topic, Group(nodeID), d.handle)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cache: tiered: subscribing to %s: %w", Topic, err)
	}
	d.sub, d.cancel = sub, cancel
	name := fmt.Sprintf("tiered(node %s)", nodeID)
	return &Cache{Cache: portable.New(name, d, opts.DefaultTTL)}, nil
}

// Group is the consumer group in which the node nodeID receives
// invalidations: one per node, so that each receives all of them.
func Group(nodeID string) string { return "cache-" + nodeID }

const maxNodeID = 64

func validNodeID(s string) bool {
	if s == "" || len(s) > maxNodeID {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// tiers is the driver behind the portable cache: keys and ttls are checked
// before any call reaches it, and a ttl of 0 is already resolved to the
// default, so every ttl it sees is positive.
type tiers struct {
	local, remote cache.Cache
	bus           bus.Bus
	node          string
	localTTL      time.Duration
	sub           bus.Subscription
	cancel        context.CancelFunc

	seed    maphash.Seed
	stripes [stripes]stripe
}

// stripe guards the local tier's copies of the keys that hash to it.
// gen counts invalidations of those keys: a read that fetched a value from
// the distributed tier copies it into the local one only if no invalidation
// of its stripe came in meanwhile, or it could put back a value an
// invalidation had just removed.
type stripe struct {
	mu  sync.Mutex
	gen uint64
}

func (d *tiers) stripe(key string) *stripe {
	return &d.stripes[maphash.String(d.seed, key)%stripes]
}

// Get reads the local tier, then the distributed one, keeping a copy
// locally for at most the local ttl and never past the entry's expiry.
func (d *tiers) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if v, ok, err := d.local.Get(ctx, key); err == nil && ok {
		return v, true, nil
	}
	s := d.stripe(key)
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()

	stored, ok, err := d.remote.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	value, expires, ok := decode(stored)
	if !ok {
		// Not written by a tiered cache: the distributed tier's key space
		// is shared with something else. Treat it as absent rather than
		// return bytes in an unknown format.
		return nil, false, nil
	}
	left := expires.Sub(time.Now())
	if left <= 0 {
		return nil, false, nil // expired; the server has not dropped it yet
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		// Best effort: a local tier that cannot take it only costs a read.
		_ = d.local.Set(context.WithoutCancel(ctx), key, value, min(left, d.localTTL))
	}
	return value, true, nil
}

// Set writes the distributed tier, drops this node's local copy and tells
// the other nodes to drop theirs. The local tier is not written: the next
// read fetches the value, so two concurrent writers on one node cannot leave
// the local tier holding the value that lost in the distributed one.
func (d *tiers) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	expires := time.Now().Add(min(ttl, maxTTL))
	if err := d.remote.Set(ctx, key, encode(value, expires), ttl); err != nil {
		return err
	}
	return d.invalidate(ctx, []string{key})
}

// Delete removes keys from the distributed tier and every node's local one.
func (d *tiers) Delete(ctx context.Context, keys []string) error {
	if err := d.remote.Delete(ctx, keys...); err != nil {
		return err
	}
	return d.invalidate(ctx, keys)
}

// invalidate drops keys here and publishes them for the other nodes.
// Invalidations go straight to the bus, not through an outbox: they are
// hints, not facts, and one that is lost costs at most the local ttl of
// staleness.
func (d *tiers) invalidate(ctx context.Context, keys []string) error {
	d.drop(keys)
	m := &bus.Message{
		ID:       id.New("cacheinv"),
		Topic:    Topic,
		Payload:  []byte(strings.Join(keys, "\n")),
		Metadata: map[string]string{originKey: d.node},
	}
	if err := d.bus.Publish(ctx, m); err != nil {
		return errs.Wrap(err, errs.Unavailable, fmt.Sprintf(
			"cache: written, but the invalidation was not published: other nodes may serve the old value for up to %v", d.localTTL))
	}
	return nil
}

// handle applies another node's invalidation.
func (d *tiers) handle(_ context.Context, m *bus.Message) error {
	if m.Metadata[originKey] == d.node {
		return nil // dropped already, when this node wrote
	}
	d.drop(strings.Split(string(m.Payload), "\n"))
	return nil
}

// drop removes keys from the local tier and bumps their stripes'
// generations, so a read in flight does not put an old value back.
func (d *tiers) drop(keys []string) {
	for _, k := range keys {
		if portable.KeyProblem(k) != "" {
			continue // not a key any cache holds: nothing to drop
		}
		s := d.stripe(k)
		s.mu.Lock()
		s.gen++
		// The local tier is in memory: only a closed one fails, and a
		// closed one holds nothing.
		_ = d.local.Delete(context.Background(), k)
		s.mu.Unlock()
	}
}

func (d *tiers) Ping(ctx context.Context) error {
	return errors.Join(d.local.Ping(ctx), d.remote.Ping(ctx))
}

// Close stops listening for invalidations and closes both tiers.
func (d *tiers) Close() error {
	err := d.sub.Close()
	d.cancel()
	return errors.Join(err, d.local.Close(), d.remote.Close())
}

// The distributed tier holds each value behind a header: a format byte and
// the entry's expiry in Unix milliseconds, big-endian. The expiry lets a
// node keep its local copy no longer than the entry lives, which the
// distributed tier alone cannot tell it on a read.
const (
	format     = 1
	headerSize = 1 + 8
	// maxTTL caps the expiry written, far enough to mean "never" and near
	// enough not to overflow.
	maxTTL = 100 * 365 * 24 * time.Hour
)

func encode(value []byte, expires time.Time) []byte {
	b := make([]byte, headerSize, headerSize+len(value))
	b[0] = format
	binary.BigEndian.PutUint64(b[1:], uint64(expires.UnixMilli()))
	return append(b, value...)
}

func decode(b []byte) (value []byte, expires time.Time, ok bool) {
	if len(b) < headerSize || b[0] != format {
		return nil, time.Time{}, false
	}
	ms := int64(binary.BigEndian.Uint64(b[1:]))
	return b[headerSize:], time.UnixMilli(ms), true
}

// Interface guards.
var (
	_ cache.Cache     = (*Cache)(nil)
	_ portable.Driver = (*tiers)(nil)
)
