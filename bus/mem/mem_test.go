package mem_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/bustest"
	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/errs"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	bustest.Run(t, func(*testing.T) bus.Bus { return mem.New() })
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"mem://", false},
		{"mem:///", false},
		{"mem://somewhere", true},
		{"mem:///some/path", true},
		{"mem://?size=10", true},
		{"mem:opaque", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			b, err := bus.Open(t.Context(), tt.url)
			if tt.wantErr {
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.Invalid || e.Fields["url"] == "" {
					t.Fatalf("Open(%q) = %v, want an %q error naming the url", tt.url, err, errs.Invalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.url, err)
			}
			defer b.Close()
			if _, ok := b.(*mem.Bus); !ok {
				t.Fatalf("Open(%q) = %T, want *mem.Bus", tt.url, b)
			}
		})
	}
}

// message returns a message for topic with a fresh id.
func message(topic string) *bus.Message {
	return &bus.Message{ID: fmt.Sprintf("evt_%s_%d", topic, seq.Add(1)), Topic: topic, Payload: []byte("payload")}
}

var seq atomic.Int64

func subscribe(t *testing.T, b *mem.Bus, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) bus.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, group, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return sub
}

// Everything the bus started has ended once Close returns: a goroutine left
// behind in the bubble would deadlock it and fail the test.
func TestCloseLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		release := make(chan struct{})
		busy := func(ctx context.Context, _ *bus.Message) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		subscribe(t, b, "t", "busy", busy, bus.WithConcurrency(2))
		subscribe(t, b, "t", "quick", func(context.Context, *bus.Message) error { return nil })
		// A subscription that ended through its context before Close.
		ctx, cancel := context.WithCancel(t.Context())
		if _, err := b.Subscribe(ctx, "t", "cancelled", busy); err != nil {
			t.Fatal(err)
		}
		cancel()

		// Three publishers: two hold the busy group's handlers, the third
		// waits for a free one.
		results := make(chan error, 3)
		for range 3 {
			go func() { results <- b.Publish(t.Context(), message("t")) }()
		}
		synctest.Wait()
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for range 3 {
			if err := <-results; !errors.Is(err, mem.ErrClosed) {
				t.Errorf("Publish interrupted by Close = %v, want ErrClosed", err)
			}
		}
	})
}

// A nacked message comes back after the subscription's backoff, measured on
// the bubble's fake clock, so exactly.
func TestBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		defer b.Close()
		var calls []time.Time
		subscribe(t, b, "t", "g", func(context.Context, *bus.Message) error {
			calls = append(calls, time.Now())
			if len(calls) < 3 {
				return errors.New("not yet")
			}
			return nil
		}, bus.WithBackoff(time.Minute))

		if err := b.Publish(t.Context(), message("t")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if len(calls) != 3 {
			t.Fatalf("%d handler calls, want 3", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Sub(calls[i-1]); gap != time.Minute {
				t.Errorf("delivery %d came %v after the failed one, want the backoff of 1m", i+1, gap)
			}
		}
	})
}

// When every handler of a group is busy, Publish waits for one to free up
// instead of queueing the message.
func TestPublishBlocksWhileHandlersAreBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		defer b.Close()
		release := make(chan struct{})
		var started atomic.Int32
		subscribe(t, b, "t", "g", func(context.Context, *bus.Message) error {
			started.Add(1)
			<-release
			return nil
		}, bus.WithConcurrency(1))

		published := make(chan error, 2)
		for range 2 {
			go func() { published <- b.Publish(t.Context(), message("t")) }()
		}
		synctest.Wait()
		if got := started.Load(); got != 1 {
			t.Fatalf("%d handlers started with a concurrency of 1", got)
		}
		if len(published) != 0 {
			t.Fatal("a Publish returned while its message was neither handled nor refused")
		}

		release <- struct{}{}
		synctest.Wait()
		if got, n := started.Load(), len(published); got != 2 || n != 1 {
			t.Fatalf("after one handler finished: %d started, %d Publish returned; want 2 and 1", got, n)
		}
		release <- struct{}{}
		for range 2 {
			if err := <-published; err != nil {
				t.Errorf("Publish: %v", err)
			}
		}
	})
}

// A message being delivered to a group when the group's last subscriber
// leaves is acknowledged, as if the group had never subscribed; when the bus
// closes instead, Publish fails, so the outbox keeps the message.
func TestEndOfDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(b *mem.Bus, sub bus.Subscription) error
		want error
	}{
		{"group left", func(_ *mem.Bus, sub bus.Subscription) error { return sub.Close() }, nil},
		{"bus closed", func(b *mem.Bus, _ bus.Subscription) error { return b.Close() }, mem.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := mem.New()
				defer b.Close()
				// A handler that fails until its subscription ends.
				sub := subscribe(t, b, "t", "g", func(ctx context.Context, _ *bus.Message) error {
					<-ctx.Done()
					return ctx.Err()
				})
				published := make(chan error, 1)
				go func() { published <- b.Publish(t.Context(), message("t")) }()
				synctest.Wait()
				if err := tt.end(b, sub); err != nil {
					t.Fatal(err)
				}
				if err := <-published; !errors.Is(err, tt.want) {
					t.Fatalf("Publish = %v, want %v", err, tt.want)
				}
			})
		})
	}
}

// A panicking handler is a failed delivery, retried like any other.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		defer b.Close()
		var calls atomic.Int32
		subscribe(t, b, "t", "g", func(context.Context, *bus.Message) error {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return nil
		}, bus.WithBackoff(time.Second))
		if err := b.Publish(t.Context(), message("t")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if got := calls.Load(); got != 2 {
			t.Fatalf("%d handler calls, want 2 (the panic, then the retry)", got)
		}

		// A handler that always panics: the error Publish gives up with
		// says so.
		subscribe(t, b, "p", "g", func(context.Context, *bus.Message) error { panic("always") })
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err := b.Publish(ctx, message("p"))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "panicked") {
			t.Fatalf("Publish = %v, want the deadline and the panic", err)
		}
	})
}

// Each group handles its own copy of a message: one handler changing it
// affects neither another group nor the publisher.
func TestGroupsGetTheirOwnCopy(t *testing.T) {
	t.Parallel()
	b := mem.New()
	defer b.Close()
	changed := make(chan struct{})
	subscribe(t, b, "t", "changer", func(_ context.Context, m *bus.Message) error {
		m.Payload[0] = 'X'
		m.Metadata["k"] = "changed"
		close(changed)
		return nil
	})
	var seen bus.Message
	subscribe(t, b, "t", "reader", func(ctx context.Context, m *bus.Message) error {
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		seen = bus.Message{Payload: append([]byte(nil), m.Payload...), Metadata: map[string]string{"k": m.Metadata["k"]}}
		return nil
	})

	m := &bus.Message{ID: "evt_1", Topic: "t", Payload: []byte("payload"), Metadata: map[string]string{"k": "v"}}
	if err := b.Publish(t.Context(), m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if string(seen.Payload) != "payload" || seen.Metadata["k"] != "v" {
		t.Errorf("the other group saw payload %q and metadata %v, want them unchanged", seen.Payload, seen.Metadata)
	}
	if string(m.Payload) != "payload" || m.Metadata["k"] != "v" {
		t.Errorf("the publisher's message became payload %q and metadata %v, want it unchanged", m.Payload, m.Metadata)
	}
}

// Handlers run with the subscription's context: the values of the context
// given to Subscribe, and cancelled when the subscription ends.
func TestHandlerContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	b := mem.New()
	defer b.Close()
	var (
		mu   sync.Mutex
		hctx context.Context
	)
	sub, err := b.Subscribe(context.WithValue(t.Context(), key{}, "herald"), "t", "g", func(ctx context.Context, _ *bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		hctx = ctx
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), message("t")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := hctx.Value(key{}); got != "herald" {
		t.Errorf("handler context value = %v, want the subscriber's", got)
	}
	if hctx.Err() != nil {
		t.Fatalf("handler context ended while subscribed: %v", hctx.Err())
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if hctx.Err() == nil {
		t.Error("handler context still live after the subscription closed")
	}
}

func TestSubscribeWithEndedContext(t *testing.T) {
	t.Parallel()
	b := mem.New()
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	sub, err := b.Subscribe(ctx, "t", "g", func(context.Context, *bus.Message) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a cancelled context = %v, %v; want context.Canceled", sub, err)
	}
}

// BenchmarkPublish measures Publish with cheap handlers, one message per
// call as the outbox relay sends them, from as many goroutines as
// GOMAXPROCS: the relay publishes in parallel.
func BenchmarkPublish(b *testing.B) {
	for _, groups := range []int{1, 3} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			bs := mem.New()
			defer bs.Close()
			for g := range groups {
				if _, err := bs.Subscribe(b.Context(), "t", fmt.Sprint("g", g), func(context.Context, *bus.Message) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			m := &bus.Message{ID: "evt_bench", Topic: "t", Payload: make([]byte, 128)}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bs.Publish(b.Context(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
