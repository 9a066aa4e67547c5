package zk

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// TestRestartZooKeeper restarts the shared server under held locks and
// registrations. The servers keep sessions across a restart, so a session
// with a long timeout usually survives it and one with a short timeout may
// not; whichever happens, each client reconnects, each lock is either still
// held or Lost and free for others, never both, and every instance is
// registered again.
func TestRestartZooKeeper(t *testing.T) {
	servertest.RequireRestarts(t)
	addr := serverAddr(t)
	ctx := t.Context()
	svc := id.New("zktest_svc")
	type holder struct {
		c    *Coordinator
		lock coord.Lock
	}
	var holders []holder
	var want []coord.Instance
	for i, ttl := range []string{"40s", "4s"} {
		c := mustOpen(t, "zk://"+addr+testPath+"?ttl="+ttl)
		in := coord.Instance{Service: svc, ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:8080", i)}
		dereg, err := c.Register(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer dereg()
		l, err := c.TryLock(ctx, id.New("zktest_lock"), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, holder{c, l})
		want = append(want, in)
	}

	servertest.Restart(t, "zookeeper")

	for _, h := range holders {
		servertest.Eventually(t, time.Minute, "the client reconnects", func() error { return h.c.Ping(ctx) })
	}
	other := mustOpen(t, "zk://"+addr+testPath)
	for _, h := range holders {
		held := coordtest.OneHolder(t, other, h.lock, time.Minute)
		t.Logf("lock %s: still held after the restart: %v", h.lock.Name(), held)
	}
	servertest.Eventually(t, time.Minute, "every instance is registered", func() error {
		got, err := other.Instances(ctx, svc)
		if err != nil || !slices.Equal(got, want) {
			return fmt.Errorf("Instances = %v, %v; want %v", got, err, want)
		}
		return nil
	})
}
