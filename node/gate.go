package node

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

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

	// consumers bounds the messages handled at once (nil: unbounded).
	consumers *consumerBudget
}

func newGatedBus(b bus.Bus, tp trace.TracerProvider, m *telemetry.Metrics) *gatedBus {
	return &gatedBus{Bus: b, tp: tp, metrics: m, open: make(chan struct{})}
}

func (g *gatedBus) Subscribe(ctx context.Context, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) (bus.Subscription, error) {
	h = telemetry.Consume(h, group, g.tp, g.metrics)
	// post.due is work already accepted, a scheduled post: its own
	// subscription's concurrency (limits.publish_concurrency) bounds it,
	// and no flood of other events may make it wait.
	if g.consumers != nil && topic != bus.TopicPostDue {
		h = g.consumers.wrap(h)
	}
	return g.Bus.Subscribe(ctx, topic, group, h, opts...)
}

// limitConsumers bounds the messages this node's consumers handle at once
// over all subscriptions but post.due.
func (g *gatedBus) limitConsumers(n int) {
	if n > 0 {
		g.consumers = newConsumerBudget(n)
		if g.metrics != nil {
			g.metrics.Registry.MustRegister(g.consumers)
		}
	}
}

// consumerBudget is a node-wide semaphore for bus handlers. Each adapter
// already bounds one subscription (prefetch, pull size, workers); this
// bounds their sum, so a flood on many topics cannot take every goroutine
// and megabyte. A handler waiting for a slot has not acknowledged its
// message, so the bus holds back (the in-process bus's Publish waits, a
// broker stops delivering past its prefetch): backpressure, never a drop.
// A subscription ending while a handler waits returns the context's error,
// which asks for redelivery.
type consumerBudget struct {
	slots   chan struct{}
	waiting atomic.Int64
}

func newConsumerBudget(n int) *consumerBudget {
	return &consumerBudget{slots: make(chan struct{}, n)}
}

func (c *consumerBudget) wrap(h bus.Handler) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		c.waiting.Add(1)
		select {
		case c.slots <- struct{}{}:
			c.waiting.Add(-1)
		case <-ctx.Done():
			c.waiting.Add(-1)
			return ctx.Err()
		}
		defer func() { <-c.slots }()
		return h(ctx, m)
	}
}

var (
	conLimit    = prometheus.NewDesc("herald_consumer_limit", "Bus messages this node handles at once over all subscriptions but post.due (limits.consumer_concurrency).", nil, nil)
	conInFlight = prometheus.NewDesc("herald_consumer_in_flight", "Bus messages being handled now under that limit.", nil, nil)
	conWaiting  = prometheus.NewDesc("herald_consumer_waiting", "Bus messages delivered but waiting, unacknowledged, for a slot.", nil, nil)
)

func (c *consumerBudget) Describe(ch chan<- *prometheus.Desc) {
	ch <- conLimit
	ch <- conInFlight
	ch <- conWaiting
}

func (c *consumerBudget) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(conLimit, prometheus.GaugeValue, float64(cap(c.slots)))
	ch <- prometheus.MustNewConstMetric(conInFlight, prometheus.GaugeValue, float64(len(c.slots)))
	ch <- prometheus.MustNewConstMetric(conWaiting, prometheus.GaugeValue, float64(c.waiting.Load()))
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
