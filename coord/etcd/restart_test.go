package etcd

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

// TestRestartEtcd restarts the shared server under held locks and
// registrations. etcd keeps leases across a restart (and renews them when
// it comes back), so a session with a long time to live usually survives it
// and one with a short time to live may not; whichever happens, each
// client reconnects, each lock is either still held or Lost and free for
// others, never both, and every instance is registered again.
func TestRestartEtcd(t *testing.T) {
	servertest.RequireRestarts(t)
	addr := serverAddr(t)
	ctx := t.Context()
	svc := id.New("etcdtest_svc")
	type holder struct {
		c    *Coordinator
		lock coord.Lock
	}
	var holders []holder
	var want []coord.Instance
	for i, ttl := range []string{"30s", "2s"} {
		c := mustOpen(t, "etcd://"+addr+testPath+"?ttl="+ttl)
		in := coord.Instance{Service: svc, ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:8080", i)}
		dereg, err := c.Register(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer dereg()
		l, err := c.TryLock(ctx, id.New("etcdtest_lock"), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, holder{c, l})
		want = append(want, in)
	}

	servertest.Restart(t, "etcd")

	for _, h := range holders {
		servertest.Eventually(t, time.Minute, "the client reconnects", func() error { return h.c.Ping(ctx) })
	}
	other := mustOpen(t, "etcd://"+addr+testPath)
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
