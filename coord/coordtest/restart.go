package coordtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// SurvivesRestart restarts the named shared server (scripts/test-infra.sh)
// under held locks and registrations of two sessions, one whose time to
// live (longTTL) outlasts the restart and one (shortTTL) that may not. The
// servers keep sessions across a restart, so the long one usually survives
// and the short one may expire; whichever happens, each client reconnects,
// each lock is either still held or Lost and free for others — never both —
// and every instance is registered again. open opens a coordinator of the
// adapter with the given ttl URL option ("" for the default).
func SurvivesRestart(t *testing.T, server, longTTL, shortTTL string, open func(t *testing.T, ttl string) coord.Coordinator) {
	t.Helper()
	servertest.RequireRestarts(t)
	ctx := t.Context()
	svc := id.New("restart_svc")
	type holder struct {
		c    coord.Coordinator
		lock coord.Lock
	}
	var holders []holder
	var want []coord.Instance
	for i, ttl := range []string{longTTL, shortTTL} {
		c := open(t, ttl)
		in := coord.Instance{Service: svc, ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:8080", i)}
		dereg, err := c.Register(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer dereg()
		l, err := c.TryLock(ctx, id.New("restart_lock"), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, holder{c, l})
		want = append(want, in)
	}

	servertest.Restart(t, server)

	for _, h := range holders {
		servertest.Eventually(t, time.Minute, "the client reconnects", func() error { return h.c.Ping(ctx) })
	}
	other := open(t, "")
	for _, h := range holders {
		held := OneHolder(t, other, h.lock, time.Minute)
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
