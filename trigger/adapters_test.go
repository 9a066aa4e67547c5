package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	busmem "github.com/heraldhq/herald/bus/mem"
	coordmem "github.com/heraldhq/herald/coord/mem"
)

// TestWithInProcessAdapters runs two engines the way one process wires them
// to the embedded adapters, each engine with its own coordination session
// as two nodes would have, and expires one session while its schedules are
// due: every schedule still fires exactly once.
func TestWithInProcessAdapters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	eventBus := busmem.New()
	t.Cleanup(func() { eventBus.Close() })
	if _, err := eventBus.Subscribe(ctx, bus.TopicPostDue, "test", b.dues.handle); err != nil {
		t.Fatal(err)
	}
	space := coordmem.New()
	t.Cleanup(func() { space.Close() })
	expiring := space.NewSession()

	start := func(c *coordmem.Coordinator) *Service {
		s, err := New(testConfig(), Deps{DB: b.db, Bus: eventBus, Coord: c, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, two := start(space), start(expiring)
	waitBalanced(t, one, two)

	const n = 200
	var last time.Time
	for i := range n {
		last = time.Now().Add(500*time.Millisecond + time.Duration(i)*3*time.Millisecond)
		mustSchedule(t, []*Service{one, two}[i%2], scheduleReq(tenant, sid(i), last))
	}
	sleepUntil(last.Add(-300 * time.Millisecond))
	expiring.Expire()

	eventually(t, "every schedule fired", func() bool { return one.Stats().Fired+two.Stats().Fired >= n })
	b.drain(one, two)
	checkEachOnce(t, b, n)
	// The expired engine registers again and gets its share back.
	waitBalanced(t, one, two)
}
