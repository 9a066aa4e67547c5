package trigger

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Stats is what an engine did since it was created.
type Stats struct {
	// Fired counts schedules this node fired.
	Fired int64
	// Stale counts in-memory entries that did not fire because the database
	// said otherwise (moved, cancelled or fired elsewhere meanwhile).
	Stale int64
	// Fenced counts entries not fired because their shard had passed to a
	// newer lock holder.
	Fenced int64
	// FireFailures counts fire transactions that failed and were retried
	// (the store refused or was unreachable).
	FireFailures int64
	// InMemory is how many schedules are held in memory now; PeakInMemory
	// the most at any time.
	InMemory     int
	PeakInMemory int
	// OwnedShards is how many shards this node owns now.
	OwnedShards int
	// Lateness is fired_at - due_at of recent fires.
	Lateness Lateness
	// Feeds is what the feed poller did.
	Feeds FeedStats
}

// Lateness summarises fired_at - due_at. P50 and P99 are over the most
// recent fires (up to latenessWindow of them); Max is over all of them.
type Lateness struct {
	Count         int64
	P50, P99, Max time.Duration
}

// latenessWindow bounds the samples kept, so stats use fixed memory.
const latenessWindow = 1 << 16

// latencies is a ring of recent lateness samples.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
	next    int
	count   int64
	max     time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < latenessWindow {
		l.samples = append(l.samples, d)
	} else {
		l.samples[l.next] = d
		l.next = (l.next + 1) % latenessWindow
	}
	l.count++
	l.max = max(l.max, d)
}

func (l *latencies) summary() Lateness {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	out := Lateness{Count: l.count, Max: l.max}
	l.mu.Unlock()
	if len(s) == 0 {
		return out
	}
	slices.Sort(s)
	out.P50 = quantile(s, 0.50)
	out.P99 = quantile(s, 0.99)
	return out
}

// quantile returns the nearest-rank q-quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
