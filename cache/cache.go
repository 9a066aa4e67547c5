// Package cache is Herald's cache port: bytes by key with a time to live.
// A cache may forget anything at any time; callers must be able to rebuild
// every entry from its owner. Adapters register a URL scheme with Register;
// Open picks one ("mem://?max_bytes=67108864", later "memcached://",
// "redis://").
package cache

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// Cache stores bytes by key.
type Cache interface {
	// Get returns the value and true, or nil and false on a miss.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value for ttl (0: the cache's default).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	Ping(ctx context.Context) error
	Close() error
}

// Opener opens a cache for one URL scheme.
type Opener func(ctx context.Context, u *url.URL) (Cache, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes an adapter available under a URL scheme.
func Register(scheme string, o Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	openers[scheme] = o
}

// Open opens the cache named by rawURL.
func Open(ctx context.Context, rawURL string) (Cache, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: bad URL: %w", err)
	}
	openersMu.RLock()
	o, ok := openers[u.Scheme]
	openersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("cache: unknown scheme %q", u.Scheme)
	}
	return o(ctx, u)
}
