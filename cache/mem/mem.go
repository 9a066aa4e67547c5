package mem

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/errs"
)

const (
	// DefaultMaxBytes is the bound of a cache opened without max_bytes.
	DefaultMaxBytes = 64 << 20
	// DefaultTTL is the time to live of a cache opened without ttl.
	DefaultTTL = 5 * time.Minute
	// MaxKeyLen is the longest key accepted: memcached's limit, kept here
	// so that code that works on the embedded cache works on every cache.
	MaxKeyLen = 250
	// entryOverhead approximates what an entry costs beyond its key and value
	// bytes (node, slice headers, policy metadata), so that many tiny entries
	// are bounded too.
	entryOverhead = 64
)

func init() { cache.Register("mem", open) }

func open(_ context.Context, u *url.URL) (cache.Cache, error) {
	var v errs.Fields
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		v.Add("url", "mem:// takes no host or path, only ?max_bytes=N&ttl=D")
	}
	maxBytes, ttl := int64(DefaultMaxBytes), DefaultTTL
	for key, vals := range u.Query() {
		val := vals[len(vals)-1]
		switch key {
		case "max_bytes":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				v.Add(key, "must be a positive number of bytes, not %q", val)
			}
			maxBytes = n
		case "ttl":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				v.Add(key, "must be a duration such as 5m (0: no expiry), not %q", val)
			}
			ttl = d
		default:
			v.Add(key, "unknown option (known: max_bytes, ttl)")
		}
	}
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("cache URL %q: %w", u.Redacted(), err)
	}
	return New(maxBytes, ttl), nil
}

// entry is what the cache holds for a key.
type entry struct {
	value []byte
	ttl   time.Duration
}

// Cache is a bounded in-process cache. It is safe for concurrent use.
type Cache struct {
	c          *otter.Cache[string, entry]
	maxBytes   uint64
	defaultTTL time.Duration
	closed     atomic.Bool
}

// New returns a cache holding at most maxBytes (DefaultMaxBytes if <= 0),
// counting keys, values and a small per-entry overhead. Entries set with a
// ttl of 0 live for defaultTTL, or until evicted if defaultTTL <= 0.
func New(maxBytes int64, defaultTTL time.Duration) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if defaultTTL <= 0 {
		// otter saturates deadlines, so the longest duration means "never".
		defaultTTL = math.MaxInt64
	}
	c := &Cache{maxBytes: uint64(maxBytes), defaultTTL: defaultTTL}
	c.c = otter.Must(&otter.Options[string, entry]{
		MaximumWeight: c.maxBytes,
		Weigher:       func(key string, e entry) uint32 { return weight(key, e.value) },
		// Each entry carries its own ttl, counted from its latest write.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry]) time.Duration {
			return e.Value.ttl
		}),
	})
	return c
}

func weight(key string, value []byte) uint32 {
	w := uint64(len(key)) + uint64(len(value)) + entryOverhead
	return uint32(min(w, math.MaxUint32))
}

// Get returns a copy of the value stored under key.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := c.usable(ctx, key); err != nil {
		return nil, false, err
	}
	e, ok := c.c.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	// A copy, so that a caller changing it cannot change what others read;
	// never nil on a hit, so an empty value is told apart from a miss.
	return append(make([]byte, 0, len(e.value)), e.value...), true, nil
}

// Set stores a copy of value under key for ttl (0: the default ttl). A value
// too large to ever fit is not stored, and any older value of key is
// dropped, so a later Get misses rather than return stale data.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var v errs.Fields
	if problem := checkKey(key); problem != "" {
		v.Add("key", "%s", problem)
	}
	if ttl < 0 {
		v.Add("ttl", "must not be negative")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return errClosed
	}
	if uint64(weight(key, value)) > c.maxBytes {
		c.c.Invalidate(key)
		return nil
	}
	if ttl == 0 {
		ttl = c.defaultTTL
	}
	c.c.Set(key, entry{value: append([]byte(nil), value...), ttl: ttl})
	return nil
}

// Delete removes keys; missing keys are not an error. If any key is not
// valid, nothing is removed.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var v errs.Fields
	for i, k := range keys {
		if problem := checkKey(k); problem != "" {
			v.Add(fmt.Sprintf("keys[%d]", i), "%s", problem)
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return errClosed
	}
	for _, k := range keys {
		c.c.Invalidate(k)
	}
	return nil
}

// Ping fails only once the cache is closed.
func (c *Cache) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return errClosed
	}
	return nil
}

// Close drops every entry and stops the cache's background maintenance.
// Closing again does nothing.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.c.InvalidateAll()
	c.c.StopAllGoroutines()
	return nil
}

var errClosed = errs.E(errs.Unavailable, "cache: closed")

// usable checks a call may go ahead with key.
func (c *Cache) usable(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if problem := checkKey(key); problem != "" {
		var v errs.Fields
		v.Add("key", "%s", problem)
		return v.Err()
	}
	if c.closed.Load() {
		return errClosed
	}
	return nil
}

// checkKey says what is wrong with key, or "" if nothing is. Keys follow
// memcached's rules (1 to 250 bytes, no spaces or control characters), the
// strictest of the cache servers Herald supports.
func checkKey(key string) string {
	if key == "" {
		return "must not be empty"
	}
	if len(key) > MaxKeyLen {
		return fmt.Sprintf("must be at most %d bytes, not %d", MaxKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if b := key[i]; b <= ' ' || b == 0x7f {
			return fmt.Sprintf("must not contain spaces or control characters (byte %d)", i)
		}
	}
	return ""
}

// Interface guard.
var _ cache.Cache = (*Cache)(nil)
