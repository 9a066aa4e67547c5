package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
)

func msg(i int) *bus.Message {
	return &bus.Message{ID: fmt.Sprintf("m%d", i), Topic: "t", Payload: []byte{byte(i)}}
}

// handleAll calls h.Handle for n messages at once and returns each one's
// result by index.
func handleAll(ctx context.Context, b *bus.Batcher, n int) []error {
	out := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = b.Handle(ctx, msg(i)) })
	}
	wg.Wait()
	return out
}

// Messages arriving while a batch is handled form the next batch, at most
// MaxBatch, and each call gets its own message's result.
func TestBatcherBatchesAndReportsPerMessage(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int
	seen := map[string]int{}
	release := make(chan struct{})
	first := true
	b := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		mu.Lock()
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-release // the others queue up meanwhile
		}
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(msgs))
		errs := make([]error, len(msgs))
		for i, m := range msgs {
			seen[m.ID]++
			if m.Payload[0]%5 == 0 {
				errs[i] = fmt.Errorf("refusing %s", m.ID)
			}
		}
		return errs
	}, bus.BatchOptions{MaxBatch: 16})

	const n = 41
	results := make(chan error, n)
	var wg sync.WaitGroup
	wg.Go(func() { results <- b.Handle(t.Context(), msg(1)) }) // leads, and waits in the handler
	time.Sleep(20 * time.Millisecond)
	errsByID := make([]error, n)
	for i := 2; i <= n; i++ {
		wg.Go(func() { errsByID[i-1] = b.Handle(t.Context(), msg(i)) })
	}
	time.Sleep(200 * time.Millisecond) // all queued, on all but a very busy machine
	close(release)
	wg.Wait()
	if err := <-results; err != nil {
		t.Errorf("m1: %v", err)
	}
	for i := 2; i <= n; i++ {
		err := errsByID[i-1]
		if want := i%5 == 0; (err != nil) != want {
			t.Errorf("m%d: error %v, want one: %v", i, err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, s := range sizes {
		if s > 16 {
			t.Errorf("a batch of %d, want at most 16", s)
		}
		total += s
	}
	if total != n || len(seen) != n {
		t.Errorf("handled %d messages (%d distinct), want %d once each", total, len(seen), n)
	}
	// One, then the 40 queued in batches of at most 16 (16, 16 and 8 when
	// all had queued by the time the first batch ended).
	if len(sizes) < 4 || sizes[0] != 1 || len(sizes) > n/2 {
		t.Errorf("batch sizes %v, want 1 first and the rest in batches (16, 16, 8)", sizes)
	}
}

// With MaxWait a lone message waits for company; a full batch does not.
func TestBatcherMaxWait(t *testing.T) {
	t.Parallel()
	var sizes []int
	var mu sync.Mutex
	b := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		mu.Lock()
		sizes = append(sizes, len(msgs))
		mu.Unlock()
		return nil
	}, bus.BatchOptions{MaxBatch: 4, MaxWait: time.Second})
	start := time.Now()
	for _, err := range handleAll(t.Context(), b, 4) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("a full batch took %v, want it handled without waiting out MaxWait", d)
	}
	start = time.Now()
	if err := b.Handle(t.Context(), msg(9)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("a lone message was handled after %v, want it to wait about MaxWait", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) == 0 || sizes[len(sizes)-1] != 1 {
		t.Errorf("batch sizes %v, want the lone message last, alone", sizes)
	}
}

// A handler that panics, or miscounts its results, fails every message of
// the batch (each is redelivered) and the Batcher goes on working.
func TestBatcherHandlerFailures(t *testing.T) {
	t.Parallel()
	var mode atomic.Int32
	b := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		switch mode.Load() {
		case 1:
			panic("boom")
		case 2:
			return []error{nil}[:0]
		}
		return nil
	}, bus.BatchOptions{})

	mode.Store(1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the handler's panic did not reach the leading call")
			}
		}()
		_ = b.Handle(t.Context(), msg(1))
	}()
	mode.Store(2)
	for i, err := range handleAll(t.Context(), b, 5) {
		if err == nil {
			t.Errorf("m%d acknowledged although the handler returned no result for it", i)
		}
	}
	mode.Store(0)
	for i, err := range handleAll(t.Context(), b, 20) {
		if err != nil {
			t.Errorf("m%d after the failures: %v", i, err)
		}
	}
}

// A message whose delivery context has ended is not handled and not
// acknowledged.
func TestBatcherSkipsEndedContexts(t *testing.T) {
	t.Parallel()
	var handled atomic.Int32
	b := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		handled.Add(int32(len(msgs)))
		return nil
	}, bus.BatchOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Handle(ctx, msg(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Handle with an ended context = %v, want context.Canceled", err)
	}
	if handled.Load() != 0 {
		t.Error("a message with an ended context was handled")
	}
}

// Several workers: every message is handled exactly once, no more
// batches run at once than Workers (run with -race).
func TestBatcherWorkers(t *testing.T) {
	t.Parallel()
	var running, most, total atomic.Int32
	b := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		total.Add(int32(len(msgs)))
		running.Add(-1)
		return nil
	}, bus.BatchOptions{MaxBatch: 8, Workers: 3})
	for _, err := range handleAll(t.Context(), b, 500) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if total.Load() != 500 {
		t.Errorf("%d messages handled, want 500", total.Load())
	}
	if most.Load() > 3 {
		t.Errorf("%d batches at once, want at most 3", most.Load())
	}
}

// Over a real bus: every message is delivered, batched, and one the
// batch handler refuses is redelivered until it is taken.
func TestBatcherOverTheBus(t *testing.T) {
	t.Parallel()
	b := mem.New()
	t.Cleanup(func() { _ = b.Close() })
	var mu sync.Mutex
	got := map[string]int{}
	refused := map[string]bool{}
	biggest := 0
	var calls atomic.Int32
	batcher := bus.NewBatcher(func(ctx context.Context, msgs []*bus.Message) []error {
		if calls.Add(1) == 1 {
			time.Sleep(50 * time.Millisecond) // the other deliveries queue up meanwhile
		}
		mu.Lock()
		defer mu.Unlock()
		biggest = max(biggest, len(msgs))
		errs := make([]error, len(msgs))
		for i, m := range msgs {
			if m.Payload[0]%7 == 0 && !refused[m.ID] {
				refused[m.ID] = true
				errs[i] = errors.New("not yet")
				continue
			}
			got[m.ID]++
		}
		return errs
	}, bus.BatchOptions{MaxBatch: 32})
	sub, err := b.Subscribe(t.Context(), "t", "g", batcher.Handle, bus.WithConcurrency(32), bus.WithBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var msgs []*bus.Message
	for i := range 200 {
		msgs = append(msgs, msg(i))
	}
	if err := b.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if got[m.ID] != 1 {
			t.Errorf("%s handled %d times, want once", m.ID, got[m.ID])
		}
	}
	if biggest < 2 {
		t.Errorf("largest batch %d: the deliveries were never batched", biggest)
	}
}
