package trigger

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

const testZone = "Europe/Paris"

// secondly lets a test's services run rules that fire every second, so a
// test sees several occurrences in seconds.
func secondly(c *Config) { c.allowSecondly = true }

// wholeSecondIn returns the first whole second at least d from now, and its
// wall time in the test zone (occurrences fall on whole seconds).
func wholeSecondIn(t *testing.T, d time.Duration) (time.Time, string) {
	t.Helper()
	loc, err := time.LoadLocation(testZone)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(d + time.Second).Truncate(time.Second)
	return at, at.In(loc).Format(localLayout)
}

func recurReq(scheduleID, rule, startLocal string) *triggerv1.ScheduleRequest {
	return &triggerv1.ScheduleRequest{
		TenantId: tenant, ScheduleId: scheduleID, PostId: "post_" + scheduleID, Revision: 1,
		Zone: testZone, Rrule: rule, StartLocal: startLocal,
	}
}

// dueInstants returns the due instants of a schedule's post.due events.
func dueInstants(b *bundle, scheduleID string) []time.Time {
	var out []time.Time
	for _, d := range b.dues.of(tenant, scheduleID) {
		out = append(out, d.ev.GetDueAt().AsTime())
	}
	return out
}

func TestRecurringFiresEachOccurrenceOnTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, secondly)
	t0, startLocal := wholeSecondIn(t, time.Second)
	got := mustSchedule(t, s, recurReq("r1", "FREQ=SECONDLY;COUNT=3", startLocal))
	if !got.GetDueAt().AsTime().Equal(t0) || got.GetRrule() == "" || got.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("scheduled %v, want pending, due at its first occurrence %v", got, t0)
	}

	eventually(t, "three occurrences", func() bool { return len(b.dues.of(tenant, "r1")) >= 3 })
	b.drain(s)
	ds := b.dues.of(tenant, "r1")
	if len(ds) != 3 {
		t.Fatalf("%d post.due events, want 3", len(ds))
	}
	for i, d := range ds {
		want := t0.Add(time.Duration(i) * time.Second)
		if due := d.ev.GetDueAt().AsTime(); !due.Equal(want) {
			t.Errorf("occurrence %d due at %v, want %v", i, due, want)
		}
		if fired := d.ev.GetFiredAt().AsTime(); fired.Before(want) {
			t.Errorf("occurrence %d fired at %v, before its due instant %v", i, fired, want)
		}
		// post.due carries the next occurrence, none after the last.
		if next := d.ev.GetNextDueAt(); i < 2 && !next.AsTime().Equal(want.Add(time.Second)) || i == 2 && next != nil {
			t.Errorf("occurrence %d: next_due_at %v, want the next occurrence (none after the last)", i, next)
		}
	}
	sch := mustGet(t, s, tenant, "r1")
	if sch.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED || sch.GetFiredCount() != 3 || sch.GetSkippedCount() != 0 ||
		!sch.GetLastDueAt().AsTime().Equal(t0.Add(2*time.Second)) {
		t.Errorf("after the last occurrence: %v, want fired (finished), 3 fired, none skipped", sch)
	}
	if st := s.Stats(); st.Fired != 3 || st.InMemory != 0 {
		t.Errorf("stats = %+v, want 3 fired and nothing in memory", st)
	}
}

func TestRecurringEachOccurrenceOnceWithTwoEngines(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one, two := b.service(true, secondly), b.service(true, secondly)
	waitBalanced(t, one, two)

	const n, count = 40, 3
	// Room to schedule all n before the first occurrence, even on a loaded
	// machine: a rule whose occurrences are all past is refused.
	_, startLocal := wholeSecondIn(t, 3*time.Second)
	for i := range n {
		mustSchedule(t, []*Service{one, two}[i%2], recurReq(sid(i), "FREQ=SECONDLY;COUNT=3", startLocal))
	}
	// On a loaded machine an engine may fall a second behind, and then the
	// older of two overdue occurrences is skipped by design: so every
	// occurrence is either fired or skipped, and none twice.
	fired := int64(0)
	eventually(t, "every occurrence fired or skipped", func() bool {
		fired = 0
		for i := range n {
			sch := mustGet(t, one, tenant, sid(i))
			if sch.GetFiredCount()+sch.GetSkippedCount() != count {
				return false
			}
			fired += sch.GetFiredCount()
		}
		return true
	})
	b.drain(one, two)
	type occurrence struct {
		id  string
		due time.Time
	}
	seen := map[occurrence]int{}
	for _, d := range b.dues.all() {
		seen[occurrence{d.ev.GetScheduleId(), d.ev.GetDueAt().AsTime()}]++
	}
	if int64(len(seen)) != fired {
		t.Errorf("%d distinct occurrences fired, the store counts %d", len(seen), fired)
	}
	if fired < n {
		t.Errorf("only %d of %d occurrences fired: at least each schedule's last must", fired, n*count)
	}
	for o, k := range seen {
		if k != 1 {
			t.Errorf("%s at %v fired %d times, want once", o.id, o.due, k)
		}
	}
	if s1, s2 := one.Stats(), two.Stats(); s1.Fired+s2.Fired != fired {
		t.Errorf("engines fired %d and %d, the store counts %d in all", s1.Fired, s2.Fired, fired)
	}
}

func TestCancelStopsEveryFutureOccurrence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, secondly)
	_, startLocal := wholeSecondIn(t, 500*time.Millisecond)
	mustSchedule(t, s, recurReq("r1", "FREQ=SECONDLY", startLocal))
	b.waitFired(tenant, "r1")

	res, err := s.Cancel(context.Background(), &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("state after Cancel = %v", res.GetSchedule().GetState())
	}
	b.drain(s)
	before := len(b.dues.of(tenant, "r1"))
	sleepUntil(time.Now().Add(2500 * time.Millisecond))
	b.drain(s)
	if after := len(b.dues.of(tenant, "r1")); after != before {
		t.Errorf("%d occurrences fired after Cancel", after-before)
	}
}

func TestRescheduleReplacesTheRule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, secondly)
	_, startLocal := wholeSecondIn(t, 500*time.Millisecond)
	mustSchedule(t, s, recurReq("r1", "FREQ=SECONDLY", startLocal))
	// The same request again is harmless.
	mustSchedule(t, s, recurReq("r1", "FREQ=SECONDLY", startLocal))
	b.waitFired(tenant, "r1")

	req := recurReq("r1", "FREQ=SECONDLY;INTERVAL=2", startLocal)
	req.Revision = 2
	mustSchedule(t, s, req)
	eventually(t, "an occurrence of the new rule", func() bool {
		for _, d := range b.dues.of(tenant, "r1") {
			if d.ev.GetRevision() == 2 {
				return true
			}
		}
		return false
	})
	if _, err := s.Cancel(context.Background(), &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "r1"}); err != nil {
		t.Fatal(err)
	}
	b.drain(s)
	seen, lastOld := map[time.Time]bool{}, time.Time{}
	start, _ := time.ParseInLocation(localLayout, startLocal, mustLoc(t, testZone))
	for _, d := range b.dues.of(tenant, "r1") {
		due := d.ev.GetDueAt().AsTime()
		if seen[due] {
			t.Errorf("occurrence %v fired twice across the replacement", due)
		}
		seen[due] = true
		switch d.ev.GetRevision() {
		case 1:
			lastOld = due
		case 2:
			if !due.After(lastOld) || due.Sub(start)%(2*time.Second) != 0 {
				t.Errorf("new rule fired at %v: want every 2 s from %v, after the old rule's last %v", due, start, lastOld)
			}
		}
	}
}

func mustLoc(t *testing.T, zone string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDowntimeFiresOnlyTheLatestMissedOccurrence stops the engine while
// several occurrences fall due: on restart, a schedule that fires late
// fires only the latest missed occurrence (late); one whose threshold the
// lateness exceeds skips it and goes on with the next on time.
func TestDowntimeFiresOnlyTheLatestMissedOccurrence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.service(true, secondly)
	t0, startLocal := wholeSecondIn(t, time.Second)
	const rule = "FREQ=SECONDLY;INTERVAL=2"
	mustSchedule(t, first, recurReq("late", rule, startLocal))
	skip := recurReq("skip", rule, startLocal)
	skip.SkipIfLaterThan = durationpb.New(100 * time.Millisecond)
	mustSchedule(t, first, skip)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Occurrences at t0, t0+2s and t0+4s fall due while no engine runs.
	sleepUntil(t0.Add(4500 * time.Millisecond))
	second := b.service(true, secondly)
	latest := t0.Add(4 * time.Second)
	d := b.waitFired(tenant, "late")
	if due := d.ev.GetDueAt().AsTime(); !due.Equal(latest) {
		t.Errorf("after downtime fired the occurrence due %v, want only the latest, %v", due, latest)
	}
	if late := d.ev.GetFiredAt().AsTime().Sub(latest); late < 400*time.Millisecond {
		t.Errorf("lateness %v, want the downtime's", late)
	}
	next := latest.Add(2 * time.Second)
	eventually(t, "the next occurrences on time", func() bool {
		return len(b.dues.of(tenant, "late")) >= 2 && len(b.dues.of(tenant, "skip")) >= 1
	})
	for _, id := range []string{"late", "skip"} {
		if _, err := second.Cancel(context.Background(), &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: id}); err != nil {
			t.Fatal(err)
		}
	}
	b.drain(first, second)
	for _, due := range dueInstants(b, "late") {
		if due.Before(latest) {
			t.Errorf("late: a missed occurrence older than the latest fired: %v", due)
		}
	}
	skipped := dueInstants(b, "skip")
	if len(skipped) == 0 || !skipped[0].Equal(next) {
		t.Errorf("skip: fired %v, want nothing missed and the next occurrence %v first", skipped, next)
	}
	if sch := mustGet(t, second, tenant, "skip"); sch.GetSkippedCount() != 3 {
		t.Errorf("skip: skipped_count = %d, want the 3 missed occurrences", sch.GetSkippedCount())
	}
	if sch := mustGet(t, second, tenant, "late"); sch.GetSkippedCount() != 2 {
		t.Errorf("late: skipped_count = %d, want the 2 older missed occurrences", sch.GetSkippedCount())
	}
}

func TestRecurringValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	const start = "2030-12-01T09:30:00"

	tests := []struct {
		name   string
		edit   func(*triggerv1.ScheduleRequest)
		fields []string
	}{
		{"malformed", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=FORTNIGHTLY" }, []string{"rrule"}},
		{"no FREQ", func(r *triggerv1.ScheduleRequest) { r.Rrule = "BYDAY=MO" }, []string{"rrule"}},
		{"unknown part", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;EVERY=2" }, []string{"rrule"}},
		{"out of range", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;BYHOUR=25" }, []string{"rrule"}},
		{"DTSTART inside", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;DTSTART=20301201T093000" }, []string{"rrule"}},
		{"COUNT=0 never fires", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;COUNT=0" }, []string{"rrule"}},
		{"INTERVAL=0", func(r *triggerv1.ScheduleRequest) { r.Rrule = "MINUTELY;INTERVAL=0" }, []string{"rrule"}},
		{"MINUTELY INTERVAL=0", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=MINUTELY;INTERVAL=0" }, []string{"rrule"}},
		{"UNTIL before start", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;UNTIL=20301130T000000Z" }, []string{"rrule"}},
		{"31 February", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31" }, []string{"rrule"}},
		{"every occurrence excluded", func(r *triggerv1.ScheduleRequest) {
			r.Rrule, r.ExdatesLocal = "FREQ=DAILY;COUNT=1", []string{start}
		}, []string{"rrule"}},
		{"all in the past", func(r *triggerv1.ScheduleRequest) {
			r.Rrule, r.StartLocal = "FREQ=DAILY;COUNT=2", "2020-01-01T09:00:00"
		}, []string{"rrule"}},
		{"SECONDLY", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=SECONDLY" }, []string{"rrule"}},
		{"SECONDLY with an interval", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=SECONDLY;INTERVAL=60" }, []string{"rrule"}},
		{"twice a minute", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=MINUTELY;BYSECOND=0,30" }, []string{"rrule"}},
		{"BYSETPOS on minutes", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=MINUTELY;BYDAY=FR;BYSETPOS=2" }, []string{"rrule"}},
		{"BYSETPOS on hours", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=HOURLY;BYSETPOS=-1" }, []string{"rrule"}},
		{"COUNT and UNTIL", func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY;COUNT=2;UNTIL=20311201T000000Z" }, []string{"rrule"}},
		{"zone unknown", func(r *triggerv1.ScheduleRequest) { r.Zone = "Mars/Olympus_Mons" }, []string{"zone"}},
		{"zone missing", func(r *triggerv1.ScheduleRequest) { r.Zone = "" }, []string{"zone"}},
		{"start_local missing", func(r *triggerv1.ScheduleRequest) { r.StartLocal = "" }, []string{"start_local"}},
		{"start_local with an offset", func(r *triggerv1.ScheduleRequest) { r.StartLocal = "2030-12-01T09:30:00+01:00" }, []string{"start_local"}},
		{"exdate malformed", func(r *triggerv1.ScheduleRequest) { r.ExdatesLocal = []string{"tomorrow"} }, []string{"exdates_local"}},
		{"due_at as well", func(r *triggerv1.ScheduleRequest) { r.DueAt = timestamppb.New(time.Now().Add(time.Hour)) }, []string{"due_at"}},
		{"negative threshold", func(r *triggerv1.ScheduleRequest) { r.SkipIfLaterThan = durationpb.New(-time.Second) }, []string{"skip_if_later_than"}},
		{"start_local on a one-shot", func(r *triggerv1.ScheduleRequest) {
			r.Rrule, r.DueAt = "", timestamppb.New(time.Now().Add(time.Hour))
		}, []string{"start_local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := recurReq("v1", "FREQ=DAILY", start)
			tt.edit(req)
			_, err := s.Schedule(ctx, req)
			checkFields(t, err, tt.fields...)
			if _, err := s.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: tenant, ScheduleId: "v1"}); !errs.Is(err, errs.NotFound) {
				t.Errorf("after a refused Schedule, GetSchedule err = %v, want not found", err)
			}
		})
	}
	t.Run("a good rule is stored as asked", func(t *testing.T) {
		req := recurReq("ok", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=30", start)
		req.ExdatesLocal = []string{"2030-12-02T09:30:00"}
		got := mustSchedule(t, s, req)
		want := time.Date(2030, 12, 4, 8, 30, 0, 0, time.UTC) // Wednesday 09:30 in Paris; Monday excluded
		if !got.GetDueAt().AsTime().Equal(want) || got.GetStartLocal() != start || len(got.GetExdatesLocal()) != 1 {
			t.Errorf("stored %v, want due %v", got, want)
		}
	})
}
