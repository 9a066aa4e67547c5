package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// The runbook's posts: scalingPosts one-shot posts due over scalingWindow
// (a few each second), so that some fire on the embedded process, some
// fall due while nothing runs, and the rest fire on the split topology.
const (
	scalingPosts  = 200
	scalingWindow = 40 * time.Second
)

// TestScalingRunbook walks docs/scaling.md: one embedded herald serve
// (SQLite, in-memory bus and coordination, media in files) is moved to the
// split topology (PostgreSQL, NATS, etcd, media in S3; two Triggers, two
// Publishers, a Notification, two Portals finding each other in the
// registry) while posts fall due throughout. Each step is timed; the
// times are logged as a table. Every post reaches the network exactly
// once, none early; those due while nothing ran fire late, marked late;
// the user's session and the media survive the move.
//
//	env $(scripts/test-infra.sh env) go test -run TestScalingRunbook -v ./e2e/
func TestScalingRunbook(t *testing.T) {
	t.Parallel()
	bin := buildHeraldBinary(t)
	mediaTo, mediaKind := scalingMediaTarget(t)
	// The split topology's settings, before anything runs: its Portal
	// balancer is the users' load balancer, in front of the embedded
	// process first.
	c := newCluster(t, bin, splitTopologies[0], true, "HERALD_BLOB__URL="+mediaTo)
	lb := c.proxies[config.Portal]

	// 0. The embedded installation, in use.
	dataDir := t.TempDir()
	embedded, direct := startServe(t, bin, dataDir, "HERALD_NODE_ID=embedded-1", "HERALD_BASE_URL="+c.URL)
	lb.add(direct)
	f := newFaultRun(t, c, bin, "scaling #%d")
	png := pngImage(t)
	mediaID := str(f.client.upload("/api/v1/workspaces/"+f.ws+"/media", "before.png", png, http.StatusCreated), "id")
	f.create(scalingPosts, scalingWindow)
	f.waitPublished(scalingPosts / 5)

	type step struct {
		name string
		took time.Duration
	}
	var steps []step
	timed := func(name string, fn func()) time.Time {
		began := time.Now()
		fn()
		steps = append(steps, step{name, time.Since(began)})
		return began
	}

	// 1. Stop the embedded process gracefully: downtime begins.
	var stopped time.Time
	downBegan := timed("1. stop the embedded node (SIGTERM)", func() {
		embedded.stop()
		stopped = time.Now()
		lb.setDown(direct, true)
	})
	onNetAtStop := f.sim.stats().Statuses
	t.Logf("stopped the embedded node: %d of %d statuses on the network", onNetAtStop, scalingPosts)
	if onNetAtStop == 0 || onNetAtStop >= scalingPosts {
		t.Fatalf("the stop did not land while posts were due (%d of %d on the network): nothing is tested", onNetAtStop, scalingPosts)
	}

	// 2. Move the data: the store to PostgreSQL, the media to S3.
	var report string
	timed("2. herald migrate (SQLite to PostgreSQL, media to "+mediaKind+")", func() {
		cmd := exec.Command(bin, "migrate",
			"--from-store", "sqlite://"+filepath.ToSlash(filepath.Join(dataDir, "herald.db")), "--to-store", c.storeURL,
			"--from-blob", "file://"+filepath.ToSlash(filepath.Join(dataDir, "media")), "--to-blob", mediaTo)
		out, err := cmd.CombinedOutput()
		report = string(out)
		if err != nil {
			t.Fatalf("herald migrate: %v\n%s", err, out)
		}
	})
	t.Logf("herald migrate said:\n%s", report)
	// The new nodes decrypt the stored account tokens with the old key.
	key, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	c.environ = append(c.environ, "HERALD_SECRET_KEY="+string(bytes.TrimSpace(key)))

	// 3. Start the nodes, every consumer before the producers of what it
	// consumes: a group made on the fresh bus after an event was published
	// never gets that event (docs/decisions/0034). Notification consumes
	// every service's events, Portal those of Publisher and Trigger,
	// Publisher Trigger's. The Portals take no traffic yet.
	var portals []*clusterNode
	timed("3. start Notification, 2 Portals (no traffic yet)", func() {
		c.startService(config.Notification, 1)
		portals = c.launch(config.Portal, 2)
	})
	enginesBegan := timed("4. start 2 Publishers, 2 Triggers", func() {
		c.startService(config.Publisher, 2)
		c.startService(config.Trigger, 2)
	})

	// 5. Switch traffic: the load balancer sends users to the Portals.
	var switched time.Time
	timed("5. switch traffic to the Portals", func() {
		c.route(config.Portal, portals)
		f.client.call(http.MethodGet, "/api/v1/workspaces/"+f.ws, nil, http.StatusOK)
		switched = time.Now()
	})
	// The table first: a failed check below still shows the times.
	var total time.Duration
	var table strings.Builder
	fmt.Fprintf(&table, "%-78s %10s\n", "step", "wall time")
	for _, s := range steps {
		fmt.Fprintf(&table, "%-78s %10s\n", s.name, s.took.Round(10*time.Millisecond))
		total += s.took
	}
	fmt.Fprintf(&table, "%-78s %10s\n", "downtime for users (SIGTERM to the Portals taking traffic)", switched.Sub(downBegan).Round(10*time.Millisecond))
	fmt.Fprintf(&table, "%-78s %10s\n", "downtime for schedules (SIGTERM to the engines starting)", enginesBegan.Sub(downBegan).Round(10*time.Millisecond))
	fmt.Fprintf(&table, "%-78s %10s\n", "total of steps 1-5", total.Round(10*time.Millisecond))
	t.Logf("scaling runbook, media to %s, links by registry discovery:\n%s", mediaKind, table.String())

	// The user is still signed in, the media still there.
	f.client.call(http.MethodGet, "/api/v1/posts/"+f.ids[0], nil, http.StatusOK)
	if got := mediaContent(t, f.client, mediaID); !bytes.Equal(got, png) {
		t.Errorf("the media after the move has %d bytes, want the %d uploaded", len(got), len(png))
	}

	// 6. Check: everything due fires, exactly once, late when it fell due
	// while nothing ran.
	f.settle()
	f.check()
	d := f.checkDowntime(stopped, enginesBegan)
	if n := f.count(`SELECT COUNT(*) FROM trigger_shards WHERE owner = 'embedded-1'`); n > 0 {
		t.Errorf("%d shards still owned by the stopped embedded node", n)
	}

	t.Logf("catch-up (engines starting to the last post due in the downtime published): %s",
		d.caughtUp.Sub(enginesBegan).Round(10*time.Millisecond))
	t.Logf("%d posts: %d fired by the embedded node, %d due in the downtime fired late (at most %s), %d fired on time by the split topology",
		scalingPosts, d.before, d.late, d.maxLate.Round(time.Millisecond), d.onTime)
}

// scalingMediaTarget is where the media moves: a new bucket of the S3 test
// server when it answers, else another directory.
func scalingMediaTarget(t *testing.T) (blobURL, kind string) {
	t.Helper()
	endpoint := env("HERALD_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err == nil {
		conn.Close()
		return s3URL(t, strings.ToLower(strings.ReplaceAll(id.New("scaling"), "_", "-"))), "S3"
	}
	t.Logf("no S3 test server at %s: the media moves to another directory", endpoint)
	return "file://" + filepath.ToSlash(t.TempDir()), "another directory"
}

// mediaContent reads a media object's bytes through Portal.
func mediaContent(t *testing.T, c *client, mediaID string) []byte {
	t.Helper()
	res, err := c.http.Get(c.base + "/api/v1/media/" + mediaID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("media %s: status %d: %s", mediaID, res.StatusCode, body)
	}
	return body
}

// downtime is when the schedules of a run fired, against its downtime.
type downtime struct {
	before, late, onTime int           // fired before the stop, late after it, on time after it
	maxLate              time.Duration // the greatest lateness of the late ones
	caughtUp             time.Time     // when the last late one reached the network
}

// checkDowntime checks, once settled, when each schedule fired: none while
// nothing ran (from stopped to up, when the engines began starting); those
// due in that time after it, marked late by at least their wait.
func (f *faultRun) checkDowntime(stopped, up time.Time) downtime {
	t := f.t
	t.Helper()
	bad := &problems{t: t}
	defer bad.summary()
	onNet := map[string]time.Time{}
	for _, s := range f.sim.statuses() {
		onNet[s.Text] = s.CreatedAt
	}
	index := map[string]int{}
	for i, id := range f.ids {
		index[id] = i
	}
	var d downtime
	rows, err := f.db.Query(context.Background(), `SELECT post_id, due_at, fired_at, lateness_us FROM trigger_schedules`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var postID string
		var dueUS, firedUS, latenessUS int64
		if err := rows.Scan(&postID, &dueUS, &firedUS, &latenessUS); err != nil {
			t.Fatal(err)
		}
		due, fired, lateness := store.FromMicros(dueUS), store.FromMicros(firedUS), time.Duration(latenessUS)*time.Microsecond
		switch {
		case fired.Before(stopped):
			d.before++
		case fired.Before(up):
			bad.add("fired while nothing ran", "post %s: due %s, fired %s (stopped %s, engines from %s)", postID, due, fired, stopped, up)
		case due.Before(up):
			d.late++
			d.maxLate = max(d.maxLate, lateness)
			if latenessUS != firedUS-dueUS || lateness < up.Sub(due) {
				bad.add("late firing not marked late", "post %s: due %s, fired %s, lateness %s", postID, due, fired, lateness)
			}
			if i, ok := index[postID]; ok {
				if at := onNet[fmt.Sprintf(f.format, i)]; at.After(d.caughtUp) {
					d.caughtUp = at
				}
			}
		default:
			d.onTime++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if d.late == 0 {
		t.Errorf("no schedule fell due in the downtime: the late catch-up is not tested")
	}
	return d
}
