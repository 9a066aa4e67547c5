package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/store"
)

// system is one scheduler under test: how the runner prepares its store
// and how its child process runs it.
type system struct {
	name       string
	needsPG    bool
	needsRedis bool
	// firedAt: the system stamps its own fire instant on each event (the
	// Trigger's fired_at), reported as a second row.
	firedAt bool
	prepare func(ctx context.Context, env *runEnv, sp *spec, backlog int) (cleanup func(), err error)
	node    func() node
}

var systems = map[string]system{
	"herald-sqlite": {name: "herald-sqlite", firedAt: true,
		prepare: prepareHerald(store.SQLite), node: func() node { return &heraldNode{} }},
	"herald-postgres": {name: "herald-postgres", needsPG: true, firedAt: true,
		prepare: prepareHerald(store.Postgres), node: func() node { return &heraldNode{} }},
	"river": {name: "river", needsPG: true,
		prepare: prepareRiver, node: func() node { return &riverNode{} }},
	"asynq": {name: "asynq", needsRedis: true,
		prepare: prepareAsynq, node: func() node { return &asynqNode{} }},
}

// systemOrder is the order systems run and appear in the tables.
var systemOrder = []string{"herald-sqlite", "herald-postgres", "river", "asynq"}

// runEnv is what every run of one invocation shares.
type runEnv struct {
	pg      string
	redis   string
	redisDB int
	tmp     string
	// exe is the binary re-executed as each child; args are given before
	// nothing (the child reads its spec from the environment).
	exe string
	// childLog receives the children's standard error.
	childLog io.Writer
	// lead: how far ahead of the first due instant enqueueing starts; 0
	// picks one from N.
	lead time.Duration
	// drain is how long after the last due instant a run may take before
	// the firings still missing are counted as missing.
	drain time.Duration
	// settle is how long the runner keeps listening once every firing
	// arrived, to catch duplicates.
	settle  time.Duration
	workers int
	callers int

	// slow multiplies the lead of a system whose enqueueing overran it
	// (runRetrying is called one run at a time).
	slow map[string]int
}

// firing is one run of a job as the child saw it.
type firing struct {
	job     int
	due     time.Time
	ran     time.Time
	msgID   string
	firedAt time.Time
}

// result is what one system did in one run.
type result struct {
	system  string
	backlog int
	sp      spec
	err     error
	// enqueued is how long enqueueing took.
	enqueued time.Duration
	firings  []firing // first of each (job, occurrence), in arrival order
	dups     int      // further runs of a (job, occurrence) already run
	stray    int      // runs of nothing the spec asked for
	// rss and hwm are the child's resident memory (VmRSS) once every firing
	// arrived and its peak (VmHWM), in KiB.
	rss, hwm int64
}

func (e *runEnv) leadFor(n int) time.Duration {
	if e.lead > 0 {
		return e.lead
	}
	// Enqueueing through one system's API, one job at a time for some
	// (Herald's Schedule commits each: ~3,000 a second on PostgreSQL on a
	// busy 2-core machine), with margin.
	return 5*time.Second + time.Duration(n)*500*time.Microsecond
}

// run prepares a fresh store for the system, starts its child, lets it
// enqueue and fire the spec's jobs, and collects what fired.
func (e *runEnv) run(ctx context.Context, sys system, sp spec, backlog int) result {
	return e.runLead(ctx, sys, sp, backlog, e.leadFor(sp.N))
}

// errLead is a run whose enqueueing overran its lead.
var errLead = errors.New("enqueueing took longer than the lead")

// runRetrying is run, tried again with twice the lead (up to twice) when
// enqueueing overran it: a busy machine slows enqueueing, and a run whose
// jobs fell due while still being enqueued measures nothing.
func (e *runEnv) runRetrying(ctx context.Context, sys system, sp spec, backlog int, note func(string)) result {
	if e.slow == nil {
		e.slow = map[string]int{}
	}
	factor := max(e.slow[sys.name], 1)
	lead := e.leadFor(sp.N) * time.Duration(factor)
	for try := 0; ; try++ {
		r := e.runLead(ctx, sys, sp, backlog, lead)
		if !errors.Is(r.err, errLead) || try == 2 || e.lead > 0 {
			return r
		}
		lead, factor = lead*2, factor*2
		// Later runs of this system start with the lead that was needed.
		e.slow[sys.name] = factor
		note(fmt.Sprintf("%v; again with a lead of %v", r.err, lead))
	}
}

func (e *runEnv) runLead(ctx context.Context, sys system, sp spec, backlog int, lead time.Duration) result {
	res := result{system: sys.name, backlog: backlog}
	sp.System, sp.Workers, sp.Callers = sys.name, e.workers, e.callers
	cleanup, err := sys.prepare(ctx, e, &sp, backlog)
	if err != nil {
		res.err = fmt.Errorf("preparing: %w", err)
		return res
	}
	defer cleanup()
	// The due instants are fixed only now, once the backlog is stored.
	sp.First = time.Now().Add(lead)
	if sp.WholeSeconds {
		sp.First = sp.First.Truncate(time.Second).Add(time.Second)
	}
	res.sp = sp
	enc, err := json.Marshal(sp)
	if err != nil {
		res.err = err
		return res
	}
	cmd := exec.CommandContext(ctx, e.exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(enc))
	cmd.Stderr = e.childLog
	stdin, err := cmd.StdinPipe()
	if err != nil {
		res.err = err
		return res
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		res.err = err
		return res
	}
	if err := cmd.Start(); err != nil {
		res.err = err
		return res
	}
	exited := make(chan error, 1)
	col := newCollector(sp)
	go func() {
		col.read(stdout)
		exited <- cmd.Wait()
	}()
	stopChild := func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := sp.lastDue().Add(e.drain)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var complete time.Time
	for {
		st := col.state()
		now := time.Now()
		switch {
		case st.err != nil:
			res.err = st.err
		case st.enqueuedAt.IsZero() && now.After(sp.First), st.enqueuedAt.After(sp.First):
			res.err = fmt.Errorf("%w %v (%d jobs): raise -lead", errLead, lead, sp.N)
		case st.distinct >= sp.expected():
			if complete.IsZero() {
				complete = now
			}
		case st.eof:
			res.err = errors.New("the child stopped before every job ran")
		}
		if res.err != nil || (!complete.IsZero() && now.Sub(complete) >= e.settle) || now.After(deadline) {
			break
		}
		<-tick.C
	}
	res.rss, res.hwm = memoryOf(cmd.Process.Pid)
	stopChild()
	st := col.state()
	if res.err == nil && st.err != nil {
		res.err = st.err
	}
	res.enqueued = st.enqueued
	res.firings, res.dups, res.stray = col.result()
	return res
}

// collector reads a child's lines.
type collector struct {
	sp spec

	mu         sync.Mutex
	seenMsg    map[string]bool
	seen       []map[int]bool // per job: occurrences run
	firings    []firing
	dups       int
	stray      int
	enqueued   time.Duration
	enqueuedAt time.Time
	err        error
	eof        bool
}

type collectorState struct {
	distinct   int
	enqueued   time.Duration
	enqueuedAt time.Time
	err        error
	eof        bool
}

func newCollector(sp spec) *collector {
	return &collector{sp: sp, seenMsg: map[string]bool{}, seen: make([]map[int]bool, sp.N)}
}

func (c *collector) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		c.line(sc.Text())
	}
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
}

func (c *collector) line(l string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kind, rest, _ := strings.Cut(l, " ")
	switch kind {
	case "E":
		us, _ := strconv.ParseInt(rest, 10, 64)
		c.enqueued, c.enqueuedAt = time.Duration(us)*time.Microsecond, time.Now()
	case "X":
		c.err = errors.New(rest)
	case "F":
		f := strings.Fields(rest)
		if len(f) != 5 {
			c.stray++
			return
		}
		job, _ := strconv.Atoi(f[0])
		due, _ := strconv.ParseInt(f[1], 10, 64)
		ran, _ := strconv.ParseInt(f[2], 10, 64)
		fa, _ := strconv.ParseInt(f[4], 10, 64)
		if f[3] != "-" {
			// The bus may deliver an event again; a consumer drops it by
			// its id. A second event for the same firing is a double fire.
			if c.seenMsg[f[3]] {
				return
			}
			c.seenMsg[f[3]] = true
		}
		fr := firing{job: job, due: time.UnixMicro(due), ran: time.UnixMicro(ran), msgID: f[3]}
		if fa != 0 {
			fr.firedAt = time.UnixMicro(fa)
		}
		k := c.sp.occurrence(job, fr.due)
		if k < 0 {
			c.stray++
			return
		}
		if c.seen[job] == nil {
			c.seen[job] = map[int]bool{}
		}
		if c.seen[job][k] {
			c.dups++
			return
		}
		c.seen[job][k] = true
		c.firings = append(c.firings, fr)
	default:
		c.stray++
	}
}

func (c *collector) state() collectorState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return collectorState{distinct: len(c.firings), enqueued: c.enqueued, enqueuedAt: c.enqueuedAt, err: c.err, eof: c.eof}
}

func (c *collector) result() ([]firing, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firings, c.dups, c.stray
}

// memoryOf reads a process's VmRSS and VmHWM, in KiB (0 when unknown).
func memoryOf(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}
