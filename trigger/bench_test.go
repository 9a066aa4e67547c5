package trigger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// countingBus only counts post.due events and notes how late each reached
// it, so the benchmark measures Trigger and its outbox, not a consumer.
type countingBus struct {
	mu      sync.Mutex
	seen    map[string]bool
	arrived []time.Duration
}

func (c *countingBus) Publish(_ context.Context, msgs ...*bus.Message) error {
	now := time.Now()
	for _, m := range msgs {
		ev := &eventsv1.PostDue{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			return err
		}
		c.mu.Lock()
		if !c.seen[m.ID] {
			c.seen[m.ID] = true
			c.arrived = append(c.arrived, now.Sub(ev.GetDueAt().AsTime()))
		}
		c.mu.Unlock()
	}
	return nil
}

func (c *countingBus) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.arrived)
}

func (c *countingBus) Subscribe(context.Context, string, string, bus.Handler, ...bus.SubscribeOption) (bus.Subscription, error) {
	return fakeSub(func() {}), nil
}
func (c *countingBus) Features() bus.Features     { return bus.Features{} }
func (c *countingBus) Ping(context.Context) error { return nil }
func (c *countingBus) Close() error               { return nil }

// burst is one lateness measurement: N one-shot schedules due within
// Window (all at one instant when Window is 0), created through Schedule
// ahead of time, fired by one engine on a fresh store.
type burst struct {
	N      int
	Window time.Duration
	// Lead is how far ahead of the window the schedules are created; it
	// must cover the time creating them takes.
	Lead time.Duration
	// Backlog is how many other pending schedules, due days later, the
	// database holds: lateness and memory must not grow with it.
	Backlog int
}

type burstResult struct {
	// Fired is fired_at - due_at as the engine recorded it.
	Fired Lateness
	// Arrived is when each post.due reached the bus, minus its due_at: it
	// adds the outbox relay.
	Arrived Lateness
	// Created is how long creating the schedules took.
	Created time.Duration
	Peak    int
}

func measureBurst(tb testing.TB, d store.Dialect, p burst) burstResult {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URLFor(tb, d))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	cb := &countingBus{seen: map[string]bool{}}
	s, err := New(DefaultConfig(), Deps{DB: db, Bus: cb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if p.Backlog > 0 {
		// Written straight to the table: going through Schedule would only
		// make the benchmark slower to set up.
		later := store.ToMicros(time.Now().Add(72 * time.Hour))
		if _, err := db.Exec(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO trigger_schedules (tenant_id, id, post_id, revision, zone, due_at, shard, state, version, created_at, updated_at)
			SELECT 'tnt_backlog', 'sched_' || i, 'post_' || i, 1, 'UTC', CAST(? AS BIGINT) + i, i % ?, 'pending', 1, 0, 0 FROM n`,
			p.Backlog, later, s.cfg.Shards); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	defer s.Close()

	began := time.Now()
	first := began.Add(p.Lead)
	// Several callers at once, as the Portal's requests are: a server
	// store commits them together, where one caller would wait for each
	// commit in turn.
	const callers = 8
	var wg sync.WaitGroup
	errc := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			for i := c; i < p.N; i += callers {
				at := first
				if p.Window > 0 {
					at = first.Add(time.Duration(i) * p.Window / time.Duration(p.N))
				}
				if _, err := s.Schedule(ctx, scheduleReq("tnt_bench", fmt.Sprintf("sched_%06d", i), at)); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	created := time.Since(began)
	if time.Now().After(first) {
		tb.Fatalf("creating %d schedules took %v, longer than the lead %v: raise it", p.N, created, p.Lead)
	}
	deadline := first.Add(p.Window + time.Minute)
	for cb.count() < p.N {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d post.due reached the bus", cb.count(), p.N)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := s.Stats()
	if st.Fired != int64(p.N) {
		tb.Fatalf("fired %d, want %d", st.Fired, p.N)
	}
	cb.mu.Lock()
	arrived := slices.Clone(cb.arrived)
	cb.mu.Unlock()
	slices.Sort(arrived)
	return burstResult{
		Fired: st.Lateness,
		Arrived: Lateness{
			Count: int64(len(arrived)), P50: quantile(arrived, 0.5), P99: quantile(arrived, 0.99), Max: arrived[len(arrived)-1],
		},
		Created: created,
		Peak:    st.PeakInMemory,
	}
}

// BenchmarkOneShotBurst measures lateness for 10,000 one-shot posts due
// within the same 10 seconds, and due at one instant, on SQLite and on
// PostgreSQL (skipped when the test server does not answer): the
// claim-and-fire path, one transaction per chunk of due schedules, is what
// the store carries. Each run takes about 20 seconds; run it once:
//
//	go test -run '^$' -bench OneShotBurst -benchtime 1x ./trigger/
func BenchmarkOneShotBurst(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) { benchmarkOneShotBurst(b, d) })
	}
}

func benchmarkOneShotBurst(b *testing.B, d store.Dialect) {
	for _, p := range []struct {
		name string
		burst
	}{
		{"10k_in_10s", burst{N: 10_000, Window: 10 * time.Second, Lead: 8 * time.Second}},
		{"10k_same_instant", burst{N: 10_000, Lead: 8 * time.Second}},
		{"10k_in_10s_over_1M_backlog", burst{N: 10_000, Window: 10 * time.Second, Lead: 8 * time.Second, Backlog: 1_000_000}},
	} {
		b.Run(p.name, func(b *testing.B) {
			var r burstResult
			for b.Loop() {
				r = measureBurst(b, d, p.burst)
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(r.Fired.P50), "fired-p50-ms")
			b.ReportMetric(ms(r.Fired.P99), "fired-p99-ms")
			b.ReportMetric(ms(r.Fired.Max), "fired-max-ms")
			b.ReportMetric(ms(r.Arrived.P99), "arrived-p99-ms")
			b.ReportMetric(ms(r.Arrived.Max), "arrived-max-ms")
			b.ReportMetric(float64(r.Peak), "peak-in-memory")
			b.Logf("%s: created in %v; fired_at-due_at p50 %v p99 %v max %v; on the bus p50 %v p99 %v max %v; peak in memory %d",
				string(d)+"/"+p.name, r.Created, r.Fired.P50, r.Fired.P99, r.Fired.Max, r.Arrived.P50, r.Arrived.P99, r.Arrived.Max, r.Peak)
		})
	}
}

type fakeSub func()

func (f fakeSub) Close() error { f(); return nil }
