package node

import (
	"context"
	"sync"

	"github.com/heraldhq/herald/bus"
)

// gatedBus holds every Publish until the node has started all services, and
// refuses them once it begins to stop. A bus may acknowledge a message for
// which nobody has subscribed yet (or any more); without the gate an outbox
// relay that starts first, or stops last, would hand such a bus an event no
// consumer ever sees. Refused publishes stay in their outbox for next time.
type gatedBus struct {
	bus.Bus
	mu     sync.Mutex
	open   chan struct{}
	closed bool
}

func newGatedBus(b bus.Bus) *gatedBus { return &gatedBus{Bus: b, open: make(chan struct{})} }

func (g *gatedBus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return bus.ErrClosed
	}
	return g.Bus.Publish(ctx, msgs...)
}

// Open lets publishes through.
func (g *gatedBus) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// Shut refuses publishes from now on and releases those waiting.
func (g *gatedBus) Shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.Open()
}
