package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

func TestQueueRunningEmptyIsToldOncePerTimeItRunsLow(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	lows := newRecorder(func() *eventsv1.QueueRunningEmpty { return &eventsv1.QueueRunningEmpty{} })
	if _, err := qb.bus.Subscribe(context.Background(), bus.TopicQueueRunningEmpty, "test", lows.handle); err != nil {
		t.Fatal(err)
	}
	s := qb.service(true, queueTune)
	// Every day at 09:00 UTC.
	mustPutQueue(t, s, queueReq("q1", "UTC", "1 09:00", "2 09:00", "3 09:00", "4 09:00", "5 09:00", "6 09:00", "7 09:00"))
	day := func(d int) time.Time { return at(d, 9, 0) } // 2 March is a Monday
	for i := range 4 {
		mustSchedule(t, s, queuedReq(sid(i), "q1", false))
	}
	if n := lows.count(); n != 0 {
		t.Fatalf("filling a queue told %d times that it runs empty", n)
	}
	qb.fireAt(sid(0), day(2)) // 3 left: enough
	qb.drain(s)
	if n := lows.count(); n != 0 {
		t.Fatalf("told %d times with %d posts waiting", n, queueLowWater)
	}
	qb.fireAt(sid(1), day(3)) // 2 left: low, told once
	qb.drain(s)
	qb.fireAt(sid(2), day(4)) // 1 left: still low, not told again
	qb.drain(s)
	got := lows.all()
	if len(got) != 1 {
		t.Fatalf("told %d times while running low, want once: %v", len(got), got)
	}
	if ev := got[0]; ev.TenantId != tenant || ev.WorkspaceId != "ws_1" || ev.QueueId != "q1" || ev.QueueName != "Queue q1" ||
		ev.Remaining != 2 || !ev.EmptyAt.AsTime().Equal(day(5)) {
		t.Fatalf("event = %v, want 2 remaining, the last on %s", ev, day(5))
	}

	// Refilled to the mark, it is armed again; the next time it runs low
	// is told.
	mustSchedule(t, s, queuedReq("more1", "q1", false))
	mustSchedule(t, s, queuedReq("more2", "q1", false))
	qb.fireAt(sid(3), day(5)) // 3 waited, 2 left
	qb.drain(s)
	if got := lows.all(); len(got) != 2 || got[1].Remaining != 2 {
		t.Fatalf("after a refill and a fire: %v, want a second event", got)
	}
}
