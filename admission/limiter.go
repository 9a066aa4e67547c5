package admission

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// Priority orders work: when the limit is reached, Low work is refused
// first and queued Normal work is admitted before queued Low work.
type Priority int

const (
	// Low is work a user can simply retry: browsing (GET).
	Low Priority = iota
	// Normal is state-changing work (a post being scheduled).
	Normal
	// Critical is never refused: calls between services (a Publisher asking
	// for a due post's job) and health probes.
	Critical
)

// String names the priority for metrics and logs.
func (p Priority) String() string {
	switch p {
	case Low:
		return "low"
	case Normal:
		return "normal"
	default:
		return "critical"
	}
}

// ErrShed is returned for work refused now: the caller should retry later.
var ErrShed = errors.New("admission: over capacity, retry later")

// Config tunes a Limiter. Zero fields take the defaults of Default.
type Config struct {
	// Min and Max bound the limit; Initial is where it starts.
	Min, Max, Initial int
	// QueueSize is how much work may wait for a slot; Low work may fill
	// only half of it. QueueTimeout is how long one waits at most.
	QueueSize    int
	QueueTimeout time.Duration
	// Tolerance is how much slower than the baseline a window's average
	// may be before the limit shrinks (1.5: half as slow again).
	Tolerance float64
	// Window is how many finished pieces of work make one sample.
	Window int
	// MinLatency: a window averaging less is never too slow, whatever the
	// baseline. Without it, work of well under a millisecond, slowed by the
	// CPU that the refused requests themselves take, would drive the limit
	// to Min and refuse work the node could do (measured: goodput fell to a
	// quarter of capacity).
	MinLatency time.Duration
	// BaselinePeriod: the baseline is the fastest window of the last one
	// to two periods, so it follows a workload that became slower for good.
	BaselinePeriod time.Duration
	// SaturatedAfter: refusing work for this long, without a pause of as
	// long, makes the limiter report itself saturated.
	SaturatedAfter time.Duration
	// Now is the clock (tests give a fake one).
	Now func() time.Time
}

// Default is a configuration safe on a small (2-core) machine.
func Default() Config {
	return Config{
		Min: 16, Max: 256, Initial: 20,
		QueueSize: 32, QueueTimeout: 25 * time.Millisecond,
		Tolerance: 1.5, Window: 32, MinLatency: 5 * time.Millisecond,
		BaselinePeriod: 30 * time.Second, SaturatedAfter: time.Second,
		Now: time.Now,
	}
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.Min <= 0 {
		c.Min = d.Min
	}
	if c.Max <= 0 {
		c.Max = max(d.Max, c.Min)
	}
	if c.Max < c.Min {
		c.Max = c.Min
	}
	if c.Initial <= 0 {
		c.Initial = min(max(d.Initial, c.Min), c.Max)
	}
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.QueueSize < 0 {
		c.QueueSize = 0
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = d.QueueTimeout
	}
	if c.Tolerance <= 1 {
		c.Tolerance = d.Tolerance
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.MinLatency <= 0 {
		c.MinLatency = d.MinLatency
	}
	if c.BaselinePeriod <= 0 {
		c.BaselinePeriod = d.BaselinePeriod
	}
	if c.SaturatedAfter <= 0 {
		c.SaturatedAfter = d.SaturatedAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Limiter is an adaptive concurrency limit with a bounded priority queue.
// It is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu       sync.Mutex
	limit    float64
	inFlight int
	waiting  [2][]*waiter // Low, Normal; each first come first served

	// The current window of samples.
	samples     int
	sum         time.Duration
	maxInFlight int
	// The baseline: the fastest window average of this period and the last.
	cur, prev time.Duration
	periodEnd time.Time

	shed                  [3]int64
	streakStart, lastShed time.Time
}

type waiter struct {
	ready    chan struct{}
	admitted bool // set under mu before ready is closed; false: evicted
	done     bool // admitted or evicted
}

// New returns a limiter; zero fields of cfg take defaults.
func New(cfg Config) *Limiter {
	cfg = cfg.withDefaults()
	return &Limiter{cfg: cfg, limit: float64(cfg.Initial)}
}

// Token is one admitted piece of work; Done must be called once it ends.
type Token struct {
	l      *Limiter
	start  time.Time
	sample bool
}

// Acquire admits work of priority p now, after a short wait, or not at all
// (ErrShed; ctx's error when ctx ends while waiting).
func (l *Limiter) Acquire(ctx context.Context, p Priority) (Token, error) {
	l.mu.Lock()
	if p == Critical || l.inFlight < int(l.limit) {
		l.admitLocked()
		l.mu.Unlock()
		return l.token(p), nil
	}
	if !l.enqueueLocked(p) {
		l.shedLocked(p)
		l.mu.Unlock()
		return Token{}, ErrShed
	}
	w := &waiter{ready: make(chan struct{})}
	l.waiting[p] = append(l.waiting[p], w)
	l.mu.Unlock()

	t := time.NewTimer(l.cfg.QueueTimeout)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
	case <-t.C:
		err = ErrShed
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.done {
		if w.admitted {
			return l.token(p), nil
		}
		return Token{}, ErrShed // evicted by more important work, already counted
	}
	l.removeLocked(p, w)
	if err == ErrShed {
		l.shedLocked(p)
	}
	return Token{}, err
}

// enqueueLocked reports whether work of priority p may wait, making room
// for Normal work by evicting the newest waiting Low work.
func (l *Limiter) enqueueLocked(p Priority) bool {
	queued := len(l.waiting[Low]) + len(l.waiting[Normal])
	if p == Low {
		return queued < l.cfg.QueueSize && len(l.waiting[Low]) < max(l.cfg.QueueSize/2, 1)
	}
	if queued < l.cfg.QueueSize {
		return true
	}
	if n := len(l.waiting[Low]); n > 0 {
		w := l.waiting[Low][n-1]
		l.waiting[Low] = l.waiting[Low][:n-1]
		w.done = true
		l.shedLocked(Low)
		close(w.ready)
		return true
	}
	return false
}

func (l *Limiter) removeLocked(p Priority, w *waiter) {
	q := l.waiting[p]
	for i, x := range q {
		if x == w {
			l.waiting[p] = append(q[:i:i], q[i+1:]...)
			return
		}
	}
}

func (l *Limiter) admitLocked() {
	l.inFlight++
	l.maxInFlight = max(l.maxInFlight, l.inFlight)
}

func (l *Limiter) token(p Priority) Token {
	// Probes and calls between services are admitted whatever the limit:
	// their latency says nothing about the work the limit protects.
	return Token{l: l, start: l.cfg.Now(), sample: p != Critical}
}

func (l *Limiter) shedLocked(p Priority) {
	now := l.cfg.Now()
	l.shed[p]++
	if l.lastShed.IsZero() || now.Sub(l.lastShed) > l.cfg.SaturatedAfter {
		l.streakStart = now
	}
	l.lastShed = now
}

// Done ends the work, frees its slot and feeds its latency to the limit.
func (t Token) Done() {
	l := t.l
	if l == nil {
		return
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if t.sample {
		l.sampleLocked(now, now.Sub(t.start))
	}
	l.wakeLocked()
}

// wakeLocked hands free slots to waiting work, most important first.
func (l *Limiter) wakeLocked() {
	for l.inFlight < int(l.limit) {
		var w *waiter
		for p := Normal; p >= Low; p-- {
			if q := l.waiting[p]; len(q) > 0 {
				w, l.waiting[p] = q[0], q[1:]
				break
			}
		}
		if w == nil {
			return
		}
		w.done, w.admitted = true, true
		l.admitLocked()
		close(w.ready)
	}
}

func (l *Limiter) sampleLocked(now time.Time, rtt time.Duration) {
	l.samples++
	l.sum += rtt
	if l.samples < l.cfg.Window {
		return
	}
	avg := l.sum / time.Duration(l.samples)
	used := l.maxInFlight
	l.samples, l.sum, l.maxInFlight = 0, 0, l.inFlight
	l.update(now, avg, used)
}

// update moves the limit after one window whose average latency was avg and
// whose most work in flight at once was used.
func (l *Limiter) update(now time.Time, avg time.Duration, used int) {
	if now.After(l.periodEnd) {
		l.prev, l.cur, l.periodEnd = l.cur, 0, now.Add(l.cfg.BaselinePeriod)
	}
	if l.cur == 0 || avg < l.cur {
		l.cur = avg
	}
	base := l.cur
	if l.prev > 0 && l.prev < base {
		base = l.prev
	}
	threshold := max(time.Duration(float64(base)*l.cfg.Tolerance), l.cfg.MinLatency)
	switch {
	case avg > threshold:
		// Slower than tolerated: shrink in proportion, at most by half.
		g := math.Max(float64(threshold)/float64(avg), 0.5)
		l.limit = math.Max(float64(l.cfg.Min), l.limit*g)
	case float64(used) >= l.limit/2:
		// Fast and the limit is in use: there may be room for more.
		l.limit = math.Min(float64(l.cfg.Max), l.limit+math.Max(1, math.Sqrt(l.limit)))
	}
}

// Saturated reports whether the limiter has been refusing work for a while
// (SaturatedAfter, without a pause as long): a load balancer should send
// new work elsewhere. It clears a SaturatedAfter after the last refusal.
func (l *Limiter) Saturated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	return !l.lastShed.IsZero() && now.Sub(l.lastShed) <= l.cfg.SaturatedAfter &&
		now.Sub(l.streakStart) >= l.cfg.SaturatedAfter
}

// Stats is a snapshot of a limiter.
type Stats struct {
	Limit, InFlight, Queued int
	// Shed counts refused work by priority (Critical is always 0).
	Shed map[Priority]int64
	// Baseline is the latency the limit compares against.
	Baseline time.Duration
}

// Stats returns the limiter's current numbers.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := l.cur
	if l.prev > 0 && (base == 0 || l.prev < base) {
		base = l.prev
	}
	return Stats{
		Limit: int(l.limit), InFlight: l.inFlight,
		Queued:   len(l.waiting[Low]) + len(l.waiting[Normal]),
		Shed:     map[Priority]int64{Low: l.shed[Low], Normal: l.shed[Normal], Critical: l.shed[Critical]},
		Baseline: base,
	}
}

// RetryAfter is how long a refused caller should wait before trying again.
func (l *Limiter) RetryAfter() time.Duration {
	if l.Saturated() {
		return 2 * time.Second
	}
	return time.Second
}
