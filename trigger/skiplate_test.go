package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// TestDowntimeSkipsOneShotsLaterThanTheirThreshold stops the engine while
// three one-shot schedules fall due, and starts it again two minutes later:
// the one without a threshold and the one whose threshold the downtime does
// not exceed fire late; the one with a one-minute threshold is skipped: it
// never fires, ends SKIPPED, and a schedule.skipped says so. A skipped
// schedule can be scheduled again for a later time.
func TestDowntimeSkipsOneShotsLaterThanTheirThreshold(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	skipped := newRecorder(func() *eventsv1.ScheduleSkipped { return &eventsv1.ScheduleSkipped{} })
	if _, err := b.bus.Subscribe(context.Background(), bus.TopicScheduleSkipped, "test", skipped.handle); err != nil {
		t.Fatal(err)
	}
	const tenant = "t_skip"
	dueAt := start.Add(10 * time.Second)
	first := b.service(true, nil)
	withThreshold := func(id string, d time.Duration) *triggerv1.ScheduleRequest {
		req := scheduleReq(tenant, id, dueAt)
		if d > 0 {
			req.SkipIfLaterThan = durationpb.New(d)
		}
		return req
	}
	mustSchedule(t, first, withThreshold("late", 0))
	mustSchedule(t, first, withThreshold("within", 5*time.Minute))
	if got := mustSchedule(t, first, withThreshold("skip", time.Minute)); got.GetSkipIfLaterThan().AsDuration() != time.Minute {
		t.Fatalf("schedule keeps skip_if_later_than %v, want 1m", got.GetSkipIfLaterThan().AsDuration())
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(2 * time.Minute)
	second := b.service(true, nil)
	late, within := b.waitFired(tenant, "late"), b.waitFired(tenant, "within")
	for _, d := range []due{late, within} {
		if got := d.ev.GetFiredAt().AsTime().Sub(dueAt); got < 110*time.Second {
			t.Errorf("%s fired %v after its due instant, want the downtime's lateness", d.ev.GetScheduleId(), got)
		}
	}
	eventually(t, "a schedule.skipped", func() bool { return skipped.count() >= 1 })
	ev := skipped.all()[0]
	if ev.GetScheduleId() != "skip" || ev.GetPostId() != "post_skip" || ev.GetCount() != 1 || ev.GetRecurring() ||
		!ev.GetDueAt().AsTime().Equal(dueAt) || ev.GetSkipIfLaterThan().AsDuration() != time.Minute || ev.GetNextDueAt() != nil {
		t.Errorf("schedule.skipped = %v, want the one-shot skip due %v with its 1m threshold", ev, dueAt)
	}
	b.drain(second)
	if n := len(b.dues.of(tenant, "skip")); n != 0 {
		t.Errorf("the skipped schedule fired %d times, want never", n)
	}
	if n := skipped.count(); n != 1 {
		t.Errorf("%d schedule.skipped events, want 1", n)
	}
	sch := mustGet(t, second, tenant, "skip")
	if sch.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_SKIPPED || sch.GetSkippedCount() != 1 {
		t.Errorf("skipped schedule: state %v, skipped_count %d; want SKIPPED, 1", sch.GetState(), sch.GetSkippedCount())
	}
	if st := mustGet(t, second, tenant, "within").GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED {
		t.Errorf("within its threshold: state %v, want FIRED", st)
	}

	// Scheduled again, later: it is pending and fires at its new time.
	again := scheduleReq(tenant, "skip", clock.Now().Add(time.Minute))
	again.Revision = 2
	if st := mustSchedule(t, second, again).GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("a skipped schedule scheduled again is %v, want PENDING", st)
	}
	clock.Advance(time.Minute)
	if d := b.waitFired(tenant, "skip"); d.ev.GetRevision() != 2 {
		t.Errorf("fired revision %d, want the new one", d.ev.GetRevision())
	}
}

// TestDowntimeReportsSkippedOccurrences: a recurring schedule whose
// occurrences fell due during downtime reports the skipped ones in one
// schedule.skipped, naming the latest skipped and the next occurrence.
func TestDowntimeReportsSkippedOccurrences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Date(2026, 6, 1, 8, 59, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	skipped := newRecorder(func() *eventsv1.ScheduleSkipped { return &eventsv1.ScheduleSkipped{} })
	if _, err := b.bus.Subscribe(context.Background(), bus.TopicScheduleSkipped, "test", skipped.handle); err != nil {
		t.Fatal(err)
	}
	const tenant = "t_skip_recur"
	first := b.service(true, nil)
	for _, id := range []string{"fire_latest", "skip_all"} {
		req := &triggerv1.ScheduleRequest{TenantId: tenant, ScheduleId: id, PostId: "post_" + id, Revision: 1,
			Zone: "UTC", Rrule: "FREQ=MINUTELY;INTERVAL=5", StartLocal: "2026-06-01T09:00:00"}
		if id == "skip_all" {
			req.SkipIfLaterThan = durationpb.New(time.Minute)
		}
		mustSchedule(t, first, req)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// 09:00, 09:05 and 09:10 fall due while no engine runs; it restarts at 09:12.
	clock.Advance(13 * time.Minute)
	second := b.service(true, nil)
	eventually(t, "two schedule.skipped", func() bool { return skipped.count() >= 2 })
	nine := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	byID := map[string]*eventsv1.ScheduleSkipped{}
	for _, ev := range skipped.all() {
		byID[ev.GetScheduleId()] = ev
	}
	if ev := byID["fire_latest"]; ev == nil || ev.GetCount() != 2 || !ev.GetDueAt().AsTime().Equal(nine.Add(5*time.Minute)) ||
		ev.GetSkipIfLaterThan() != nil || !ev.GetRecurring() || !ev.GetNextDueAt().AsTime().Equal(nine.Add(15*time.Minute)) {
		t.Errorf("fire_latest: schedule.skipped = %v, want the 2 older missed occurrences (latest 09:05), next 09:15", ev)
	}
	if ev := byID["skip_all"]; ev == nil || ev.GetCount() != 3 || !ev.GetDueAt().AsTime().Equal(nine.Add(10*time.Minute)) ||
		ev.GetSkipIfLaterThan().AsDuration() != time.Minute || !ev.GetNextDueAt().AsTime().Equal(nine.Add(15*time.Minute)) {
		t.Errorf("skip_all: schedule.skipped = %v, want all 3 (latest 09:10) with the 1m threshold, next 09:15", ev)
	}
	if d := b.waitFired(tenant, "fire_latest"); !d.ev.GetDueAt().AsTime().Equal(nine.Add(10 * time.Minute)) {
		t.Errorf("fire_latest fired the occurrence due %v, want 09:10", d.ev.GetDueAt().AsTime())
	}
	b.drain(second)
	if n := len(b.dues.of(tenant, "skip_all")); n != 0 {
		t.Errorf("skip_all fired %d times during catch-up, want none", n)
	}
}
