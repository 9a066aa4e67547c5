package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is the limiter's clock in tests: latency is what the test says,
// whatever the machine is doing.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// round runs k pieces of work at once, each taking d by the fake clock.
func round(t *testing.T, l *Limiter, clk *fakeClock, k int, d time.Duration) {
	t.Helper()
	toks := make([]Token, 0, k)
	for range k {
		tok, err := l.Acquire(context.Background(), Low)
		if err != nil {
			t.Fatalf("acquire within the limit: %v", err)
		}
		toks = append(toks, tok)
	}
	clk.Advance(d)
	for _, tok := range toks {
		tok.Done()
	}
}

func TestLimitFollowsLatency(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{Min: 2, Max: 200, Initial: 10, Window: 10, Now: clk.Now})

	// Fast work using the whole limit: the limit grows.
	for range 30 {
		round(t, l, clk, l.Stats().Limit, time.Millisecond)
	}
	grown := l.Stats().Limit
	if grown <= 10 {
		t.Fatalf("limit after fast, busy windows = %d, want more than the initial 10", grown)
	}

	// Latency rises well past the tolerance: the limit shrinks, not below Min.
	for range 30 {
		round(t, l, clk, min(l.Stats().Limit, 10), 10*time.Millisecond)
	}
	shrunk := l.Stats().Limit
	if shrunk >= grown {
		t.Fatalf("limit after slow windows = %d, want less than %d", shrunk, grown)
	}
	if shrunk < 2 {
		t.Fatalf("limit %d fell below Min 2", shrunk)
	}

	// Latency falls back: the limit grows again.
	for range 30 {
		round(t, l, clk, l.Stats().Limit, time.Millisecond)
	}
	if again := l.Stats().Limit; again <= shrunk {
		t.Fatalf("limit after recovery = %d, want more than %d", again, shrunk)
	}
	if b := l.Stats().Baseline; b != time.Millisecond {
		t.Fatalf("baseline = %v, want the fast windows' 1ms", b)
	}
}

func TestLimitDoesNotGrowUnused(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{Min: 2, Max: 200, Initial: 10, Window: 10, Now: clk.Now})
	for range 50 {
		round(t, l, clk, 1, time.Millisecond) // fast but one at a time
	}
	if got := l.Stats().Limit; got != 10 {
		t.Fatalf("limit after idle windows = %d, want it left at 10", got)
	}
}

func TestLimitCannotExceedMax(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{Min: 1, Max: 12, Initial: 10, Window: 5, Now: clk.Now})
	for range 50 {
		round(t, l, clk, l.Stats().Limit, time.Millisecond)
	}
	if got := l.Stats().Limit; got != 12 {
		t.Fatalf("limit = %d, want Max 12", got)
	}
}

// acquireAsync starts an Acquire that is expected to wait.
func acquireAsync(l *Limiter, p Priority) chan error {
	ch := make(chan error, 1)
	go func() {
		tok, err := l.Acquire(context.Background(), p)
		if err == nil {
			defer tok.Done()
		}
		ch <- err
	}()
	return ch
}

func waitQueued(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Queued != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued = %d, want %d", l.Stats().Queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueBoundsAndPriorities(t *testing.T) {
	l := New(Config{Min: 2, Max: 2, Initial: 2, QueueSize: 2, QueueTimeout: time.Minute})
	a, _ := l.Acquire(context.Background(), Low)
	b, _ := l.Acquire(context.Background(), Normal)

	low := acquireAsync(l, Low)
	waitQueued(t, l, 1)
	// Low work may fill only half the queue: the next is refused at once.
	if _, err := l.Acquire(context.Background(), Low); !errors.Is(err, ErrShed) {
		t.Fatalf("second low while the low half is full: %v, want ErrShed", err)
	}
	normal1 := acquireAsync(l, Normal)
	waitQueued(t, l, 2)
	// The queue is full: a change evicts the newest waiting browse.
	normal2 := acquireAsync(l, Normal)
	if err := <-low; !errors.Is(err, ErrShed) {
		t.Fatalf("evicted low: %v, want ErrShed", err)
	}
	waitQueued(t, l, 2)
	// Full of changes: another change is refused.
	if _, err := l.Acquire(context.Background(), Normal); !errors.Is(err, ErrShed) {
		t.Fatalf("normal with a queue full of normals: %v, want ErrShed", err)
	}
	// Critical work is never refused, over the limit or not.
	c, err := l.Acquire(context.Background(), Critical)
	if err != nil {
		t.Fatalf("critical: %v", err)
	}
	if s := l.Stats(); s.InFlight != 3 {
		t.Fatalf("in flight with the critical call = %d, want 3", s.InFlight)
	}
	c.Done()
	a.Done()
	b.Done()
	for _, ch := range []chan error{normal1, normal2} {
		if err := <-ch; err != nil {
			t.Fatalf("queued normal after slots freed: %v", err)
		}
	}
	s := l.Stats()
	if s.Shed[Low] != 2 || s.Shed[Normal] != 1 || s.Shed[Critical] != 0 {
		t.Fatalf("shed = %v, want low 2, normal 1, critical 0", s.Shed)
	}
	if s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("after all done: %+v", s)
	}
}

func TestQueuedWorkPrefersChanges(t *testing.T) {
	l := New(Config{Min: 1, Max: 1, Initial: 1, QueueSize: 4, QueueTimeout: time.Minute})
	a, _ := l.Acquire(context.Background(), Low)
	order := make(chan Priority, 2)
	for _, p := range []Priority{Low, Normal} { // the browse queues first
		go func() {
			tok, err := l.Acquire(context.Background(), p)
			if err != nil {
				t.Error(err)
				return
			}
			order <- p
			tok.Done()
		}()
		waitQueued(t, l, int(p)+1)
	}
	a.Done()
	if first := <-order; first != Normal {
		t.Fatalf("first admitted from the queue: %v, want normal", first)
	}
	<-order
}

func TestQueueTimeoutSheds(t *testing.T) {
	l := New(Config{Min: 1, Max: 1, Initial: 1, QueueSize: 4, QueueTimeout: 5 * time.Millisecond})
	a, _ := l.Acquire(context.Background(), Low)
	defer a.Done()
	if _, err := l.Acquire(context.Background(), Normal); !errors.Is(err, ErrShed) {
		t.Fatalf("waiting past the queue timeout: %v, want ErrShed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx, Normal); !errors.Is(err, context.Canceled) {
		t.Fatalf("caller gone: %v, want context.Canceled", err)
	}
	if s := l.Stats(); s.Queued != 0 || s.Shed[Normal] != 1 {
		t.Fatalf("stats %+v: want an empty queue and one shed (a gone caller is not shed)", s)
	}
}

func TestSaturatedWhileSheddingAndAfter(t *testing.T) {
	clk := newFakeClock()
	l := New(Config{Min: 1, Max: 1, Initial: 1, QueueSize: 0, SaturatedAfter: time.Second, Now: clk.Now})
	a, _ := l.Acquire(context.Background(), Low)
	shed := func() {
		if _, err := l.Acquire(context.Background(), Low); !errors.Is(err, ErrShed) {
			t.Fatalf("over the limit with no queue: %v", err)
		}
	}
	shed()
	if l.Saturated() {
		t.Fatal("saturated at the first refusal: a blip must not fail readiness")
	}
	for range 15 {
		clk.Advance(100 * time.Millisecond)
		shed()
	}
	if !l.Saturated() {
		t.Fatal("not saturated after refusing for 1.5s")
	}
	if l.RetryAfter() < time.Second {
		t.Fatalf("retry after %v", l.RetryAfter())
	}
	a.Done()
	clk.Advance(1100 * time.Millisecond)
	if l.Saturated() {
		t.Fatal("still saturated 1.1s after the last refusal")
	}
}
