package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// The burst: burstPosts one-shot posts due over burstWindow, which opens
// once they are all created (through the REST API: 4 s to 20 s per 10,000,
// depending on how busy the machine is; see burstDue).
const (
	burstPosts    = 20000
	burstWindow   = 10 * time.Second
	burstCreators = 8
	// burstKillAt is how many schedules must have fired, by the store,
	// before the process is killed.
	burstKillAt = burstPosts / 4
	// burstPatience bounds each wait of the scenario (creation excepted).
	burstPatience = 3 * time.Minute
)

// TestBurstCrashFiresEveryPostOnce is issue 4's crash proof: herald serve
// (the real binary, embedded defaults) is killed with SIGKILL while a burst
// of 20,000 due posts is firing, after some of them fired and before all
// did, and restarted on the same data. Every post then reaches the network
// exactly once, and the store shows every schedule fired once, none early,
// those the crash delayed marked late, one post.due and one publish attempt
// per post. The same runs on PostgreSQL.
func TestBurstCrashFiresEveryPostOnce(t *testing.T) {
	t.Parallel()
	bin := buildHeraldBinary(t)
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

// heraldProcess runs herald serve as a child process on one data directory
// and address, across restarts.
type heraldProcess struct {
	t       *testing.T
	bin     string
	addr    string
	environ []string
	logs    string
	runs    int
	cmd     *exec.Cmd
}

func newHeraldProcess(t *testing.T, bin, dataDir string, extra ...string) *heraldProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // herald serve binds it; a port just freed on loopback stays free
	environ := append([]string{
		"HERALD_DATA_DIR=" + dataDir,
		"HERALD_LISTEN=" + addr,
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LOG__LEVEL=warn",
		// One user creates every post: lift the per-user API limit.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}, extra...)
	p := &heraldProcess{t: t, bin: bin, addr: addr, environ: environ, logs: t.TempDir()}
	t.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_, _ = p.cmd.Process.Wait()
		}
	})
	return p
}

func (p *heraldProcess) base() string { return "http://" + p.addr }

// start runs herald serve and waits until it is ready.
func (p *heraldProcess) start() {
	p.t.Helper()
	p.runs++
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = append(os.Environ(), p.environ...)
	logPath := filepath.Join(p.logs, fmt.Sprintf("herald-%d.log", p.runs))
	logFile, err := os.Create(logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(waitFor)
	for {
		res, err := http.Get(p.base() + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			p.t.Fatalf("herald serve (run %d) not ready after %s; its log:\n%s", p.runs, waitFor, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL and waits until it is gone.
func (p *heraldProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	_, _ = p.cmd.Process.Wait()
	p.cmd = nil
}

// burstPost is one post of the burst, as the API created it.
type burstPost struct {
	id  string
	due time.Time
}

func runBurstCrash(t *testing.T, bin, dataDir, storeURL string, extra ...string) {
	began := time.Now()
	ctx := context.Background()
	sim := simnet.New(simnet.Options{RateLimit: -1})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	proc := newHeraldProcess(t, bin, dataDir, extra...)
	proc.start()
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

	h := &herald{t: t, URL: proc.base()}
	c := h.newClient()
	email := uniqueEmail("burst")
	const password = "burst crash dummy"
	c.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Burst Co", "name": "Bea", "email": email, "password": password}, http.StatusCreated)
	c.login(email, password)
	ws := str(c.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Burst", "timezone": "UTC"}, http.StatusCreated), "id")
	acct := str(c.call(http.MethodPost, "/api/v1/workspaces/"+ws+"/accounts",
		obj{"network": "mastodon", "instance_url": simSrv.URL, "access_token": sim.CreateAccount("burst")}, http.StatusCreated), "id")

	posts, created := createBurst(t, c, ws, acct)
	first, last := posts[0].due, posts[0].due
	for _, p := range posts {
		first, last = minTime(first, p.due), maxTime(last, p.due)
	}
	t.Logf("created %d posts in %s, due from %s to %s (created by %s)",
		len(posts), created.Round(time.Millisecond), first.Format(time.TimeOnly), last.Format(time.TimeOnly), time.Now().Format(time.TimeOnly))

	// 1. Kill the process once a quarter of the schedules fired.
	const firedQ = `SELECT COUNT(*) FROM trigger_schedules WHERE state = 'fired'`
	deadline := last.Add(burstPatience)
	polled := 0
	for polled = count(firedQ); polled < burstKillAt; polled = count(firedQ) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d schedules fired by %s", polled, burstPosts, deadline.Format(time.TimeOnly))
		}
		time.Sleep(10 * time.Millisecond)
	}
	proc.kill()
	killed := time.Now()
	publishedAtKill := sim.Stats().Statuses
	firedBeforeKill := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'fired' AND fired_at < ?`, store.ToMicros(killed))
	pendingAtKill := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`)
	t.Logf("killed with SIGKILL: %d of %d schedules fired (%d when polled), %d pending, %d statuses on the network",
		firedBeforeKill, burstPosts, polled, pendingAtKill, publishedAtKill)
	if firedBeforeKill <= 0 || firedBeforeKill >= burstPosts || pendingAtKill == 0 {
		t.Fatalf("the kill did not land inside the burst (%d fired, %d pending): nothing is tested", firedBeforeKill, pendingAtKill)
	}
	if firedBeforeKill+pendingAtKill != burstPosts {
		t.Errorf("%d fired + %d pending schedules, want %d in all", firedBeforeKill, pendingAtKill, burstPosts)
	}

	// 2. Stay down until a due second has passed with nobody to fire it, so
	// the restart has late firings to catch up on; then restart.
	var nextDueUS int64
	if err := db.QueryRow(ctx, `SELECT MIN(due_at) FROM trigger_schedules WHERE state = 'pending'`).Scan(&nextDueUS); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(store.FromMicros(nextDueUS).Add(time.Second)))
	restarted := time.Now()
	proc.start()

	// 3. Wait until nothing is left to do anywhere: no pending schedule,
	// no event waiting in an outbox, no attempt unsettled. From then on
	// nothing more can reach the network, so what it holds is the outcome.
	quiet := func() (bool, string) {
		pending := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`)
		trigBox := count(`SELECT COUNT(*) FROM trigger_outbox`)
		unsettled := count(`SELECT COUNT(*) FROM publisher_attempts WHERE state NOT IN ('succeeded', 'failed', 'canceled')`)
		pubBox := count(`SELECT COUNT(*) FROM publisher_outbox`)
		state := fmt.Sprintf("%d schedules pending, %d events in Trigger's outbox, %d attempts unsettled, %d events in Publisher's outbox, %d statuses on the network",
			pending, trigBox, unsettled, pubBox, sim.Stats().Statuses)
		return pending == 0 && trigBox == 0 && unsettled == 0 && pubBox == 0, state
	}
	deadline = time.Now().Add(burstPatience)
	for {
		done, state := quiet()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled %s after the restart: %s", burstPatience, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	settled := time.Now()
	// Portal learns the outcomes from post.published; give it the moment.
	eventually(t, "Portal to show every post published", func() bool {
		return count(`SELECT COUNT(*) FROM portal_post_targets WHERE status = 'published'`) >= burstPosts
	})

	checkBurstOutcome(t, db, sim, posts, killed, restarted)
	t.Logf("after the restart: settled in %s; the network absorbed %d repeated requests by their Idempotency-Key; the run took %s",
		settled.Sub(restarted).Round(time.Millisecond), sim.Stats().DuplicatesAvoided, time.Since(began).Round(time.Millisecond))
}

// createBurst creates burstPosts posts through the REST API, burstCreators
// at a time, due over burstWindow from a little after the last is created,
// and returns them with how long the creation took.
func createBurst(t *testing.T, c *client, ws, acct string) ([]burstPost, time.Duration) {
	t.Helper()
	posts := make([]burstPost, burstPosts)
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error
	)
	begin := time.Now()
	for range burstCreators {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= burstPosts {
					return
				}
				due := burstDue(i, begin, int(done.Load()))
				id, err := createBurstPost(c, ws, acct, i, due)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					next.Store(burstPosts) // the others stop too
					return
				}
				posts[i] = burstPost{id: id, due: due}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return posts, time.Since(begin)
}

// burstDue is the due time of post i, created when done posts were: its
// whole second of the window, which opens a little after the creation ends
// as projected from the rate so far. The burst must not fire while it is
// still being created, yet the test should not sit idle; the projection
// keeps the lead as short as the machine allows, busy or not.
func burstDue(i int, begin time.Time, done int) time.Time {
	now := time.Now()
	rate := 500.0 // posts/s until measured: a slow machine's
	if done >= 500 {
		rate = float64(done) / now.Sub(begin).Seconds()
	}
	left := time.Duration(1.1 * float64(burstPosts-done) / rate * float64(time.Second))
	opens := now.Add(left + 2*time.Second).Truncate(time.Second).Add(time.Second)
	return opens.Add(time.Duration(i*int(burstWindow/time.Second)/burstPosts) * time.Second)
}

// createBurstPost creates post i through the API; it is safe to call from
// any goroutine (it reports errors instead of failing the test).
func createBurstPost(c *client, ws, acct string, i int, due time.Time) (string, error) {
	body, _ := json.Marshal(obj{
		"text": burstText(i), "account_ids": []string{acct},
		"scheduled_at": due.UTC().Format("2006-01-02T15:04:05"),
	})
	req, err := http.NewRequest(http.MethodPost, c.base+"/api/v1/workspaces/"+ws+"/posts", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", c.base)
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("creating post %d: %w", i, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("creating post %d: status %d: %s", i, res.StatusCode, raw)
	}
	var out struct {
		ID             string `json:"id"`
		ScheduledAtUTC string `json:"scheduled_at_utc"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("creating post %d: %w: %s", i, err, raw)
	}
	if at, err := time.Parse(time.RFC3339, out.ScheduledAtUTC); err != nil || !at.Equal(due) || out.ID == "" {
		return "", fmt.Errorf("creating post %d: got id %q scheduled at %q, want %s", i, out.ID, out.ScheduledAtUTC, due.UTC().Format(time.RFC3339))
	}
	return out.ID, nil
}

func burstText(i int) string { return fmt.Sprintf("burst #%d", i) }

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
func checkBurstOutcome(t *testing.T, db *store.DB, sim *simnet.Server, posts []burstPost, killed, restarted time.Time) {
	t.Helper()
	ctx := context.Background()
	bad := &problems{t: t}
	defer bad.summary()
	index := make(map[string]int, len(posts))
	for i, p := range posts {
		index[p.id] = i
	}

	// The network: every post exactly once, under its own key, none early.
	onNet := map[int]simnet.Status{}
	keys := map[string]bool{}
	for _, s := range sim.Statuses() {
		var i int
		if _, err := fmt.Sscanf(s.Text, "burst #%d", &i); err != nil || i < 0 || i >= len(posts) || burstText(i) != s.Text {
			bad.add("unexpected status", "%q", s.Text)
			continue
		}
		if prev, dup := onNet[i]; dup {
			bad.add("doubled on the network", "post %d (%s): statuses %s and %s", i, posts[i].id, prev.ID, s.ID)
			continue
		}
		onNet[i] = s
		switch {
		case s.IdempotencyKey == "":
			bad.add("no idempotency key", "post %d", i)
		case keys[s.IdempotencyKey]:
			bad.add("idempotency key used twice", "post %d: %s", i, s.IdempotencyKey)
		}
		keys[s.IdempotencyKey] = true
		if s.CreatedAt.Before(posts[i].due) {
			bad.add("early on the network", "post %d arrived at %s, due %s", i, s.CreatedAt, posts[i].due)
		}
	}
	for i, p := range posts {
		if _, ok := onNet[i]; !ok {
			bad.add("lost (never on the network)", "post %d (%s) due %s", i, p.id, p.due.Format(time.TimeOnly))
		}
	}

	// Trigger: one schedule per post, fired once, never early, its
	// lateness stored; those the crash delayed fire after the restart,
	// marked late by at least the time the process was down.
	rows, err := db.Query(ctx, `SELECT post_id, kind, state, due_at, fired_at, lateness_us FROM trigger_schedules`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		scheduled                 = map[int]bool{}
		before, after, late, tail int
		maxLateBefore, maxLate    time.Duration
	)
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
		switch {
		case fired.Before(killed):
			before++
			maxLateBefore = max(maxLateBefore, lateness)
		case !fired.Before(restarted):
			after++
			maxLate = max(maxLate, lateness)
			if due.Before(restarted) {
				late++
				if lateness < restarted.Sub(due) {
					bad.add("late firing not marked late", "post %d: due %s, fired after the restart at %s with lateness %s", i, due, restarted, lateness)
				}
			} else {
				tail++
			}
		default:
			bad.add("fired while the process was down", "post %d: fired %s, killed %s, restarted %s", i, fired, killed, restarted)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != len(posts) {
		bad.add("schedules missing", "%d posts have a schedule, want %d", len(scheduled), len(posts))
	}
	if late == 0 {
		t.Errorf("no schedule fired late after the restart: the crash delayed nothing (%d fired before the kill, %d after the restart)", before, after)
	}
	t.Logf("Trigger: %d fired before the kill (max lateness %s); after the restart %d caught up late (max lateness %s) and %d fired on time",
		before, maxLateBefore, late, maxLate, tail)

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
	// network holds under the attempt's key.
	rows, err = db.Query(ctx, `SELECT post_id, state, tries, remote_id, idempotency_key, due_at FROM publisher_attempts`)
	if err != nil {
		t.Fatal(err)
	}
	attempted := map[int]bool{}
	retried := 0
	for rows.Next() {
		var (
			postID, state, remoteID, key string
			tries                        int
			dueUS                        int64
		)
		if err := rows.Scan(&postID, &state, &tries, &remoteID, &key, &dueUS); err != nil {
			t.Fatal(err)
		}
		i, ok := index[postID]
		switch {
		case !ok:
			bad.add("attempt for an unknown post", "%s", postID)
			continue
		case attempted[i]:
			bad.add("two attempts for one post", "post %d (%s)", i, postID)
			continue
		}
		attempted[i] = true
		if tries > 1 {
			retried++
		}
		s := onNet[i]
		switch {
		case state != "succeeded":
			bad.add("attempt not succeeded", "post %d: state %q after %d tries", i, state, tries)
		case remoteID != s.ID || key != s.IdempotencyKey:
			bad.add("attempt does not name the status", "post %d: attempt has remote id %q key %q, the network %q key %q", i, remoteID, key, s.ID, s.IdempotencyKey)
		case !store.FromMicros(dueUS).Equal(posts[i].due):
			bad.add("attempt for the wrong occurrence", "post %d: due %s, want %s", i, store.FromMicros(dueUS), posts[i].due)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(attempted) != len(posts) {
		bad.add("attempts missing", "%d posts have an attempt, want %d", len(attempted), len(posts))
	}
	t.Logf("Publisher: %d attempts, %d of them tried more than once (left unknown by the crash)", len(attempted), retried)

	// Portal: every post and target published, with the network's status.
	rows, err = db.Query(ctx, `SELECT p.id, p.status, t.status, t.remote_id FROM portal_posts p JOIN portal_post_targets t ON t.post_id = p.id`)
	if err != nil {
		t.Fatal(err)
	}
	shown := 0
	for rows.Next() {
		var postID, postStatus, targetStatus, remoteID string
		if err := rows.Scan(&postID, &postStatus, &targetStatus, &remoteID); err != nil {
			t.Fatal(err)
		}
		i, ok := index[postID]
		if !ok {
			continue
		}
		shown++
		if postStatus != "published" || targetStatus != "published" || remoteID != onNet[i].ID {
			bad.add("Portal shows another outcome", "post %d: post %q, target %q remote id %q (network %q)", i, postStatus, targetStatus, remoteID, onNet[i].ID)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if shown != len(posts) {
		bad.add("Portal targets", "%d of %d posts have their target in Portal", shown, len(posts))
	}
}
