package brokertest

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The shape of every bus benchmark, for the adapter and for its raw client
// alike, so that their figures compare.
const (
	// PayloadSize is the size of a benchmark event.
	PayloadSize = 1024
	// BenchBatch is how many events one Publish call carries, as the outbox
	// relay sends them.
	BenchBatch = 50
	// BenchPublishers publish at once.
	BenchPublishers = 4
	// BenchConcurrency is the subscriber's handler concurrency, and the
	// raw consumer's prefetch.
	BenchConcurrency = 16
	// benchTimeout bounds one benchmark run.
	benchTimeout = 5 * time.Minute
)

// Pipeline is one publish-to-consume path to measure.
type Pipeline struct {
	// Publish publishes a batch of payloads and returns once the broker
	// has taken them all.
	Publish func(ctx context.Context, payloads [][]byte) error
	// Subscribe starts handing every payload published afterwards to
	// deliver, and returns when it is ready; stop ends it.
	Subscribe func(ctx context.Context, deliver func(payload []byte)) (stop func(), err error)
}

// Load is how a benchmark publishes.
type Load struct {
	// Publishers publish at once, each Batch events per Publish call.
	Publishers, Batch int
	// Rate paces publishing to this many events per second in all; zero
	// publishes as fast as the broker takes them.
	Rate int
}

// The two loads BENCHMARKS.md quotes: as fast as the broker takes them,
// for throughput; and a steady rate well below that, for the latency of an
// event that does not queue behind thousands of others.
var (
	Saturated = Load{Publishers: BenchPublishers, Batch: BenchBatch}
	Steady    = Load{Publishers: BenchPublishers, Batch: 1, Rate: 500}
)

// Run runs Measure under each load as a sub-benchmark named after it.
func Run(b *testing.B, p Pipeline) {
	b.Run("saturated", func(b *testing.B) { Measure(b, p, Saturated) })
	b.Run("steady-500/s", func(b *testing.B) { Measure(b, p, Steady) })
}

// Measure publishes b.N events of PayloadSize bytes through p under load,
// and reports the throughput of the whole publish-to-handler path (msgs/s)
// and the p99 of each event's latency from just before its Publish to its
// handler (p99-ms).
func Measure(b *testing.B, p Pipeline, load Load) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	n := b.N
	var (
		lat  Latencies
		got  atomic.Int64
		all  = make(chan struct{})
		once sync.Once
	)
	stop, err := p.Subscribe(ctx, func(payload []byte) {
		if len(payload) >= 8 {
			lat.Add(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(payload)))))
		}
		if got.Add(1) >= int64(n) {
			once.Do(func() { close(all) })
		}
	})
	if err != nil {
		b.Fatalf("subscribing: %v", err)
	}
	defer stop()

	batches := make(chan int)
	go func() {
		defer close(batches)
		var tick <-chan time.Time
		if load.Rate > 0 {
			t := time.NewTicker(time.Second * time.Duration(load.Batch) / time.Duration(load.Rate))
			defer t.Stop()
			tick = t.C
		}
		for left := n; left > 0; left -= load.Batch {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case batches <- min(left, load.Batch):
			case <-ctx.Done():
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, load.Publishers)
	for range load.Publishers {
		wg.Go(func() {
			for size := range batches {
				payloads := make([][]byte, size)
				now := time.Now().UnixNano()
				for i := range payloads {
					payloads[i] = binary.BigEndian.AppendUint64(make([]byte, 0, PayloadSize), uint64(now))
					payloads[i] = payloads[i][:PayloadSize]
				}
				if err := p.Publish(ctx, payloads); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatalf("publishing: %v", err)
	}
	select {
	case <-all:
	case <-ctx.Done():
		b.Fatalf("%d of %d events arrived within %v", got.Load(), n, benchTimeout)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, n, elapsed, &lat)
}

// Latencies collects publish-to-handler latencies. It is safe for
// concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Quantile returns the q-quantile (0.99 for p99) of what was recorded, 0
// when nothing was.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// report adds the figures BENCHMARKS.md quotes: messages per second through
// the whole publish-to-handler path, and the p99 latency in milliseconds.
func report(b *testing.B, msgs int, elapsed time.Duration, l *Latencies) {
	if elapsed > 0 {
		b.ReportMetric(float64(msgs)/elapsed.Seconds(), "msgs/s")
	}
	b.ReportMetric(float64(l.Quantile(0.99).Microseconds())/1000, "p99-ms")
}
