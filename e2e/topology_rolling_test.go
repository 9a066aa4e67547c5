package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// rollingPosts fall due over rollingWindow while every node of the
// cluster is restarted, one after the other.
const (
	rollingPosts  = 800
	rollingWindow = 60 * time.Second
)

// TestTopologyRollingRestart restarts every node of topology 3 (gRPC on
// PostgreSQL + NATS + etcd + Redis, seven processes) one at a time, as an
// operator rolling out a new version does, while the posts fall due:
// SIGTERM, wait for the exit, start it again with the same settings, wait
// until it answers /readyz, then the next. Each node's balancer takes it
// out of the pool before the stop and back once ready. A graceful stop
// must stop taking work and finish or hand back what it holds, so once
// the last node is back every post is on the network exactly once and
// none early, every schedule fired once, and Portal and Notification
// both saw every post published.
func TestTopologyRollingRestart(t *testing.T) {
	t.Parallel()
	bin := buildHeraldBinary(t)
	// A NATS of the test's own: the stream and its consumers are the
	// test's alone.
	ns := startNATS(t)
	c := startCluster(t, bin, splitTopologies[0], "HERALD_BUS__URL="+natsURL(ns.addr, "rolling"))
	f := newFaultRun(t, c, bin, "rolling restart #%d")
	f.create(rollingPosts, rollingWindow)
	f.waitFired(rollingPosts / 20)

	began := time.Now()
	var order []string
	for _, shape := range topologyShape {
		for i := range shape.count {
			n := c.node(shape.service, i)
			fired := f.count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'fired'`)
			pending := rollingPosts - fired
			inFlight := f.count(`SELECT COUNT(*) FROM publisher_attempts WHERE state = 'in_flight'`)
			onNet := f.sim.stats().Statuses
			if len(order) == 0 && pending == 0 {
				t.Fatalf("every post fired before the first restart: nothing is tested")
			}
			stopped := c.restart(shape.service, i)
			t.Logf("restarted %s (exited %s after SIGTERM): before it, %d of %d fired, %d attempts in flight, %d statuses on the network",
				n.name, stopped.Round(time.Millisecond), fired, rollingPosts, inFlight, onNet)
			order = append(order, n.name)
		}
	}
	fired := f.count(`SELECT COUNT(*) FROM trigger_schedules WHERE state = 'fired'`)
	t.Logf("restarted every node (%s) in %s; %d of %d schedules had fired by the last one's return",
		strings.Join(order, ", "), time.Since(began).Round(time.Millisecond), fired, rollingPosts)

	f.settle()
	f.check()
	eventually(t, "a notification of every published post", func() bool {
		return f.count(`SELECT COUNT(*) FROM notify_notifications WHERE kind = 'post.published'`) >= rollingPosts
	})
	if got := f.count(`SELECT COUNT(*) FROM notify_notifications WHERE kind = 'post.published'`); got != rollingPosts {
		t.Errorf("%d post.published notifications, want one per post: %d", got, rollingPosts)
	}
	var maxLate int64
	if err := f.db.QueryRow(context.Background(), `SELECT MAX(lateness_us) FROM trigger_schedules`).Scan(&maxLate); err != nil {
		t.Fatal(err)
	}
	t.Logf("max fire lateness %s", time.Duration(maxLate)*time.Microsecond)
}
