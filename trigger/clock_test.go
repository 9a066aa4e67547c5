package trigger

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/types/known/durationpb"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// TestNeverEarlyByTheEngineClock moves a fake clock by hand, a step at a
// time, and checks after every step that exactly the schedules due by the
// clock have fired: none early (due after the clock), none missed, and each
// at the step its instant was reached (fired_at by the engine's clock is at
// or after due_at, and less than a step later).
func TestNeverEarlyByTheEngineClock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC) // an hour before Europe/Paris jumps to summer time
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	s := b.service(true, nil)

	const tenant = "t_clock"
	const step = 250 * time.Millisecond
	want := map[string]time.Time{}
	// One-shot schedules spread over 50 s, several sharing an instant, some
	// a microsecond apart (the edge a rounding error would cross).
	for i := range 60 {
		at := start.Add(time.Second + time.Duration(i%20)*2500*time.Millisecond)
		if i%7 == 0 {
			at = at.Add(time.Microsecond)
		}
		id := sid(i)
		mustSchedule(t, s, scheduleReq(tenant, id, at))
		want[id] = at
	}
	// A recurring schedule every minute, in a zone whose clocks jump during
	// the run: its occurrences must follow the clock too.
	rec := mustSchedule(t, s, &triggerv1.ScheduleRequest{
		TenantId: tenant, ScheduleId: "every_minute", PostId: "post_every_minute", Revision: 1,
		Zone: "Europe/Paris", Rrule: "FREQ=MINUTELY;COUNT=4", StartLocal: "2026-03-29T01:59:30",
		SkipIfLaterThan: durationpb.New(time.Minute),
	})
	first := rec.GetDueAt().AsTime()
	if !first.Equal(start.Add(30 * time.Second)) {
		t.Fatalf("first occurrence at %s, want %s", first, start.Add(30*time.Second))
	}
	occurrences := []time.Time{first, first.Add(time.Minute), first.Add(2 * time.Minute), first.Add(3 * time.Minute)}

	end := start.Add(4 * time.Minute)
	for now := start; !now.After(end); now = now.Add(step) {
		if d := now.Sub(clock.Now()); d > 0 {
			clock.Advance(d)
		}
		wantOnce := 0
		for _, at := range want {
			if !at.After(now) {
				wantOnce++
			}
		}
		wantRec := 0
		for _, at := range occurrences {
			if !at.After(now) {
				wantRec++
			}
		}
		eventually(t, fmt.Sprintf("the schedules due by %s to fire", now.Format(time.TimeOnly+".000000")), func() bool {
			once, recN := 0, 0
			for _, d := range b.dues.all() {
				if d.ev.GetScheduleId() == "every_minute" {
					recN++
				} else {
					once++
				}
			}
			return once >= wantOnce && recN >= wantRec
		})
		for _, d := range b.dues.all() {
			due, fired := d.ev.GetDueAt().AsTime(), d.ev.GetFiredAt().AsTime()
			if due.After(now) {
				t.Fatalf("%s due at %s fired when the clock said %s: early", d.ev.GetScheduleId(), due, now)
			}
			if fired.Before(due) {
				t.Fatalf("%s due at %s has fired_at %s: early", d.ev.GetScheduleId(), due, fired)
			}
			if fired.Sub(due) >= step {
				t.Fatalf("%s due at %s fired at %s: not at the step that reached it", d.ev.GetScheduleId(), due, fired)
			}
		}
	}
	b.drain(s)
	for id, at := range want {
		got := b.dues.of(tenant, id)
		if len(got) != 1 {
			t.Fatalf("%s fired %d times, want once", id, len(got))
		}
		if !got[0].ev.GetDueAt().AsTime().Equal(at) {
			t.Errorf("%s fired for %s, want %s", id, got[0].ev.GetDueAt().AsTime(), at)
		}
	}
	got := b.dues.of(tenant, "every_minute")
	if len(got) != len(occurrences) {
		t.Fatalf("recurring schedule fired %d times, want %d", len(got), len(occurrences))
	}
	for i, d := range got {
		if !d.ev.GetDueAt().AsTime().Equal(occurrences[i]) {
			t.Errorf("occurrence %d due %s, want %s", i, d.ev.GetDueAt().AsTime(), occurrences[i])
		}
	}
}

// TestFailedFireRetriesWhileTheClockStands makes the fire transaction fail
// (the outbox table it writes post.due to is renamed away), then mends the
// store without moving the engine's clock: the retry waits in real time, so
// the schedule still fires. Waiting for the retry on the engine's clock
// would hold it until someone moved the clock: forever in a test, and a
// needless stall with a clock that jumps.
func TestFailedFireRetriesWhileTheClockStands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now().Truncate(time.Second)
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	s := b.service(true, nil)
	ctx := t.Context()

	mustSchedule(t, s, scheduleReq(tenant, "s1", start.Add(time.Minute)))
	if _, err := b.db.Exec(ctx, `ALTER TABLE trigger_outbox RENAME TO trigger_outbox_away`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	eventually(t, "a failed fire", func() bool { return s.Stats().FireFailures > 0 })
	if n := len(b.dues.of(tenant, "s1")); n != 0 {
		t.Fatalf("fired %d times with its outbox gone", n)
	}
	if _, err := b.db.Exec(ctx, `ALTER TABLE trigger_outbox_away RENAME TO trigger_outbox`); err != nil {
		t.Fatal(err)
	}
	b.waitFired(tenant, "s1")
	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("fired %d times after the store mended, want once", n)
	}
}
