package trigger

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"syscall"
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

// firesBus keeps, for every post.due that reached it, when it was due,
// when the engine fired it and when it arrived; deduplicated by event id,
// as a consumer would.
type firesBus struct {
	countingBus
	fired []firing
}

type firing struct{ due, fired, arrived time.Time }

func (f *firesBus) Publish(_ context.Context, msgs ...*bus.Message) error {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		if f.seen[m.ID] {
			continue
		}
		ev := &eventsv1.PostDue{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			return err
		}
		f.seen[m.ID] = true
		f.fired = append(f.fired, firing{due: ev.GetDueAt().AsTime(), fired: ev.GetFiredAt().AsTime(), arrived: now})
	}
	return nil
}

func (f *firesBus) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fired)
}

// fireLoad is one run of the figures of issue 4: N schedules written
// straight to the table (creating them through Schedule is not what is
// measured), fired by one engine on a fresh store.
type fireLoad struct {
	N int
	// Window spreads one-shot due instants uniformly over it; 0 puts them
	// all at one instant.
	Window time.Duration
	// Minutes > 0 makes the schedules recurring, FREQ=MINUTELY for that
	// many occurrences, their start seconds spread over a minute (rules
	// have whole-second wall times).
	Minutes int
	// Lead is how far ahead of the first due instant the engine starts.
	Lead time.Duration
	// Backlog is how many other pending schedules, due days later, the
	// table holds.
	Backlog int
}

type fireResult struct {
	Fires int
	// Fired is fired_at - due_at as each post.due carries it; Early counts
	// fires before their due instant (there must be none).
	Fired   Lateness
	Early   int
	Arrived Lateness
	// Drain is from the earliest due instant to the last fire.
	Drain time.Duration
	// Heap is the Go heap in use once everything fired, after a GC.
	Heap uint64
	// CPU is the process's CPU time (user and system) from the first due
	// instant to the last event on the bus: with SQLite it includes the
	// store. On a shared machine it says more than the drain time.
	CPU  time.Duration
	Peak int
}

func measureFires(tb testing.TB, d store.Dialect, p fireLoad) fireResult {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URLFor(tb, d))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	fb := &firesBus{countingBus: countingBus{seen: map[string]bool{}}}
	s, err := New(DefaultConfig(), Deps{DB: db, Bus: fb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	insert := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.Exec(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO trigger_schedules (tenant_id, id, post_id, revision, zone, due_at, shard, state, version, created_at, updated_at,
				kind, rrule, start_local) `+q, args...); err != nil {
			tb.Fatal(err)
		}
	}
	if p.Backlog > 0 {
		later := store.ToMicros(time.Now().Add(72 * time.Hour))
		insert(`SELECT 'tnt_backlog', 'sched_' || i, 'post_' || i, 1, 'UTC', CAST(? AS BIGINT) + i, i % ?, 'pending', 1, 0, 0, 'once', '', '' FROM n`,
			p.Backlog-1, later, s.cfg.Shards)
	}
	// The first due instant, on a whole second so recurring starts are
	// exact wall times.
	first := time.Now().Add(p.Lead).Truncate(time.Second).Add(time.Second)
	occurrences := 1
	if p.Minutes > 0 {
		occurrences = p.Minutes
		// Schedule i starts at second i%60 of the first minute; its
		// start_local is that instant's UTC wall time.
		rows := make([]string, 60)
		for sec := range rows {
			rows[sec] = first.Add(time.Duration(sec) * time.Second).UTC().Format(localLayout)
		}
		for sec, wall := range rows {
			count := (p.N - sec + 59) / 60
			if count <= 0 {
				continue
			}
			insert(`SELECT 'tnt_bench', 'sched_'`+fmt.Sprintf(" || '%02d_' || i", sec)+`, 'post_' || i, 1, 'UTC', CAST(? AS BIGINT), (i * 60 + ?) % ?, 'pending', 1, 0, 0,
				'rrule', ?, ? FROM n`,
				count-1, store.ToMicros(first.Add(time.Duration(sec)*time.Second)), sec, s.cfg.Shards,
				fmt.Sprintf("FREQ=MINUTELY;COUNT=%d", p.Minutes), wall)
		}
	} else {
		// Due instants spread evenly over the window, to the microsecond.
		step := p.Window.Microseconds() / int64(p.N)
		insert(`SELECT 'tnt_bench', 'sched_' || i, 'post_' || i, 1, 'UTC', CAST(? AS BIGINT) + i * ?, i % ?, 'pending', 1, 0, 0, 'once', '', '' FROM n`,
			p.N-1, store.ToMicros(first), step, s.cfg.Shards)
	}
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	if time.Now().After(first) {
		tb.Fatalf("starting the engine took until past the first due instant: raise the lead (%v)", p.Lead)
	}
	want := p.N * occurrences
	time.Sleep(time.Until(first))
	cpu0 := cpuTime(tb)
	deadline := first.Add(p.Window + time.Duration(p.Minutes)*time.Minute + 2*time.Minute)
	for fb.count() < want {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d post.due reached the bus", fb.count(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuTime(tb) - cpu0
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := s.Stats()
	fb.mu.Lock()
	fires := slices.Clone(fb.fired)
	fb.mu.Unlock()
	if st.Fired != int64(want) || len(fires) != want {
		tb.Fatalf("fired %d, %d events on the bus, want %d", st.Fired, len(fires), want)
	}
	r := fireResult{Fires: want, Heap: ms.HeapInuse, Peak: st.PeakInMemory, CPU: cpu}
	fired := make([]time.Duration, len(fires))
	arrived := make([]time.Duration, len(fires))
	var lastFire time.Time
	for i, f := range fires {
		fired[i], arrived[i] = f.fired.Sub(f.due), f.arrived.Sub(f.due)
		if fired[i] < 0 {
			r.Early++
		}
		if f.fired.After(lastFire) {
			lastFire = f.fired
		}
	}
	r.Drain = lastFire.Sub(first)
	summary := func(ds []time.Duration) Lateness {
		slices.Sort(ds)
		return Lateness{Count: int64(len(ds)), P50: quantile(ds, 0.5), P99: quantile(ds, 0.99), Max: ds[len(ds)-1]}
	}
	r.Fired, r.Arrived = summary(fired), summary(arrived)
	return r
}

// cpuTime is the CPU time the process used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fullRun makes BenchmarkFires run the recurring load for the full
// ten minutes; without it, two minutes.
var fullRun = flag.Bool("trigger.full", false, "BenchmarkFires: run the recurring load for 10 minutes instead of 2")

// BenchmarkFires measures the figures of issue 4 on SQLite and PostgreSQL
// (skipped when the test server does not answer): 100,000 one-shot
// schedules due uniformly within 10 s; 100,000 due at one instant (the
// drain rate); the 10-s load over a backlog of 1,000,000 pending schedules
// (memory must not grow with it); and 100,000 schedules recurring every
// minute. Run it once:
//
//	go test -run '^$' -bench Fires -benchtime 1x -timeout 60m ./trigger/
//	go test -run '^$' -bench Fires/sqlite/recurring -benchtime 1x -timeout 60m ./trigger/ -trigger.full
func BenchmarkFires(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			minutes := 2
			if *fullRun {
				minutes = 10
			}
			for _, p := range []struct {
				name string
				fireLoad
			}{
				{"100k_in_10s", fireLoad{N: 100_000, Window: 10 * time.Second, Lead: 15 * time.Second}},
				{"100k_same_instant", fireLoad{N: 100_000, Lead: 15 * time.Second}},
				{"100k_in_10s_over_1M_backlog", fireLoad{N: 100_000, Window: 10 * time.Second, Lead: 15 * time.Second, Backlog: 1_000_000}},
				{fmt.Sprintf("recurring_100k_minutely_%dmin", minutes), fireLoad{N: 100_000, Minutes: minutes, Lead: 15 * time.Second}},
			} {
				b.Run(p.name, func(b *testing.B) {
					var r fireResult
					for b.Loop() {
						r = measureFires(b, d, p.fireLoad)
					}
					ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
					b.ReportMetric(ms(r.Fired.P50), "fired-p50-ms")
					b.ReportMetric(ms(r.Fired.P99), "fired-p99-ms")
					b.ReportMetric(ms(r.Fired.Max), "fired-max-ms")
					b.ReportMetric(float64(r.Early), "early")
					b.ReportMetric(ms(r.Arrived.P99), "arrived-p99-ms")
					b.ReportMetric(ms(r.Drain), "drain-ms")
					b.ReportMetric(float64(r.Fires)/r.Drain.Seconds(), "fires/s")
					b.ReportMetric(float64(r.Heap)/(1<<20), "heap-MiB")
					b.ReportMetric(float64(r.CPU.Microseconds())/float64(r.Fires), "cpu-us/fire")
					b.ReportMetric(float64(r.Peak), "peak-in-memory")
					b.Logf("%s/%s: %d fires; fired_at-due_at p50 %v p99 %v max %v, %d early; on the bus p50 %v p99 %v max %v; drain %v (%.0f fires/s); %.1f µs CPU a fire; heap %d MiB; peak in memory %d",
						d, p.name, r.Fires, r.Fired.P50, r.Fired.P99, r.Fired.Max, r.Early, r.Arrived.P50, r.Arrived.P99, r.Arrived.Max,
						r.Drain, float64(r.Fires)/r.Drain.Seconds(), float64(r.CPU.Microseconds())/float64(r.Fires), r.Heap>>20, r.Peak)
				})
			}
		})
	}
}

type fakeSub func()

func (f fakeSub) Close() error { f(); return nil }
