package trigger

import (
	"context"
	"slices"
	"sync"

	"github.com/heraldhq/herald/coord"
)

// soloCoordinator is the coordinator of a node that is alone (Deps.Coord is
// nil): every lock is free and never lost, and the only instance is the
// node itself.
type soloCoordinator struct {
	mu   sync.Mutex
	self []coord.Instance
}

func (*soloCoordinator) TryLock(_ context.Context, name, _ string) (coord.Lock, error) {
	return soloLock(name), nil
}

func (c *soloCoordinator) Register(_ context.Context, in coord.Instance) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.self = []coord.Instance{in}
	return func() {}, nil
}

func (c *soloCoordinator) Instances(context.Context, string) ([]coord.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.self), nil
}

func (*soloCoordinator) Ping(context.Context) error { return nil }
func (*soloCoordinator) Close() error               { return nil }

type soloLock string

func (l soloLock) Name() string               { return string(l) }
func (soloLock) Token() int64                 { return 1 }
func (soloLock) Lost() <-chan struct{}        { return nil }
func (soloLock) Unlock(context.Context) error { return nil }

var _ coord.Coordinator = (*soloCoordinator)(nil)
