package brokertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/id"
)

// restartWait bounds each wait for the bus to recover after a restart.
const restartWait = 60 * time.Second

// SurvivesRestart checks that b survives its broker, server (a name for
// Restart), restarting: a subscription resumes on its own; every message
// whose Publish returned before the restart reaches the subscribed group;
// Publish works again after it (waiting within its context while the bus
// reconnects); Ping recovers; and a group that had no subscriber during the
// restart finds everything published meanwhile kept for it. It calls
// RequireRestarts first.
func SurvivesRestart(t *testing.T, b bus.Bus, server string) {
	t.Helper()
	RequireRestarts(t)
	topic := "restart." + strings.ToLower(id.New("t"))
	var got Recorder
	sub, err := b.Subscribe(t.Context(), topic, "live", got.Handle, bus.WithConcurrency(4))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	// A second group subscribes and leaves: what is published while it is
	// away must wait for it across the restart.
	away, err := b.Subscribe(t.Context(), topic, "away", func(context.Context, *bus.Message) error { return nil })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := away.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	before := PublishN(t, b, topic, 20)
	Restart(t, server)
	after := PublishN(t, b, topic, 20)

	Eventually(t, restartWait, "every message to reach the subscribed group", func() bool {
		return got.HasAll(before) && got.HasAll(after)
	})
	Eventually(t, restartWait, "Ping to succeed after the restart", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return b.Ping(ctx) == nil
	})
	var back Recorder
	sub2, err := b.Subscribe(t.Context(), topic, "away", back.Handle)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub2.Close()
	Eventually(t, restartWait, "the returning group to get what was published while it was away", func() bool {
		return back.HasAll(before) && back.HasAll(after)
	})
}

// PublishN publishes n messages to topic, one Publish call after the other,
// failing t if one fails within a generous deadline.
func PublishN(t testing.TB, b bus.Bus, topic string, n int) []*bus.Message {
	t.Helper()
	msgs := make([]*bus.Message, n)
	for i := range msgs {
		msgs[i] = &bus.Message{ID: id.New("evt"), Topic: topic, Payload: fmt.Appendf(nil, "%d", i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartWait)
	defer cancel()
	for _, m := range msgs {
		if err := b.Publish(ctx, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	return msgs
}

// Recorder counts the messages its Handle got, by id. It is safe for
// concurrent use.
type Recorder struct {
	mu   sync.Mutex
	seen map[string]int
}

// Handle records m and acknowledges it.
func (r *Recorder) Handle(_ context.Context, m *bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[m.ID]++
	return nil
}

// Count is how many times the message with id mid was handled.
func (r *Recorder) Count(mid string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[mid]
}

// HasAll reports whether every message of msgs was handled.
func (r *Recorder) HasAll(msgs []*bus.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if r.seen[m.ID] == 0 {
			return false
		}
	}
	return true
}

// PublishUntilHandled publishes a fresh message to topic every 100ms until
// rec has handled one of them, failing t after a generous deadline: it
// shows a subscription delivering again after something broke it, when
// messages published while it was broken may rightly be lost.
func PublishUntilHandled(t testing.TB, b bus.Bus, topic string, rec *Recorder) {
	t.Helper()
	deadline := time.Now().Add(restartWait)
	for {
		m := &bus.Message{ID: id.New("evt"), Topic: topic}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := b.Publish(ctx, m)
		cancel()
		if err == nil {
			wait := time.Now().Add(100 * time.Millisecond)
			for time.Now().Before(wait) {
				if rec.Count(m.ID) > 0 {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message published to %s was handled within %v (last Publish: %v)", topic, restartWait, err)
		}
	}
}
