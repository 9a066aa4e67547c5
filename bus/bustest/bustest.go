package bustest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/id"
)

// DefaultTimeout bounds each wait for an asynchronous outcome unless
// Adapter.Timeout says otherwise. It is generous on purpose: the suite checks
// what happens, never how fast.
const DefaultTimeout = 10 * time.Second

// Adapter tells the suite how to get buses of the adapter under test.
type Adapter struct {
	// Open returns a new, open bus. The suite closes it when the test ends
	// (Open may register its own cleanup too: Close is idempotent). Buses
	// returned by several calls may share a broker: the suite keeps its
	// tests apart with unique topic and group names.
	Open func(t *testing.T) bus.Bus
	// Reopen returns a new bus over the same durable state as prev, which
	// the suite has already closed: for a broker, typically a new connection
	// to the same URL; for an embedded durable bus, one over the same data
	// directory. It may restart the broker in between. Nil skips the tests
	// that need a restart, which a bus declaring Features.Durable must then
	// prove otherwise (PublishWaitsForHandlers).
	Reopen func(t *testing.T, prev bus.Bus) bus.Bus
	// Timeout bounds each wait for an asynchronous outcome; zero means
	// DefaultTimeout. A broker whose redelivery is slow may need more.
	Timeout time.Duration
}

// Run runs the conformance suite against buses made by open.
func Run(t *testing.T, open func(t *testing.T) bus.Bus) {
	RunAdapter(t, Adapter{Open: open})
}

// RunAdapter runs the conformance suite against a.
func RunAdapter(t *testing.T, a Adapter) {
	t.Helper()
	if a.Open == nil {
		t.Fatal("bustest: Adapter.Open is nil")
	}
	s := &suite{a: a, timeout: a.Timeout}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	probe := a.Open(t)
	s.features = probe.Features()
	if err := probe.Close(); err != nil {
		t.Fatalf("closing the bus that was opened to read its features: %v", err)
	}

	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.needs != nil {
				if why := c.needs(s); why != "" {
					t.Skip(why)
				}
			}
			c.run(t, s)
		})
	}
}

// testCase is one named check, with what it needs from the bus.
type testCase struct {
	name string
	// needs returns why the case does not apply to this bus, or "".
	needs func(s *suite) string
	run   func(t *testing.T, s *suite)
}

type suite struct {
	a        Adapter
	timeout  time.Duration
	features bus.Features
}

// open returns a bus that is closed when t ends.
func (s *suite) open(t *testing.T) bus.Bus {
	t.Helper()
	b := s.a.Open(t)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the bus: %v", err)
		}
	})
	return b
}

// subscribe subscribes with the test's context and closes the subscription
// when t ends, before the bus is closed.
func (s *suite) subscribe(t *testing.T, b bus.Bus, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) bus.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, group, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topic, group, err)
	}
	t.Cleanup(func() {
		if err := sub.Close(); err != nil {
			t.Errorf("closing the subscription to %q as %q: %v", topic, group, err)
		}
	})
	return sub
}

// eventually polls cond until it holds, failing t after the timeout.
func (s *suite) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", s.timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// await waits for ch to be closed or to yield a value, failing t after the
// timeout.
func await[T any](t *testing.T, s *suite, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(s.timeout):
		t.Fatalf("timed out after %v waiting for %s", s.timeout, what)
		var zero T
		return zero
	}
}

// publish publishes each message with its own Publish call, up to 32 at
// once, in the background: a bus whose Publish waits for handlers blocks for
// as long as they run, and tests often hold handlers back on purpose. The
// returned wait fails t if a Publish failed or did not return in time.
// Publishes still running when the test ends are abandoned through the test's
// context, and their errors ignored.
func (s *suite) publish(t *testing.T, b bus.Bus, msgs []*bus.Message) (wait func()) {
	ctx := t.Context()
	errc := make(chan error, len(msgs))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for _, m := range msgs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := b.Publish(ctx, m); err != nil && ctx.Err() == nil {
					errc <- fmt.Errorf("Publish(%s): %w", m.ID, err)
				}
			})
		}
		wg.Wait()
	}()
	var once sync.Once
	return func() {
		t.Helper()
		once.Do(func() {
			await(t, s, fmt.Sprintf("%d Publish calls to return", len(msgs)), done)
			close(errc)
			for err := range errc {
				t.Error(err)
			}
		})
	}
}

// publishNow publishes msgs one Publish call after the other, for handlers
// that never block.
func publishNow(t *testing.T, b bus.Bus, msgs []*bus.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatalf("Publish(%s): %v", m.ID, err)
		}
	}
}

// name returns a topic or group name unique to this run of this test, made
// only of characters every broker accepts in names.
func name(t *testing.T, kind string) string {
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '_'
	}, t.Name())
	if len(slug) > 40 {
		slug = slug[len(slug)-40:]
	}
	return "bustest_" + kind + "_" + slug + "_" + strings.ToLower(rand.Text()[:10])
}

// messages returns n distinct messages for topic.
func messages(topic string, n int) []*bus.Message {
	out := make([]*bus.Message, n)
	for i := range out {
		out[i] = &bus.Message{
			ID:       id.New("evt"),
			Topic:    topic,
			Payload:  fmt.Appendf(nil, "payload %d", i),
			Metadata: map[string]string{"n": fmt.Sprint(i)},
		}
	}
	return out
}

// recorder keeps a copy of every message a handler received.
type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
}

// handler records each message, then returns next's verdict (nil: ack).
func (r *recorder) handler(next bus.Handler) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		r.add(m)
		if next == nil {
			return nil
		}
		return next(ctx, m)
	}
}

func (r *recorder) add(m *bus.Message) {
	c := *m
	c.Payload = bytes.Clone(m.Payload)
	c.Metadata = maps.Clone(m.Metadata)
	r.mu.Lock()
	r.msgs = append(r.msgs, c)
	r.mu.Unlock()
}

func (r *recorder) all() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Message(nil), r.msgs...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// counts says how many times each message id was received.
func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.msgs))
	for _, m := range r.msgs {
		out[m.ID]++
	}
	return out
}

// hasAll reports whether every message of want was received.
func (r *recorder) hasAll(want []*bus.Message) bool {
	got := r.counts()
	for _, m := range want {
		if got[m.ID] == 0 {
			return false
		}
	}
	return true
}

// checkOnly fails t for any message received that is not in want: a bus
// must not deliver another topic's messages, nor invent any.
func (r *recorder) checkOnly(t *testing.T, who string, want []*bus.Message) {
	t.Helper()
	ids := make(map[string]bool, len(want))
	for _, m := range want {
		ids[m.ID] = true
	}
	for mid := range r.counts() {
		if !ids[mid] {
			t.Errorf("%s received message %s, which was not published to it", who, mid)
		}
	}
}
