package node

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/telemetry"
)

// gatedBus holds every Publish until the node has started all services, and
// refuses them once it begins to stop. A bus may acknowledge a message for
// which nobody has subscribed yet (or any more); without the gate an outbox
// relay that starts first, or stops last, would hand such a bus an event no
// consumer ever sees. Refused publishes stay in their outbox for next time.
//
// Being the one door every service's events pass, it is also where they are
// counted, and where each consumer's handling joins the trace its message
// carries (telemetry.Consume).
type gatedBus struct {
	bus.Bus
	tp      trace.TracerProvider
	metrics *telemetry.Metrics
	mu      sync.Mutex
	open    chan struct{}
	closed  bool
}

func newGatedBus(b bus.Bus, tp trace.TracerProvider, m *telemetry.Metrics) *gatedBus {
	return &gatedBus{Bus: b, tp: tp, metrics: m, open: make(chan struct{})}
}

func (g *gatedBus) Subscribe(ctx context.Context, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) (bus.Subscription, error) {
	return g.Bus.Subscribe(ctx, topic, group, telemetry.Consume(h, group, g.tp, g.metrics), opts...)
}

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
	err := g.Bus.Publish(ctx, msgs...)
	if g.metrics != nil {
		g.countPublished(msgs, err)
	}
	return err
}

// countPublished counts a publish per topic: one call may carry several.
func (g *gatedBus) countPublished(msgs []*bus.Message, err error) {
	by := make(map[string]int, 1) // usually one: an outbox chunk is mostly of one topic
	for _, m := range msgs {
		by[m.Topic]++
	}
	for t, c := range by {
		g.metrics.Published(t, c, err)
	}
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
