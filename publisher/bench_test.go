package publisher

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// BenchmarkPostDue measures post.due events, delivered all at once through
// the in-process bus, until every post.published is out: a Publisher over a
// SQLite file and a fake network. For the 10,000-post case:
//
//	go test -run '^$' -bench PostDue -benchtime 10000x ./publisher/
func BenchmarkPostDue(b *testing.B) {
	benchmarkPostDue(b, setup(b, setupOptions{cfg: func(c *Config) { c.Concurrency = 64 }}))
}

// BenchmarkPostDueSlowNetwork is BenchmarkPostDue with the default
// configuration and a network answering each publish 50 ms late:
//
//	go test -run '^$' -bench PostDueSlowNetwork -benchtime 10000x ./publisher/
func BenchmarkPostDueSlowNetwork(b *testing.B) {
	net := newFakeNetwork("mastodon")
	net.latency = 50 * time.Millisecond
	benchmarkPostDue(b, setup(b, setupOptions{cfg: func(c *Config) { c.Concurrency = DefaultConfig().Concurrency }, net: net}))
}

func benchmarkPostDue(b *testing.B, tb *bundle) {
	jobs := make([]*portalv1.PublishJob, b.N)
	for i := range jobs {
		jobs[i] = job("agency_a", id.New("post"), 1, "hi", fmt.Sprintf("acct_%d", i%50))
		tb.portal.set(jobs[i], true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if err := tb.due(ctx, id.New("evt"), j, time.Now()); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for len(tb.events.Published()) < b.N {
		if ctx.Err() != nil {
			b.Fatalf("%d of %d published", len(tb.events.Published()), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
