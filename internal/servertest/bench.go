package servertest

import (
	"sync/atomic"
	"testing"
)

// Parallelism is how many goroutines per CPU a benchmark runs: a node
// serving requests has many calls waiting on the network at once, so a
// cache's throughput is measured with as many in flight.
const Parallelism = 16

// Ops runs op b.N times from Parallelism goroutines per CPU and reports the
// throughput as ops/s, the figure BENCHMARKS.md compares between an adapter
// and its raw client. i numbers the calls from 0, for picking keys.
func Ops(b *testing.B, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(next.Add(1) - 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
