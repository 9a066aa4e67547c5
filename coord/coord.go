// Package coord is Herald's coordination port: named locks with fencing
// tokens (leader election and shard ownership) and a service registry.
//
// A Lock is held until it is unlocked or lost; Lost closes when the holder
// can no longer be sure it holds it (its session expired, the server was
// unreachable for too long). Work done under a lock carries its Token, a
// number that grows every time the lock changes hands, so a store can refuse
// a stale holder's writes.
//
// Adapters register a URL scheme with Register; Open picks one by URL
// ("mem://", later "zk://", "etcd://").
package coord

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/openers"
)

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("coord: lock held by another holder")

// Coordinator hands out locks and keeps the service registry.
type Coordinator interface {
	// TryLock takes the named lock for holder if it is free, without
	// waiting. It returns ErrLocked if someone else holds it.
	TryLock(ctx context.Context, name, holder string) (Lock, error)
	// Register announces an instance of a service until ctx ends or the
	// returned function is called.
	Register(ctx context.Context, in Instance) (deregister func(), err error)
	// Instances lists the live instances of a service.
	Instances(ctx context.Context, service string) ([]Instance, error)
	// Ping reports whether coordination is usable; it backs readiness.
	Ping(ctx context.Context) error
	Close() error
}

// Lock is a held lock.
type Lock interface {
	Name() string
	// Token is the fencing token: larger than any token of an earlier holder.
	Token() int64
	// Lost is closed when the lock is no longer held for sure.
	Lost() <-chan struct{}
	Unlock(ctx context.Context) error
}

// Instance is one running instance of a service.
type Instance struct {
	Service string
	ID      string
	// Addr is where the instance serves its API (host:port or URL).
	Addr string
}

// Options that adapters read from their URL's query, documented here once:
//
//	ttl=10s              how long a holder may be silent before its locks are lost
//	                     (ZooKeeper also takes session_timeout)
//	connect_timeout=5s   how long Open waits for the server to answer
const DefaultTTL = 10 * time.Second

// Opener opens a coordinator for one URL scheme.
type Opener = openers.Opener[Coordinator]

var registry = openers.New[Coordinator]("coord")

// Register makes an adapter available under a URL scheme.
func Register(scheme string, o Opener) { registry.Register(scheme, o) }

// Schemes lists the registered URL schemes.
func Schemes() []string { return registry.Schemes() }

// Open opens the coordinator named by rawURL.
func Open(ctx context.Context, rawURL string) (Coordinator, error) { return registry.Open(ctx, rawURL) }
