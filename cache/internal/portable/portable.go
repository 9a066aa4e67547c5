package portable

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/errs"
)

// MaxKeyLen is the longest key accepted: memcached's limit, applied to every
// cache so that code that works against one works against all.
const MaxKeyLen = 250

// Driver is what an adapter implements. The Cache in front of it has
// already checked every key and time to live, so a driver never sees an
// empty, overlong or blank-containing key, a negative ttl, or a Delete of no
// keys, and is never called after Close.
type Driver interface {
	// Get returns the value stored under key, or ok false on a miss. The
	// slice must not be shared with anything else (a fresh copy).
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key. A ttl of 0 means no expiry; a positive
	// one must be honoured so the entry is gone once it has passed (the
	// server's own precision may add to it; the adapter documents how much).
	// Set must not keep value after it returns: the caller may reuse it.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys []string) error
	// Ping checks the server answers.
	Ping(ctx context.Context) error
	// Close releases the driver's connections. It is called once.
	Close() error
}

// Cache is the portable cache.Cache over a Driver. It is safe for concurrent
// use if its driver is.
type Cache struct {
	name       string
	d          Driver
	defaultTTL time.Duration
	closed     atomic.Bool
	errClosed  error
}

// New returns a cache over d. name says which cache it is in errors (the
// URL with its credentials redacted, say). Entries set with a ttl of 0 live
// for defaultTTL; a defaultTTL of 0 keeps them until the server evicts them.
func New(name string, d Driver, defaultTTL time.Duration) *Cache {
	return &Cache{
		name:       name,
		d:          d,
		defaultTTL: max(defaultTTL, 0),
		errClosed:  errs.E(errs.Unavailable, "cache %s: closed", name),
	}
}

// Get returns the value stored under key: a slice the caller owns, never nil
// on a hit so that an empty value is told apart from a miss.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := c.begin(ctx, checkKey("key", key)); err != nil {
		return nil, false, err
	}
	v, ok, err := c.d.Get(ctx, key)
	if err != nil {
		return nil, false, c.failed(ctx, "get", err)
	}
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// Set stores value under key for ttl (0: the default ttl).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	v := checkKey("key", key)
	if ttl < 0 {
		v.Add("ttl", "must not be negative")
	}
	if err := c.begin(ctx, v); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = c.defaultTTL
	}
	if err := c.d.Set(ctx, key, value, ttl); err != nil {
		return c.failed(ctx, "set", err)
	}
	return nil
}

// Delete removes keys; missing keys are not an error. If any key is not
// valid, nothing is removed.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	var v errs.Fields
	for i, k := range keys {
		if problem := KeyProblem(k); problem != "" {
			v.Add(fmt.Sprintf("keys[%d]", i), "%s", problem)
		}
	}
	if err := c.begin(ctx, v); err != nil || len(keys) == 0 {
		return err
	}
	if err := c.d.Delete(ctx, keys); err != nil {
		return c.failed(ctx, "delete", err)
	}
	return nil
}

// Ping checks the server answers; it backs the readiness endpoint.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.begin(ctx, nil); err != nil {
		return err
	}
	if err := c.d.Ping(ctx); err != nil {
		return c.failed(ctx, "ping", err)
	}
	return nil
}

// Close closes the driver. Closing again does nothing; every later call
// fails with errs.Unavailable.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.d.Close(); err != nil {
		return fmt.Errorf("cache %s: close: %w", c.name, err)
	}
	return nil
}

// begin checks a call may go ahead: the context is live, the input valid
// and the cache open, in that order, so that bad input is reported as such
// even on a closed cache.
func (c *Cache) begin(ctx context.Context, v errs.Fields) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return c.errClosed
	}
	return nil
}

// failed turns a driver error into what callers act on: the context's own
// error when it ended, a Herald error as it is, and anything else (a
// refused connection, a timeout, a server error) as Unavailable, which a
// caller treats like a miss.
func (c *Cache) failed(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctxErr
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	return errs.Wrap(err, errs.Unavailable, fmt.Sprintf("cache %s: %s failed", c.name, op))
}

// KeyProblem says what is wrong with key, or "" if nothing is. Keys follow
// memcached's rules (1 to 250 bytes, no spaces or control characters), the
// strictest of the cache servers Herald supports.
func KeyProblem(key string) string {
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

func checkKey(field, key string) errs.Fields {
	var v errs.Fields
	if problem := KeyProblem(key); problem != "" {
		v.Add(field, "%s", problem)
	}
	return v
}

// Interface guard.
var _ cache.Cache = (*Cache)(nil)
