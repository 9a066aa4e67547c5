package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// The burst: burstPosts one-shot posts due over burstWindow, which opens
// once they are all created (through the REST API: from under 10 s to over
// a minute per 10,000 on 2 cores, depending on the store and on how busy the
// machine is; see createBurst).
const (
	burstPosts     = 20000
	burstCalibrate = 500
	burstWindow    = 10 * time.Second
	burstCreators  = 16
	// burstPatience bounds each wait of the scenario (creation excepted).
	burstPatience = 3 * time.Minute
)

// TestBurstCrashFiresEveryPostOnce is issue 4's crash proof: herald serve
// (the real binary, embedded defaults) is killed with SIGKILL while a burst
// of 20,000 due posts is firing, after some of them fired and before all
// did, restarted on the same data, and killed again amid the catch-up.
// Every post then reaches the network (herald simnet) exactly once, and
// the store shows every schedule fired once, none early, those a crash
// delayed marked late, one post.due and one publish attempt per post, and
// Portal shows each published. The same runs on PostgreSQL.
func TestBurstCrashFiresEveryPostOnce(t *testing.T) {
	t.Parallel()
	bin := buildHeraldBinary(t)
	// One after the other: the creation of one store's burst must not
	// compete with the other's firing.
	t.Run("embedded", func(t *testing.T) {
		dataDir := t.TempDir()
		runBurstCrash(t, bin, dataDir, "sqlite://"+filepath.ToSlash(filepath.Join(dataDir, "herald.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.URLFor(t, store.Postgres)
		runBurstCrash(t, bin, t.TempDir(), u, "HERALD_STORE__URL="+u)
	})
}

// buildHeraldBinary builds cmd/herald into the test's temporary directory.
func buildHeraldBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command("go", "build", "-o", bin, "../cmd/herald")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building herald: %v", err)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the child binds it; a port just freed on loopback stays free
	return addr
}

// childProcess runs one herald command as a child process, across
// restarts (whether the test killed it or it died by itself, e.g. at a
// failpoint), with its output in a log file per run; the tail of each log
// is shown when the test fails.
type childProcess struct {
	t       *testing.T
	name    string // in messages and log names; args[0] when empty
	bin     string
	args    []string
	environ []string
	ready   string // a URL answering 200 once the process serves
	logs    string
	runs    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the current run's process is gone
}

func newChildProcess(t *testing.T, bin, ready string, args, environ []string) *childProcess {
	t.Helper()
	p := &childProcess{t: t, bin: bin, args: args, environ: environ, ready: ready, logs: t.TempDir()}
	t.Cleanup(func() {
		if p.alive() {
			p.kill()
		}
		if t.Failed() {
			for run := 1; run <= p.runs; run++ {
				log, _ := os.ReadFile(p.logPath(run))
				if len(log) > 4000 {
					log = log[len(log)-4000:]
				}
				t.Logf("%s, run %d, end of its log:\n%s", p.label(), run, log)
			}
		}
	})
	return p
}

func (p *childProcess) logPath(run int) string {
	name := p.name
	if name == "" {
		name = p.args[0]
	}
	return filepath.Join(p.logs, fmt.Sprintf("%s-%d.log", name, run))
}

// label names the process in messages.
func (p *childProcess) label() string {
	if p.name != "" {
		return p.name
	}
	return "herald " + p.args[0]
}

// start runs the command and waits until it is ready; the test fails if
// the process dies first.
func (p *childProcess) start() {
	p.t.Helper()
	if !p.tryStart() {
		p.t.Fatalf("%s (run %d) exited before it was ready", p.label(), p.runs)
	}
}

// tryStart runs the command and waits until it is ready; it reports false
// if the process died first.
func (p *childProcess) tryStart() bool {
	p.t.Helper()
	p.runs++
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.environ...)
	logFile, err := os.Create(p.logPath(p.runs))
	if err != nil {
		p.t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	deadline := time.Now().Add(waitFor)
	for {
		if !p.alive() {
			return false
		}
		res, err := http.Get(p.ready)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s (run %d) not ready after %s", p.label(), p.runs, waitFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether the current run's process is still there.
func (p *childProcess) alive() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the current run with SIGKILL and waits until it is gone.
func (p *childProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	<-p.exited
}

// startServe runs herald serve on dataDir with embedded defaults, extra
// HERALD_* settings last.
func startServe(t *testing.T, bin, dataDir string, extra ...string) (*childProcess, string) {
	t.Helper()
	p, base := newServe(t, bin, dataDir, extra...)
	p.start()
	return p, base
}

// newServe is herald serve on dataDir and an address of its own, not yet
// started.
func newServe(t *testing.T, bin, dataDir string, extra ...string) (*childProcess, string) {
	t.Helper()
	addr := freeAddr(t)
	environ := append([]string{
		"HERALD_DATA_DIR=" + dataDir,
		"HERALD_LISTEN=" + addr,
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LOG__LEVEL=warn",
		// One user creates every post: lift the per-user API limit.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}, extra...)
	base := "http://" + addr
	return newChildProcess(t, bin, base+"/readyz", []string{"serve"}, environ), base
}

// simnetProcess is herald simnet, the simulated Mastodon server, run as
// its own process (outside the race detector's slowdown), read through its
// control endpoints.
type simnetProcess struct {
	t    *testing.T
	base string
}

func startSimnet(t *testing.T, bin string) *simnetProcess {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	// No per-account rate limit: the network's budget is not under test.
	p := newChildProcess(t, bin, base+"/_simnet/stats", []string{"simnet", "--listen", addr, "--rate-limit", "-1"}, nil)
	p.start()
	return &simnetProcess{t: t, base: base}
}

func (s *simnetProcess) get(path string, out any) {
	s.t.Helper()
	res, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("simnet %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("simnet %s: status %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		s.t.Fatalf("simnet %s: %v", path, err)
	}
}

// createAccount makes an account and returns its access token.
func (s *simnetProcess) createAccount(username string) string {
	s.t.Helper()
	res, err := http.Post(s.base+"/_simnet/accounts", "application/json", strings.NewReader(`{"username":"`+username+`"}`))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		s.t.Fatalf("simnet account: status %d, %v", res.StatusCode, err)
	}
	return out.Token
}

func (s *simnetProcess) stats() simnet.Stats {
	s.t.Helper()
	var st simnet.Stats
	s.get("/_simnet/stats", &st)
	return st
}

func (s *simnetProcess) statuses() []simnet.Status {
	s.t.Helper()
	var out struct {
		Statuses []simnet.Status `json:"statuses"`
	}
	s.get("/_simnet/statuses", &out)
	return out.Statuses
}

// burstCrash is when the process was killed and when it was started again.
type burstCrash struct{ killed, restarted time.Time }

// burstPost is one post of the burst, as the API created it.
type burstPost struct {
	id  string
	due time.Time
}

func runBurstCrash(t *testing.T, bin, dataDir, storeURL string, extra ...string) {
	began := time.Now()
	ctx := context.Background()
	sim := startSimnet(t, bin)
	proc, base := startServe(t, bin, dataDir, extra...)
	// The test reads the store the process writes, from outside it.
	db, err := store.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	h := &herald{t: t, URL: base}
	c := h.newClient()
	email := uniqueEmail("burst")
	const password = "burst crash dummy"
	c.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Burst Co", "name": "Bea", "email": email, "password": password}, http.StatusCreated)
	c.login(email, password)
	ws := str(c.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Burst", "timezone": "UTC"}, http.StatusCreated), "id")
	acct := str(c.call(http.MethodPost, "/api/v1/workspaces/"+ws+"/accounts",
		obj{"network": "mastodon", "instance_url": sim.base, "access_token": sim.createAccount("burst")}, http.StatusCreated), "id")

	posts, created, moved := createBurst(t, c, ws, acct)
	first, last := posts[0].due, posts[0].due
	for _, p := range posts {
		first, last = minTime(first, p.due), maxTime(last, p.due)
	}
	t.Logf("created %d posts in %s (by %s), due from %s to %s (%d moved later: the creation ran behind its projection)",
		len(posts), created.Round(time.Millisecond), time.Now().Format(time.TimeOnly),
		first.Format(time.TimeOnly), last.Format(time.TimeOnly), moved)

	// 1. Kill the process once a quarter of the schedules left fired (a
	// machine that slowed down in the middle of the creation may have fired
	// the first ones already), restart it, and kill it again once half of
	// those left then fired: amid the catch-up and the settling of what the
	// first crash left unknown.
	// Each count is a scan of the store from this process, slow under the
	// race detector: the wait sleeps until enough posts are due and only
	// then polls, and counts the pending schedules (an index holds them).
	pendingQ := `SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`
	firedCount := func() int { return burstPosts - count(pendingQ) }
	dues := make([]time.Time, len(posts))
	for i, p := range posts {
		dues[i] = p.due
	}
	slices.SortFunc(dues, time.Time.Compare)
	var crashes []burstCrash
	for k, share := range []int{4, 2} {
		fired := firedCount()
		killAt := fired + (burstPosts-fired)/share
		time.Sleep(time.Until(dues[killAt-1]))
		deadline := time.Now().Add(burstPatience)
		polled := 0
		for polled = firedCount(); polled < killAt; polled = firedCount() {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d schedules fired by %s", polled, burstPosts, deadline.Format(time.TimeOnly))
			}
			time.Sleep(20 * time.Millisecond)
		}
		proc.kill()
		cr := burstCrash{killed: time.Now()}
		firedBefore := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'fired' AND fired_at < ?`, store.ToMicros(cr.killed))
		pending := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`)
		t.Logf("kill %d (SIGKILL): %d of %d schedules fired (%d when last polled, %d when the wait began), %d pending, %d statuses on the network",
			k+1, firedBefore, burstPosts, polled, fired, pending, sim.stats().Statuses)
		if k == 0 && (firedBefore <= 0 || firedBefore >= burstPosts || pending == 0) {
			t.Fatalf("the kill did not land inside the burst (%d fired, %d pending): nothing is tested", firedBefore, pending)
		}
		if firedBefore+pending != burstPosts {
			t.Errorf("%d fired + %d pending schedules, want %d in all", firedBefore, pending, burstPosts)
		}
		// Stay down until a due second has passed with nobody to fire it,
		// so the restart has late firings to catch up on; then restart.
		if pending > 0 {
			var nextDueUS int64
			if err := db.QueryRow(ctx, `SELECT MIN(due_at) FROM trigger_schedules WHERE state = 'pending'`).Scan(&nextDueUS); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(store.FromMicros(nextDueUS).Add(time.Second)))
		}
		cr.restarted = time.Now()
		proc.start()
		crashes = append(crashes, cr)
	}
	restarted := crashes[len(crashes)-1].restarted

	// 3. Wait until nothing is left to do anywhere: no pending schedule,
	// no event waiting in an outbox, no attempt unsettled. From then on
	// nothing more can reach the network, so what it holds is the outcome.
	quiet := func() (bool, string) {
		pending := count(pendingQ)
		trigBox := count(`SELECT COUNT(*) FROM trigger_outbox`)
		unsettled := count(`SELECT COUNT(*) FROM publisher_attempts WHERE state IN ('in_flight', 'retry_wait', 'unknown')`)
		pubBox := count(`SELECT COUNT(*) FROM publisher_outbox`)
		state := fmt.Sprintf("%d schedules pending, %d events in Trigger's outbox, %d attempts unsettled, %d events in Publisher's outbox, %d statuses on the network",
			pending, trigBox, unsettled, pubBox, sim.stats().Statuses)
		return pending == 0 && trigBox == 0 && unsettled == 0 && pubBox == 0, state
	}
	deadline := time.Now().Add(burstPatience)
	for {
		done, state := quiet()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled %s after the restart: %s", burstPatience, state)
		}
		time.Sleep(time.Second)
	}
	settled := time.Now()
	// Portal learns the outcomes from post.published; give it the moment.
	eventually(t, "Portal to show every post published", func() bool {
		return count(`SELECT COUNT(*) FROM portal_post_targets WHERE status = 'published'`) >= burstPosts
	})

	checkBurstOutcome(t, db, sim.statuses(), posts, crashes)
	t.Logf("after the last restart: settled in %s; the network absorbed %d repeated requests by their Idempotency-Key; the run took %s",
		settled.Sub(restarted).Round(time.Millisecond), sim.stats().DuplicatesAvoided, time.Since(began).Round(time.Millisecond))
}

// createBurst creates burstPosts posts through the REST API and returns
// them, with how long that took and how many were moved later. The window
// should open as soon as the last is created, not before (the burst would
// slow the creation down: on an embedded store the writes queue behind each
// other) and not long after (the test would sit idle), and the creation
// rate depends on how busy the machine is. So the first burstCalibrate
// posts are created due far ahead, to measure the rate; the window is
// placed by it, and moved later whenever the rate since drops; the others
// are created due in it, and the first ones moved into it at the end
// (PATCH). A post whose time came too close goes a little later instead.
func createBurst(t *testing.T, c *client, ws, acct string) ([]burstPost, time.Duration, int) {
	t.Helper()
	posts := make([]burstPost, burstPosts)
	begin := time.Now()
	far := begin.Add(time.Hour).Truncate(time.Second)
	err := inParallel(0, burstCalibrate, func(i int) (err error) {
		posts[i].id, err = postBurst(c, http.MethodPost, "/api/v1/workspaces/"+ws+"/posts", obj{
			"text": burstText(i), "account_ids": []string{acct}, "scheduled_at": far.UTC().Format("2006-01-02T15:04:05"),
		}, far)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &burstWindowPlan{opens: time.Now(), since: time.Now(), rate: float64(burstCalibrate) / time.Since(begin).Seconds()}
	w.project(burstPosts) // the rest, and the moves of the first ones
	err = inParallel(burstCalibrate, burstPosts, func(i int) (err error) {
		due := w.due(i)
		posts[i].due = due
		posts[i].id, err = postBurst(c, http.MethodPost, "/api/v1/workspaces/"+ws+"/posts", obj{
			"text": burstText(i), "account_ids": []string{acct}, "scheduled_at": due.UTC().Format("2006-01-02T15:04:05"),
		}, due)
		w.done(burstPosts - i - 1 + burstCalibrate)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = inParallel(0, burstCalibrate, func(i int) error {
		due := w.due(i)
		posts[i].due = due
		_, err := postBurst(c, http.MethodPatch, "/api/v1/posts/"+posts[i].id, obj{"scheduled_at": due.UTC().Format("2006-01-02T15:04:05")}, due)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return posts, time.Since(begin), w.movedCount()
}

// burstWindowPlan places the burst's window after the projected end of its
// creation.
type burstWindowPlan struct {
	mu    sync.Mutex
	opens time.Time   // the window's first second
	rate  float64     // posts per second, as last measured
	since time.Time   // when the measure began
	count int         // posts created since then
	marks []time.Time // when each 250th of them was
	moved int
}

// project moves the window later if left more posts, at the measured
// rate with a margin, would not be created before it opens.
func (w *burstWindowPlan) project(left int) {
	end := time.Now().Add(time.Duration(1.3*float64(left)/w.rate*float64(time.Second)) + 2*time.Second)
	if end.After(w.opens) {
		w.opens = end.Truncate(time.Second).Add(time.Second)
	}
}

// done counts a post created, left being how many calls remain; every 250
// it measures the rate again and projects. The rate is the lower of the
// average since the window was first placed and that of the last 1,000
// posts: a machine getting busier is seen soon, one short stall does not
// throw the window far out.
func (w *burstWindowPlan) done(left int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.count++
	if w.count%250 != 0 {
		return
	}
	now := time.Now()
	w.marks = append(w.marks, now)
	w.rate = float64(w.count) / now.Sub(w.since).Seconds()
	if n := len(w.marks); n > 4 {
		w.rate = min(w.rate, 1000/now.Sub(w.marks[n-5]).Seconds())
	}
	w.project(left)
}

// due returns post i's time: its second of the window, or a little later
// than now if that is too close. The posts created first take the last
// seconds, so that moving the window later by up to its length for those
// created after keeps the burst as short.
func (w *burstWindowPlan) due(i int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	secs := int(burstWindow / time.Second)
	second := i % secs // the first posts, moved in at the end
	if i >= burstCalibrate {
		second = secs - 1 - (i-burstCalibrate)*secs/(burstPosts-burstCalibrate)
	}
	due := w.opens.Add(time.Duration(second) * time.Second)
	if earliest := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second); due.Before(earliest) {
		w.moved++
		return earliest
	}
	return due
}

func (w *burstWindowPlan) movedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.moved
}

// inParallel calls fn for every i in [from, to), burstCreators at a time,
// and returns the first error (the calls not yet begun are then skipped).
func inParallel(from, to int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	next.Store(int64(from))
	for range burstCreators {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := fn(i); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					next.Store(int64(to))
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// postBurst creates or reschedules a post through the API and checks the
// time it took; it is safe to call from any goroutine (it returns errors
// instead of failing the test).
func postBurst(c *client, method, path string, body obj, due time.Time) (string, error) {
	buf, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(buf))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", c.base)
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	want := http.StatusOK
	if method == http.MethodPost {
		want = http.StatusCreated
	}
	if res.StatusCode != want {
		return "", fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, raw)
	}
	var out struct {
		ID             string `json:"id"`
		ScheduledAtUTC string `json:"scheduled_at_utc"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", method, path, err, raw)
	}
	if at, err := time.Parse(time.RFC3339, out.ScheduledAtUTC); err != nil || !at.Equal(due) || out.ID == "" {
		return "", fmt.Errorf("%s %s: got id %q scheduled at %q, want %s", method, path, out.ID, out.ScheduledAtUTC, due.UTC().Format(time.RFC3339))
	}
	return out.ID, nil
}

// burstFormat makes post i's text.
const burstFormat = "burst #%d"

func burstText(i int) string { return fmt.Sprintf(burstFormat, i) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// problems reports failures of one kind, the first few in full and then
// only their number, so 20,000 of them do not drown the log.
type problems struct {
	t     *testing.T
	shown map[string]int
}

func (p *problems) add(kind, format string, args ...any) {
	p.t.Helper()
	if p.shown == nil {
		p.shown = map[string]int{}
	}
	p.shown[kind]++
	if p.shown[kind] <= 5 {
		p.t.Errorf(kind+": "+format, args...)
	}
}

func (p *problems) summary() {
	p.t.Helper()
	for kind, n := range p.shown {
		if n > 5 {
			p.t.Errorf("%s: %d in all", kind, n)
		}
	}
}

// checkBurstOutcome checks the network and the store once everything
// settled: each post published once, its schedule fired once and not
// early, late if the crash delayed it, one post.due and one attempt each.
func checkBurstOutcome(t *testing.T, db *store.DB, statuses []simnet.Status, posts []burstPost, crashes []burstCrash) {
	t.Helper()
	ctx := context.Background()
	bad := &problems{t: t}
	defer bad.summary()
	ids := make([]string, len(posts))
	for i, p := range posts {
		ids[i] = p.id
	}
	o := newOutcome(t, db, bad, ids, func(i int) time.Time { return posts[i].due })
	index := o.index

	// The network: every post exactly once, under its own key, none early.
	o.network(statuses, burstFormat)

	// Trigger: one schedule per post, fired once, never early, its
	// lateness stored; those the crash delayed fire after the restart,
	// marked late by at least the time the process was down.
	rows, err := db.Query(ctx, `SELECT post_id, kind, state, due_at, fired_at, lateness_us FROM trigger_schedules`)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[int]bool{}
	runs := make([]struct {
		fired, late int
		maxLate     time.Duration
	}, len(crashes)+1)
	for rows.Next() {
		var (
			postID, kind, state        string
			dueUS, firedUS, latenessUS int64
		)
		if err := rows.Scan(&postID, &kind, &state, &dueUS, &firedUS, &latenessUS); err != nil {
			t.Fatal(err)
		}
		i, ok := index[postID]
		switch {
		case !ok:
			bad.add("schedule of an unknown post", "%s", postID)
			continue
		case scheduled[i]:
			bad.add("two schedules for one post", "post %d (%s)", i, postID)
			continue
		}
		scheduled[i] = true
		due, fired, lateness := store.FromMicros(dueUS), store.FromMicros(firedUS), time.Duration(latenessUS)*time.Microsecond
		switch {
		case kind != "once" || state != "fired":
			bad.add("schedule not fired", "post %d: kind %q state %q", i, kind, state)
			continue
		case !due.Equal(posts[i].due):
			bad.add("schedule at the wrong time", "post %d: due %s, the API said %s", i, due, posts[i].due)
		case fired.Before(due) || lateness < 0:
			bad.add("fired early", "post %d: fired %s, due %s, lateness %s", i, fired, due, lateness)
		case latenessUS != firedUS-dueUS:
			bad.add("lateness not stored", "post %d: lateness %s, fired - due = %s", i, lateness, fired.Sub(due))
		}
		// Which run of the process fired it: run k began at the k-th
		// restart (the first at the start) and ended at the next kill.
		run := -1
		for k := 0; k <= len(crashes); k++ {
			var from time.Time
			if k > 0 {
				from = crashes[k-1].restarted
			}
			if fired.Before(from) || (k < len(crashes) && !fired.Before(crashes[k].killed)) {
				continue
			}
			run = k
			runs[k].fired++
			runs[k].maxLate = max(runs[k].maxLate, lateness)
			if k > 0 && due.Before(from) {
				runs[k].late++
				if lateness < from.Sub(due) {
					bad.add("late firing not marked late", "post %d: due %s, fired after the restart at %s with lateness %s", i, due, from, lateness)
				}
			}
		}
		if run < 0 {
			bad.add("fired while the process was down", "post %d: fired %s, crashes %v", i, fired, crashes)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != len(posts) {
		bad.add("schedules missing", "%d posts have a schedule, want %d", len(scheduled), len(posts))
	}
	late := 0
	for k, r := range runs {
		late += r.late
		if k == 0 {
			t.Logf("Trigger, run 1: fired %d (max lateness %s)", r.fired, r.maxLate)
		} else {
			t.Logf("Trigger, run %d (after crash %d): fired %d, %d of them caught up late (max lateness %s)", k+1, k, r.fired, r.late, r.maxLate)
		}
	}
	if late == 0 {
		t.Errorf("no schedule fired late after a restart: the crashes delayed nothing")
	}

	// One post.due per post: each consumed event id is one the Trigger
	// wrote, so a second fire would show as a second event.
	var events int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM publisher_inbox`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != len(posts) {
		bad.add("post.due events", "Publisher consumed %d distinct post.due events, want one per post: %d", events, len(posts))
	}

	// Publisher: one attempt per post, succeeded, naming the status the
	// network holds under the attempt's key, for the post's occurrence.
	retried := o.attempts()
	t.Logf("Publisher: %d of the attempts tried more than once (left unknown by the crash)", retried)

	o.portal()
}
