package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// The child speaks to the runner in lines on its standard output:
//
//	F <job> <due µs> <ran µs> <message id or -> <fired_at µs or 0>
//	E <µs enqueueing took>
//	X <error>
//
// and stops when its standard input closes.

// recorder writes one line per firing as the handler or bus sees it. The
// time is taken first, before any lock, so the bench's own work does not
// add to the figures.
type recorder struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newRecorder(w io.Writer) *recorder { return &recorder{w: bufio.NewWriterSize(w, 1<<16)} }

func (r *recorder) fire(ran time.Time, job int, due time.Time, msgID string, firedAt time.Time) {
	if msgID == "" {
		msgID = "-"
	}
	var fa int64
	if !firedAt.IsZero() {
		fa = firedAt.UnixMicro()
	}
	r.mu.Lock()
	fmt.Fprintf(r.w, "F %d %d %d %s %d\n", job, due.UnixMicro(), ran.UnixMicro(), msgID, fa)
	r.mu.Unlock()
}

func (r *recorder) line(format string, args ...any) {
	r.mu.Lock()
	fmt.Fprintf(r.w, format+"\n", args...)
	r.w.Flush()
	r.mu.Unlock()
}

func (r *recorder) flush() {
	r.mu.Lock()
	r.w.Flush()
	r.mu.Unlock()
}

// node is one system's side of a run in the child: its worker running and
// its client having enqueued the spec's jobs.
type node interface {
	// start starts the worker; fires go to rec.
	start(ctx context.Context, sp spec, rec *recorder) error
	// enqueue creates the spec's jobs.
	enqueue(ctx context.Context, sp spec) error
	stop()
}

// runChild is the child's whole life: start the node, enqueue, report
// fires until the runner closes standard input.
func runChild() int {
	rec := newRecorder(os.Stdout)
	fail := func(err error) int {
		rec.line("X %s", oneLine(err.Error()))
		return 1
	}
	sp, err := specFromEnv()
	if err != nil {
		return fail(err)
	}
	sys, ok := systems[sp.System]
	if !ok {
		return fail(fmt.Errorf("no system %q", sp.System))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := sys.node()
	if err := n.start(ctx, sp, rec); err != nil {
		return fail(fmt.Errorf("starting: %w", err))
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rec.flush()
			}
		}
	}()
	began := time.Now()
	if err := n.enqueue(ctx, sp); err != nil {
		return fail(fmt.Errorf("enqueueing: %w", err))
	}
	rec.line("E %d", time.Since(began).Microseconds())
	_, _ = io.Copy(io.Discard, os.Stdin)
	n.stop()
	close(done)
	rec.flush()
	return 0
}

func oneLine(s string) string {
	out := []rune(s)
	for i, r := range out {
		if r == '\n' || r == '\r' {
			out[i] = ' '
		}
	}
	return string(out)
}

// parallel runs fn(i) for i in [0, n) on callers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, callers int, fn func(ctx context.Context, i int) error) error {
	callers = max(callers, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for c := range callers {
		wg.Go(func() {
			for i := c; i < n; i += callers {
				if ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
