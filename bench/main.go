// Command bench measures Herald's Trigger engine side by side with River
// (on PostgreSQL) and asynq (on Redis), in one run on one machine, and
// prints one markdown table per workload:
//
//   - uniform: N one-shot jobs due uniformly within a window;
//   - burst: N jobs due at the same instant;
//   - backlog: the uniform run on top of B future firings already stored,
//     for each B asked for;
//   - recurring: N schedules firing every minute for M minutes.
//
// Lateness is the instant a job ran (River's and asynq's handler started,
// Herald's post.due event reached the bus) minus its due instant; a job is
// early when that is negative. Each system runs in a child process (this
// binary, re-executed), on a fresh PostgreSQL schema or a flushed Redis
// database, so its resident memory can be read. See
// docs/decisions/0014-scheduler-bench.md for how each is tuned. The
// systems' own warnings show with -v (HERALD_BENCH_QUIET=1 drops them).
//
//	cd bench && go run . -n 100000 -backlog 0,1000000 -recur-minutes 3
//	cd bench && go run . -backlog 0,1000000,10000000 -recur-minutes 10   # the full scale
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// defaultPG is the test server scripts/test-infra.sh starts.
const defaultPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	if err := runMain(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	systems   []string
	workloads []string
	n         int
	window    time.Duration
	backlogs  []int
	recurN    int
	recurMin  int
	recurWin  time.Duration
	env       runEnv
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sysList := fs.String("systems", strings.Join(systemOrder, ","), "systems to run, comma-separated")
	wlList := fs.String("workloads", "uniform,burst,backlog,recurring", "workloads to run, comma-separated")
	fs.IntVar(&o.n, "n", 100_000, "jobs of the uniform, burst and backlog workloads")
	fs.DurationVar(&o.window, "window", 10*time.Second, "the uniform workload's jobs are due within this window")
	backlogs := fs.String("backlog", "0,100000", "backlog sizes of the backlog workload, comma-separated (e.g. 0,1000000,10000000)")
	fs.IntVar(&o.recurN, "recur-n", 100_000, "schedules of the recurring workload")
	fs.IntVar(&o.recurMin, "recur-minutes", 3, "minutes the recurring workload fires (once a minute each)")
	fs.DurationVar(&o.recurWin, "recur-window", 10*time.Second, "the recurring schedules' first firings are spread over this window, to the second")
	fs.StringVar(&o.env.pg, "pg", envOr("HERALD_TEST_POSTGRES_URL", defaultPG), "PostgreSQL server (a schema per run is created and dropped)")
	fs.StringVar(&o.env.redis, "redis", envOr("HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis server address")
	fs.IntVar(&o.env.redisDB, "redis-db", 11, "Redis database index, flushed before and after each asynq run")
	fs.DurationVar(&o.env.lead, "lead", 0, "time given to enqueue before the first due instant (0: 5s + 500µs a job, doubled when enqueueing overruns it)")
	fs.DurationVar(&o.env.drain, "drain", 2*time.Minute, "how long after the last due instant a run may still fire")
	fs.DurationVar(&o.env.settle, "settle", time.Second, "how long to listen for duplicates once every job ran")
	fs.IntVar(&o.env.workers, "workers", 100, "River's and asynq's concurrent handlers")
	fs.IntVar(&o.env.callers, "callers", 8, "goroutines enqueueing at once")
	verbose := fs.Bool("v", false, "show the systems' own warnings")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.systems = splitList(*sysList)
	for _, s := range o.systems {
		if _, ok := systems[s]; !ok {
			return o, fmt.Errorf("-systems: no system %q (have %s)", s, strings.Join(systemOrder, ", "))
		}
	}
	o.workloads = splitList(*wlList)
	for _, w := range o.workloads {
		switch w {
		case "uniform", "burst", "backlog", "recurring":
		default:
			return o, fmt.Errorf("-workloads: no workload %q (have uniform, burst, backlog, recurring)", w)
		}
	}
	for _, b := range splitList(*backlogs) {
		n, err := strconv.Atoi(strings.ReplaceAll(b, "_", ""))
		if err != nil || n < 0 {
			return o, fmt.Errorf("-backlog: %q is not a count", b)
		}
		o.backlogs = append(o.backlogs, n)
	}
	switch {
	case o.n < 1 || o.recurN < 1:
		return o, errors.New("-n and -recur-n must be at least 1")
	case o.recurMin < 1:
		return o, errors.New("-recur-minutes must be at least 1")
	case o.window < 0 || o.recurWin < 0 || o.recurWin >= time.Minute:
		return o, errors.New("-window must not be negative, -recur-window must be under a minute")
	case o.env.workers < 1 || o.env.callers < 1:
		return o, errors.New("-workers and -callers must be at least 1")
	}
	o.env.childLog = io.Discard
	if *verbose {
		o.env.childLog = os.Stderr
	}
	return o, nil
}

// workload is one table: the runs it is made of.
type workload struct {
	title string
	runs  []workRun
}

type workRun struct {
	sp      spec
	backlog int
}

func (o options) plan() []workload {
	uniform := spec{N: o.n, Window: o.window, Occurrences: 1}
	var out []workload
	for _, w := range o.workloads {
		switch w {
		case "uniform":
			out = append(out, workload{fmt.Sprintf("%s one-shot jobs due uniformly within %v", count(o.n), o.window),
				[]workRun{{sp: uniform}}})
		case "burst":
			out = append(out, workload{fmt.Sprintf("%s one-shot jobs due at the same instant", count(o.n)),
				[]workRun{{sp: spec{N: o.n, Occurrences: 1}}}})
		case "backlog":
			wl := workload{title: fmt.Sprintf("%s one-shot jobs due uniformly within %v, over a backlog of future firings", count(o.n), o.window)}
			for _, b := range o.backlogs {
				wl.runs = append(wl.runs, workRun{sp: uniform, backlog: b})
			}
			out = append(out, wl)
		case "recurring":
			out = append(out, workload{
				fmt.Sprintf("%s schedules every minute for %d minutes, first firings spread over %v", count(o.recurN), o.recurMin, o.recurWin),
				[]workRun{{sp: spec{N: o.recurN, Window: o.recurWin, Occurrences: o.recurMin, Period: time.Minute, WholeSeconds: true}}}})
		}
	}
	return out
}

func runMain(args []string, out io.Writer) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.env.exe = exe
	o.env.tmp, err = os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(o.env.tmp)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	fmt.Fprintf(out, "## Scheduler bench, %s\n\n", time.Now().UTC().Format(time.DateTime+" UTC"))
	fmt.Fprintf(out, "`go run . %s` — %s, %d CPUs, %s/%s. Lateness = ran − due (Herald: post.due reached the bus; "+
		"its (fired_at) row: the instant the engine stamped). Drain: first due → last ran. RSS: the system's process "+
		"(VmRSS once all ran; peak VmHWM), servers not included.\n", strings.Join(args, " "), runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	for _, wl := range o.plan() {
		var results []result
		for _, run := range wl.runs {
			for _, name := range o.systems {
				sys := systems[name]
				fmt.Fprintf(os.Stderr, "bench: %s: %s, backlog %s\n", wl.title, name, count(run.backlog))
				r := o.env.runRetrying(ctx, sys, run.sp, run.backlog, func(msg string) {
					fmt.Fprintf(os.Stderr, "bench: %s: %s\n", name, msg)
				})
				if r.err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, r.err)
				}
				results = append(results, r)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		writeTable(out, wl.title, results)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
