// Package cache is Herald's cache port: bytes by key with a time to live.
// A cache may forget anything at any time; callers must be able to rebuild
// every entry from its owner. Adapters register a URL scheme with Register;
// Open picks one ("mem://?max_bytes=67108864", later "memcached://",
// "redis://").
package cache

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/openers"
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
type Opener = openers.Opener[Cache]

var registry = openers.New[Cache]("cache")

// Register makes an adapter available under a URL scheme.
func Register(scheme string, o Opener) { registry.Register(scheme, o) }

// Schemes lists the registered URL schemes.
func Schemes() []string { return registry.Schemes() }

// Open opens the cache named by rawURL.
func Open(ctx context.Context, rawURL string) (Cache, error) { return registry.Open(ctx, rawURL) }
