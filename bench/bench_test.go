package main

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMain lets the test binary be its own child: the runner re-executes
// it with the child's spec in the environment.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// TestSmoke runs every workload at a tiny scale on every system and checks
// what the bench's figures rest on: each job ran exactly once and none
// ran early. It asserts no timing; the figures come from the command.
func TestSmoke(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := runEnv{
		pg:       envOr("HERALD_TEST_POSTGRES_URL", defaultPG),
		redis:    envOr("HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379"),
		tmp:      t.TempDir(),
		exe:      exe,
		childLog: t.Output(),
		// Generous: under the race detector enqueueing is several times
		// slower, and sixteen runs share the machine at once.
		lead:    45 * time.Second,
		drain:   time.Minute,
		settle:  500 * time.Millisecond,
		workers: 20,
		callers: 4,
	}
	pgErr, redisErr := pingPG(env.pg), pingRedis(env.redis)
	for _, name := range systemOrder {
		sys := systems[name]
		t.Run(name, func(t *testing.T) {
			var missing error
			if sys.needsPG && pgErr != nil {
				missing = pgErr
			}
			if sys.needsRedis && redisErr != nil {
				missing = redisErr
			}
			if missing != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("test server: %v (CI=true: a missing server is a failure)", missing)
				}
				t.Skipf("test server: %v", missing)
			}
			t.Parallel()
			// asynq keeps due instants to the second (the scheduled set's
			// score is Unix seconds), so a due instant within a second runs
			// up to a second early: the figures show it; here the instants
			// are whole seconds so the test checks the rest.
			whole := name == "asynq"
			cases := []struct {
				what    string
				sp      spec
				backlog int
			}{
				{"1k due within 2s", spec{N: 1000, Window: 2 * time.Second, Occurrences: 1, WholeSeconds: whole}, 0},
				{"1k due at once", spec{N: 1000, Occurrences: 1, WholeSeconds: whole}, 0},
				{"1k due within 1s over a backlog of 1k", spec{N: 1000, Window: time.Second, Occurrences: 1, WholeSeconds: whole}, 1000},
				{"200 recurring, one occurrence", spec{N: 200, Window: time.Second, Occurrences: 1, Period: time.Minute, WholeSeconds: true}, 0},
			}
			// The cases run at once, each on a store of its own (a Redis
			// database index of its own, 12 to 15, for asynq): the test
			// checks counts, not timing, so they may share the machine.
			results := make([]result, len(cases))
			var wg sync.WaitGroup
			for i, c := range cases {
				e := env
				// asynq's runs each flush a database of their own.
				e.redisDB = 12 + i
				wg.Go(func() { results[i] = e.run(t.Context(), sys, c.sp, c.backlog) })
			}
			wg.Wait()
			for i, c := range cases {
				r := results[i]
				if r.err != nil {
					t.Errorf("%s: %v", c.what, r.err)
					continue
				}
				fg := figuresOf(r, ran)
				if fg.fired != c.sp.expected() || fg.missing != 0 || fg.dups != 0 || fg.stray != 0 {
					t.Errorf("%s: %d ran once, %d missing, %d ran again, %d unasked-for; want each of %d exactly once",
						c.what, fg.fired, fg.missing, fg.dups, fg.stray, c.sp.expected())
				}
				if fg.early != 0 {
					t.Errorf("%s: %d jobs ran before their due instant", c.what, fg.early)
				}
				if r.rss == 0 {
					t.Errorf("%s: the child's resident memory was not read", c.what)
				}
				if sys.firedAt {
					if fa := figuresOf(r, firedAt); fa.early != 0 {
						t.Errorf("%s: %d fired_at stamps before the due instant", c.what, fa.early)
					}
				}
			}
		})
	}
}

// TestFiguresCountEarlyAndDoubles checks the collector and the figures on
// lines written by hand: a redelivered event is not a double fire, a
// second event for the same firing is, and lateness is ran - due.
func TestFiguresCountEarlyAndDoubles(t *testing.T) {
	first := time.UnixMicro(1_800_000_000_000_000)
	sp := spec{N: 3, First: first, Window: 3 * time.Second, Occurrences: 1}
	c := newCollector(sp)
	us := func(t time.Time) int64 { return t.UnixMicro() }
	lines := []string{
		fmtLine(0, us(sp.due(0)), us(sp.due(0))+2000, "m0"),
		fmtLine(0, us(sp.due(0)), us(sp.due(0))+3000, "m0"), // redelivered
		fmtLine(1, us(sp.due(1)), us(sp.due(1))-1000, "m1"), // early
		fmtLine(1, us(sp.due(1)), us(sp.due(1))+5000, "m9"), // fired twice
		fmtLine(7, us(sp.due(1)), us(sp.due(1)), "m7"),      // no such job
		"E 1500",
	}
	for _, l := range lines {
		c.line(l)
	}
	firings, dups, stray := c.result()
	r := result{sp: sp, firings: firings, dups: dups, stray: stray}
	fg := figuresOf(r, ran)
	if fg.fired != 2 || fg.missing != 1 || fg.dups != 1 || fg.stray != 1 || fg.early != 1 {
		t.Errorf("figures %+v: want 2 fired, 1 missing, 1 double, 1 stray, 1 early", fg)
	}
	if fg.max != 2*time.Millisecond || fg.p50 != -time.Millisecond {
		t.Errorf("lateness p50 %v max %v, want -1ms and 2ms", fg.p50, fg.max)
	}
	if st := c.state(); st.enqueued != 1500*time.Microsecond {
		t.Errorf("enqueued %v, want 1.5ms", st.enqueued)
	}
	rec := spec{N: 2, First: first, Window: 2 * time.Second, Occurrences: 3, Period: time.Minute}
	if k := rec.occurrence(1, first.Add(time.Second+2*time.Minute)); k != 2 {
		t.Errorf("occurrence %d, want 2", k)
	}
	if k := rec.occurrence(1, first.Add(time.Second+3*time.Minute)); k != -1 {
		t.Errorf("occurrence past the count %d, want -1", k)
	}
}

func fmtLine(job int, due, ran int64, msg string) string {
	var w writerBuf
	rec := newRecorder(&w)
	rec.fire(time.UnixMicro(ran), job, time.UnixMicro(due), msg, time.Time{})
	rec.flush()
	return string(w[:len(w)-1])
}

type writerBuf []byte

func (w *writerBuf) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

var _ io.Writer = (*writerBuf)(nil)

func pingPG(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgConnect(ctx, url, "")
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func pingRedis(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	return c.Ping(ctx).Err()
}
