package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/publisher"
	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store"
)

// The publish crash proof runs publishCrashPosts posts by default; the
// full run of issue 5 is 10,000:
//
//	HERALD_TEST_PUBLISH_CRASH_POSTS=10000 go test -race -run TestPublishCrash -v -timeout 20m ./e2e/
const (
	publishCrashPostsEnv = "HERALD_TEST_PUBLISH_CRASH_POSTS"
	publishCrashPosts    = 10000
	// publishCrashKills is how many times the test itself kills the
	// process at a random moment while posts are being published, on top
	// of the deaths at the failpoints.
	publishCrashKills = 6
	// publishCrashPatience bounds the publishing and its settling.
	publishCrashPatience = 4 * time.Minute
)

// TestPublishCrashLosesAndDoublesNothing is issue 5's proof: herald serve
// (the real binary, embedded defaults) publishes a burst of due posts to a
// simulated Mastodon server (herald simnet, which drops a few connections
// after creating the status, so some outcomes are unknown) and dies again
// and again while doing it: SIGKILLed by the test at random moments, and
// killing itself at the publisher's failpoints (publisher.FailpointEnv),
// the worst one being after the network created the status and before the
// outcome is committed. It is restarted each time on the same data
// directory. In the end every post is on the network exactly once (the
// network's deduplication by Idempotency-Key absorbed every repeat, and no
// repeat went out under another key), every attempt succeeded naming the
// status the network holds, none is left unknown or in flight, and Portal
// shows every post published.
func TestPublishCrashLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	n := publishCrashPosts
	if v := os.Getenv(publishCrashPostsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("%s=%q: want a number of posts, at least 100", publishCrashPostsEnv, v)
		}
	}
	began := time.Now()
	ctx := context.Background()
	bin := buildHeraldBinary(t)
	sim := startSimnet(t, bin)
	// Connections dropped after the status was created (the answer is
	// lost: an unknown outcome, settled by a try with the same key 8 to
	// 15 s later with Publisher's defaults): the first two publishes, and
	// about two more anywhere in the run.
	sim.post("/_simnet/faults", fmt.Sprintf(`{"drop_next": 2, "drop_rate": %g, "path": "/api/v1/statuses"}`, 2/float64(n)))

	dataDir := t.TempDir()
	proc := newCrashingServe(t, bin, dataDir)
	if !proc.start() {
		t.Fatal("herald serve died before it was ready")
	}
	db, err := store.Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(dataDir, "herald.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	count := func(q string, args ...any) int {
		t.Helper()
		var c int
		if err := db.QueryRow(ctx, q, args...).Scan(&c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return c
	}

	h := &herald{t: t, URL: proc.base}
	c := h.newClient()
	email := uniqueEmail("pubcrash")
	const password = "publish crash dummy"
	c.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Pub Crash Co", "name": "Pia", "email": email, "password": password}, http.StatusCreated)
	c.login(email, password)
	ws := str(c.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Crash", "timezone": "UTC"}, http.StatusCreated), "id")
	acct := str(c.call(http.MethodPost, "/api/v1/workspaces/"+ws+"/accounts",
		obj{"network": "mastodon", "instance_url": sim.base, "access_token": sim.createAccount("pubcrash")}, http.StatusCreated), "id")

	ids, due, created := createPublishCrashPosts(t, c, ws, acct, n)
	t.Logf("created %d posts in %s, due at %s", n, created.Round(time.Millisecond), due.Format(time.TimeOnly))

	// From here on the process dies again and again. The failpoints are
	// armed from the first restart: about ten deaths after a network
	// call, three before one, over the n calls the burst needs at least.
	arm := fmt.Sprintf("%s=%s:%g,%s:%g", publisher.FailpointEnv,
		publisher.FailAfterCall, 10/float64(n), publisher.FailBeforeCall, 3/float64(n))
	proc.environ = append(proc.environ, arm)
	proc.kill() // the first death: posts accepted, none due yet (unless the creation ran late)
	kills := 1

	quiet := func() (bool, string) {
		pending := count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`)
		trigBox := count(`SELECT COUNT(*) FROM trigger_outbox`)
		unsettled := count(`SELECT COUNT(*) FROM publisher_attempts WHERE state IN ('in_flight', 'retry_wait', 'unknown')`)
		pubBox := count(`SELECT COUNT(*) FROM publisher_outbox`)
		state := fmt.Sprintf("%d schedules pending, %d events in Trigger's outbox, %d attempts unsettled, %d events in Publisher's outbox, %d statuses on the network",
			pending, trigBox, unsettled, pubBox, sim.stats().Statuses)
		return pending == 0 && trigBox == 0 && unsettled == 0 && pubBox == 0, state
	}
	deadline := time.Now().Add(time.Until(due) + publishCrashPatience)
	var nextKill time.Time
	lastQuiet := time.Time{}
	for {
		if time.Now().After(deadline) {
			_, state := quiet()
			t.Fatalf("not settled %s after the posts were due: %s", publishCrashPatience, state)
		}
		if !proc.alive() {
			if !proc.start() {
				continue // died again before it was ready: a failpoint on the way up
			}
			// The next kill by the test: a random moment of this run.
			nextKill = time.Now().Add(time.Duration(200+rand.IntN(1800)) * time.Millisecond)
			continue
		}
		published := sim.stats().Statuses
		if published < int64(n) && kills < 1+publishCrashKills && time.Now().After(due) && time.Now().After(nextKill) {
			proc.kill()
			kills++
			t.Logf("kill %d (SIGKILL by the test): %d of %d statuses on the network", kills, published, n)
			continue
		}
		if published >= int64(n) && time.Since(lastQuiet) > 500*time.Millisecond {
			lastQuiet = time.Now()
			if done, _ := quiet(); done {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	settled := time.Now()
	eventually(t, "Portal to show every post published", func() bool {
		return count(`SELECT COUNT(*) FROM portal_post_targets WHERE status = 'published'`) >= n
	})

	deaths := proc.failpointDeaths()
	t.Logf("%d runs of herald serve: %d kills by the test, failpoint deaths %v; settled %s after the posts were due; the run took %s",
		proc.runs, kills, deaths, settled.Sub(due).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	checkPublishCrashOutcome(t, db, sim, ids, deaths)
}

// createPublishCrashPosts creates n posts through the REST API, all due at
// one whole second placed after the projected end of the creation, and
// returns their ids by index, that second and how long the creation took.
// The first posts are created due far ahead to measure the rate and moved
// in at the end; any post whose second came too close goes a little later.
func createPublishCrashPosts(t *testing.T, c *client, ws, acct string, n int) ([]string, time.Time, time.Duration) {
	t.Helper()
	ids := make([]string, n)
	calibrate := min(300, n/4)
	begin := time.Now()
	far := begin.Add(time.Hour).Truncate(time.Second)
	create := func(i int, at time.Time) (err error) {
		ids[i], err = postBurst(c, http.MethodPost, "/api/v1/workspaces/"+ws+"/posts", obj{
			"text": publishCrashText(i), "account_ids": []string{acct}, "scheduled_at": at.UTC().Format("2006-01-02T15:04:05"),
		}, at)
		return err
	}
	if err := inParallel(0, calibrate, func(i int) error { return create(i, far) }); err != nil {
		t.Fatal(err)
	}
	rate := float64(calibrate) / time.Since(begin).Seconds()
	left := float64(n - calibrate + calibrate/2) // a PATCH costs about half a create
	due := time.Now().Add(time.Duration(1.5*left/rate*float64(time.Second)) + 3*time.Second).Truncate(time.Second).Add(time.Second)
	at := func() time.Time {
		if earliest := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second); due.Before(earliest) {
			return earliest
		}
		return due
	}
	if err := inParallel(calibrate, n, func(i int) error { return create(i, at()) }); err != nil {
		t.Fatal(err)
	}
	err := inParallel(0, calibrate, func(i int) error {
		when := at()
		_, err := postBurst(c, http.MethodPatch, "/api/v1/posts/"+ids[i], obj{"scheduled_at": when.UTC().Format("2006-01-02T15:04:05")}, when)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().After(due) {
		t.Logf("the creation ran past the burst's second (%s): some posts went out before the kills began", due.Format(time.TimeOnly))
	}
	return ids, due, time.Since(begin)
}

func publishCrashText(i int) string { return fmt.Sprintf("publish crash #%d", i) }

// checkPublishCrashOutcome checks the network and the store once
// everything settled.
func checkPublishCrashOutcome(t *testing.T, db *store.DB, sim *simnetProcess, ids []string, deaths map[string]int) {
	t.Helper()
	ctx := context.Background()
	bad := &problems{t: t}
	defer bad.summary()
	n := len(ids)
	index := make(map[string]int, n)
	for i, id := range ids {
		index[id] = i
	}

	// The network: each post exactly once, under a key of its own.
	onNet := map[int]simnet.Status{}
	keys := map[string]bool{}
	for _, s := range sim.statuses() {
		var i int
		if _, err := fmt.Sscanf(s.Text, "publish crash #%d", &i); err != nil || i < 0 || i >= n || publishCrashText(i) != s.Text {
			bad.add("unexpected status", "%q", s.Text)
			continue
		}
		if prev, dup := onNet[i]; dup {
			bad.add("duplicate on the network", "post %d (%s): statuses %s and %s", i, ids[i], prev.ID, s.ID)
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
	}
	for i, id := range ids {
		if _, ok := onNet[i]; !ok {
			bad.add("lost (never on the network)", "post %d (%s)", i, id)
		}
	}
	st := sim.stats()
	if st.Statuses != int64(n) {
		bad.add("statuses created", "the network created %d statuses, want %d", st.Statuses, n)
	}
	// Each death after a call left a status the network made and Herald
	// did not record: its next try must have been answered from the
	// network's memory of the key, not made a second status.
	if deaths[publisher.FailAfterCall] == 0 {
		t.Errorf("no death at %s: the worst moment was not tested", publisher.FailAfterCall)
	}
	if st.DuplicatesAvoided < int64(deaths[publisher.FailAfterCall]) {
		t.Errorf("the network absorbed %d repeated requests, fewer than the %d deaths after a call it answered",
			st.DuplicatesAvoided, deaths[publisher.FailAfterCall])
	}
	if st.ConnectionsDropped < 2 {
		t.Errorf("the network dropped %d answers, want at least 2: no outcome was left unknown by the network", st.ConnectionsDropped)
	}
	t.Logf("network: %d statuses, %d repeats absorbed by Idempotency-Key, %d connections dropped after the status was made",
		st.Statuses, st.DuplicatesAvoided, st.ConnectionsDropped)

	// Publisher: one attempt per post, settled as succeeded, naming the
	// network's status; nothing unknown or in flight is left.
	rows, err := db.Query(ctx, `SELECT post_id, state, tries, remote_id, idempotency_key FROM publisher_attempts`)
	if err != nil {
		t.Fatal(err)
	}
	attempted := map[int]bool{}
	retried := 0
	for rows.Next() {
		var (
			postID, state, remoteID, key string
			tries                        int
		)
		if err := rows.Scan(&postID, &state, &tries, &remoteID, &key); err != nil {
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
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(attempted) != n {
		bad.add("attempts missing", "%d posts have an attempt, want %d", len(attempted), n)
	}
	t.Logf("Publisher: %d attempts, all settled; %d were tried more than once (their outcome was unknown after a death or a dropped answer)", len(attempted), retried)
	if retried == 0 {
		t.Errorf("no attempt was tried twice: no death left an outcome unknown")
	}

	// Portal: every target published, with the network's status.
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
	if shown != n {
		bad.add("Portal targets", "%d of %d posts have their target in Portal", shown, n)
	}
}

// crashingServe is herald serve on one data directory and address, run
// again after every death, whether the test killed it or it killed itself
// at a failpoint.
type crashingServe struct {
	t       *testing.T
	bin     string
	environ []string
	base    string
	logs    string
	runs    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the current run's process is gone
}

func newCrashingServe(t *testing.T, bin, dataDir string) *crashingServe {
	t.Helper()
	addr := freeAddr(t)
	p := &crashingServe{t: t, bin: bin, base: "http://" + addr, logs: t.TempDir(), environ: []string{
		"HERALD_DATA_DIR=" + dataDir,
		"HERALD_LISTEN=" + addr,
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LOG__LEVEL=warn",
		// One user creates every post: lift the per-user API limit.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}}
	t.Cleanup(func() {
		if p.alive() {
			p.kill()
		}
		if t.Failed() {
			for run := 1; run <= p.runs; run++ {
				log, _ := os.ReadFile(p.logPath(run))
				if len(log) > 3000 {
					log = log[len(log)-3000:]
				}
				t.Logf("herald serve, run %d, end of its log:\n%s", run, log)
			}
		}
	})
	return p
}

func (p *crashingServe) logPath(run int) string {
	return filepath.Join(p.logs, fmt.Sprintf("serve-%d.log", run))
}

// start runs the process and waits until it is ready; it reports false if
// the process died first.
func (p *crashingServe) start() bool {
	p.t.Helper()
	p.runs++
	cmd := exec.Command(p.bin, "serve")
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
		res, err := http.Get(p.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("herald serve (run %d) not ready after %s", p.runs, waitFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *crashingServe) alive() bool {
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
func (p *crashingServe) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	<-p.exited
}

// failpointDeaths counts the runs that killed themselves, by failpoint.
func (p *crashingServe) failpointDeaths() map[string]int {
	out := map[string]int{}
	for run := 1; run <= p.runs; run++ {
		log, _ := os.ReadFile(p.logPath(run))
		for _, name := range []string{publisher.FailAfterCall, publisher.FailBeforeCall} {
			if strings.Contains(string(log), "failpoint "+name+": killing the process") {
				out[name]++
			}
		}
	}
	return out
}

// post sends a JSON body to one of simnet's control endpoints.
func (s *simnetProcess) post(path, body string) {
	s.t.Helper()
	res, err := http.Post(s.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("simnet %s: %v", path, err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		s.t.Fatalf("simnet %s: status %d", path, res.StatusCode)
	}
}
