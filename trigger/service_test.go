package trigger

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

const tenant = "tnt_a"

func TestScheduleFiresOnceAtDue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)

	// The margins in these tests leave a slow machine time to act before a
	// schedule is due.
	at := time.Now().Add(time.Second)
	got := mustSchedule(t, s, scheduleReq(tenant, "s1", at))
	if got.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("state after Schedule = %v, want pending", got.GetState())
	}
	// Due within the horizon: it is in memory as soon as Schedule returns.
	if n := s.Stats().InMemory; n != 1 {
		t.Fatalf("in memory right after Schedule = %d, want 1", n)
	}

	d := b.waitFired(tenant, "s1")
	if d.at.Before(at) {
		t.Errorf("post.due reached the bus at %v, before the due instant %v", d.at, at)
	}
	if fired := d.ev.GetFiredAt().AsTime(); fired.Before(at) {
		t.Errorf("fired_at %v is before due_at %v", fired, at)
	}
	if ev := d.ev; ev.GetPostId() != "post_s1" || ev.GetRevision() != 3 || ev.GetTenantId() != tenant ||
		ev.GetDueAt().AsTime().Before(at) || ev.GetDueAt().AsTime().Sub(at) >= time.Microsecond {
		t.Errorf("post.due = %v, want post post_s1 revision 3 due %v", ev, at)
	}

	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("post.due published %d times, want once", n)
	}
	sch := mustGet(t, s, tenant, "s1")
	if sch.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED {
		t.Errorf("state = %v, want fired", sch.GetState())
	}
	if !sch.GetFiredAt().AsTime().Equal(d.ev.GetFiredAt().AsTime()) {
		t.Errorf("stored fired_at %v, event says %v", sch.GetFiredAt().AsTime(), d.ev.GetFiredAt().AsTime())
	}
	if l := b.storedLateness(tenant, "s1"); l < 0 {
		t.Errorf("stored lateness %v is negative: fired early", l)
	}
	st := s.Stats()
	if st.Fired != 1 || st.InMemory != 0 || st.Lateness.Count != 1 || st.OwnedShards != s.cfg.Shards {
		t.Errorf("stats = %+v, want 1 fired, nothing in memory, one lateness sample, all shards owned", st)
	}
}

func TestCancelBeforeDueNeverFires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()

	now := time.Now()
	mustSchedule(t, s, scheduleReq(tenant, "cancelled", now.Add(time.Second)))
	// Fires are in due order: once the later sentinel fired, the cancelled
	// one would have fired too.
	mustSchedule(t, s, scheduleReq(tenant, "sentinel", now.Add(1200*time.Millisecond)))

	res, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "cancelled"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("Cancel returned state %v, want cancelled", res.GetSchedule().GetState())
	}
	if n := s.Stats().InMemory; n != 1 {
		t.Errorf("in memory right after Cancel = %d, want 1 (the sentinel)", n)
	}

	b.waitFired(tenant, "sentinel")
	b.drain(s)
	if n := len(b.dues.of(tenant, "cancelled")); n != 0 {
		t.Errorf("cancelled schedule fired %d times", n)
	}
	if st := mustGet(t, s, tenant, "cancelled").GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Errorf("state = %v, want cancelled", st)
	}

	// Cancelling again, or cancelling what fired, changes nothing.
	for _, id := range []string{"cancelled", "sentinel"} {
		before := mustGet(t, s, tenant, id)
		res, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: id})
		if err != nil {
			t.Fatalf("Cancel(%s) again: %v", id, err)
		}
		if res.GetSchedule().GetState() != before.GetState() {
			t.Errorf("Cancel(%s) again: state %v, want %v", id, res.GetSchedule().GetState(), before.GetState())
		}
	}
	// Cancelling what does not exist is not an error; there is no schedule.
	res, err = s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "never-made"})
	if err != nil || res.GetSchedule() != nil {
		t.Errorf("Cancel(unknown) = %v, %v; want no schedule, no error", res.GetSchedule(), err)
	}
}

func TestReschedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		first, second time.Duration // due instants, from now
		// sentinel, if set, is due between the two: when it fired, the
		// schedule must not have fired at its first instant.
		sentinel time.Duration
	}{
		{name: "later", first: 700 * time.Millisecond, second: 1200 * time.Millisecond, sentinel: 900 * time.Millisecond},
		{name: "earlier", first: 40 * time.Second, second: 200 * time.Millisecond},
		{name: "beyond the horizon and back", first: 700 * time.Millisecond, second: 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			s := b.service(true, nil)
			now := time.Now()
			mustSchedule(t, s, scheduleReq(tenant, "moved", now.Add(tt.first)))
			if tt.sentinel > 0 {
				mustSchedule(t, s, scheduleReq(tenant, "sentinel", now.Add(tt.sentinel)))
			}
			second := now.Add(tt.second)
			req := scheduleReq(tenant, "moved", second)
			req.Revision = 4
			if got := mustSchedule(t, s, req); got.GetDueAt().AsTime().Before(second) {
				t.Fatalf("due_at after reschedule = %v, want %v", got.GetDueAt().AsTime(), second)
			}

			if tt.second > s.cfg.Horizon {
				// Moved out of the horizon: it leaves memory and does not
				// fire at the first instant. Bring it back to fire it.
				if n := s.Stats().InMemory; n != 0 {
					t.Fatalf("in memory after moving beyond the horizon = %d, want 0", n)
				}
				sentinel := time.Now().Add(tt.first + 200*time.Millisecond)
				mustSchedule(t, s, scheduleReq(tenant, "sentinel", sentinel))
				b.waitFired(tenant, "sentinel")
				if n := len(b.dues.of(tenant, "moved")); n != 0 {
					t.Fatalf("moved schedule fired %d times at its old instant", n)
				}
				second = time.Now().Add(200 * time.Millisecond)
				req = scheduleReq(tenant, "moved", second)
				req.Revision = 4
				mustSchedule(t, s, req)
			}
			if tt.sentinel > 0 {
				b.waitFired(tenant, "sentinel")
				if n := len(b.dues.of(tenant, "moved")); n != 0 {
					t.Fatalf("moved schedule fired %d times at its old instant", n)
				}
			}

			d := b.waitFired(tenant, "moved")
			if fired := d.ev.GetFiredAt().AsTime(); fired.Before(second) {
				t.Errorf("fired at %v, before its new due instant %v", fired, second)
			}
			if d.ev.GetRevision() != 4 {
				t.Errorf("post.due revision = %d, want the rescheduled 4", d.ev.GetRevision())
			}
			b.drain(s)
			if n := len(b.dues.of(tenant, "moved")); n != 1 {
				t.Errorf("moved schedule fired %d times, want once", n)
			}
		})
	}
}

func TestScheduleAfterFired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()

	req := scheduleReq(tenant, "s1", time.Now().Add(100*time.Millisecond))
	mustSchedule(t, s, req)
	b.waitFired(tenant, "s1")

	// The very same request again (a client's retry) returns the schedule
	// as it is.
	res, err := s.Schedule(ctx, req)
	if err != nil {
		t.Fatalf("repeating the request after it fired: %v", err)
	}
	if res.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED {
		t.Errorf("repeated request: state %v, want fired", res.GetSchedule().GetState())
	}

	// Changing it is a conflict.
	changed := scheduleReq(tenant, "s1", time.Now().Add(time.Minute))
	_, err = s.Schedule(ctx, changed)
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("replacing a fired schedule: err = %v, want conflict", err)
	}
	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}

	// A newer revision of the post is a new publication: it arms the
	// schedule again, and it fires once more, for that revision.
	newer := scheduleReq(tenant, "s1", time.Now().Add(100*time.Millisecond))
	newer.Revision = req.GetRevision() + 1
	if st := mustSchedule(t, s, newer).GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("a newer revision after the fire: state %v, want pending", st)
	}
	eventually(t, "the newer revision to fire", func() bool { return len(b.dues.of(tenant, "s1")) == 2 })
	b.drain(s)
	dues := b.dues.of(tenant, "s1")
	if len(dues) != 2 || dues[1].ev.GetRevision() != newer.GetRevision() {
		t.Errorf("fires %v, want a second one for revision %d", dues, newer.GetRevision())
	}
}

func TestScheduleSameRequestTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(false, nil)
	req := scheduleReq(tenant, "s1", time.Now().Add(time.Hour))
	mustSchedule(t, s, req)
	var before int64
	if err := b.db.QueryRow(context.Background(), `SELECT version FROM trigger_schedules WHERE id = 's1'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	mustSchedule(t, s, req)
	var after int64
	if err := b.db.QueryRow(context.Background(), `SELECT version FROM trigger_schedules WHERE id = 's1'`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("version went from %d to %d on a repeated request", before, after)
	}
}

func TestCancelledScheduleCanBeArmedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	req := scheduleReq(tenant, "s1", time.Now().Add(time.Second))
	mustSchedule(t, s, req)
	if _, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "s1"}); err != nil {
		t.Fatal(err)
	}
	if got := mustSchedule(t, s, req); got.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("state after scheduling a cancelled schedule = %v, want pending", got.GetState())
	}
	b.waitFired(tenant, "s1")
	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}
}

func TestTenantScoping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	const other = "tnt_b"
	at := time.Now().Add(30 * time.Second)
	mustSchedule(t, s, scheduleReq(tenant, "s1", at))

	if _, err := s.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: other, ScheduleId: "s1"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetSchedule by another tenant: err = %v, want not found", err)
	}
	res, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: other, ScheduleId: "s1"})
	if err != nil || res.GetSchedule() != nil {
		t.Errorf("Cancel by another tenant = %v, %v; want no schedule, no error", res.GetSchedule(), err)
	}
	if st := mustGet(t, s, tenant, "s1").GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Errorf("after another tenant's Cancel: state %v, want pending", st)
	}

	// The same schedule id in another tenant is another schedule.
	theirs := scheduleReq(other, "s1", at.Add(time.Hour))
	theirs.PostId = "post_theirs"
	mustSchedule(t, s, theirs)
	if got := mustGet(t, s, tenant, "s1"); got.GetPostId() != "post_s1" || !got.GetDueAt().AsTime().Before(at.Add(time.Second)) {
		t.Errorf("another tenant's Schedule changed ours: %v", got)
	}
	if got := mustGet(t, s, other, "s1"); got.GetPostId() != "post_theirs" {
		t.Errorf("their schedule = %v, want post_theirs", got)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	future := time.Now().Add(time.Hour)

	tests := []struct {
		name   string
		edit   func(*triggerv1.ScheduleRequest)
		fields []string
	}{
		{"schedule_id missing", func(r *triggerv1.ScheduleRequest) { r.ScheduleId = "" }, []string{"schedule_id"}},
		{"tenant_id missing", func(r *triggerv1.ScheduleRequest) { r.TenantId = "" }, []string{"tenant_id"}},
		{"post_id missing", func(r *triggerv1.ScheduleRequest) { r.PostId = "" }, []string{"post_id"}},
		{"due_at missing", func(r *triggerv1.ScheduleRequest) { r.DueAt = nil }, []string{"due_at"}},
		{"due_at not an instant", func(r *triggerv1.ScheduleRequest) { r.DueAt = &timestamppb.Timestamp{Seconds: 1, Nanos: -5} }, []string{"due_at"}},
		{"due_at in the past", func(r *triggerv1.ScheduleRequest) { r.DueAt = timestamppb.New(time.Now().Add(-time.Minute)) }, []string{"due_at"}},
		{"zone unknown", func(r *triggerv1.ScheduleRequest) { r.Zone = "Mars/Olympus_Mons" }, []string{"zone"}},
		{"zone Local", func(r *triggerv1.ScheduleRequest) { r.Zone = "Local" }, []string{"zone"}},
		{"revision negative", func(r *triggerv1.ScheduleRequest) { r.Revision = -1 }, []string{"revision"}},
		{"schedule_id too long", func(r *triggerv1.ScheduleRequest) { r.ScheduleId = strings.Repeat("x", maxIDLen+1) }, []string{"schedule_id"}},
		{"several at once", func(r *triggerv1.ScheduleRequest) { r.PostId, r.DueAt = "", nil }, []string{"post_id", "due_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := scheduleReq(tenant, "v1", future)
			tt.edit(req)
			_, err := s.Schedule(ctx, req)
			checkFields(t, err, tt.fields...)
			// Bad input changes nothing.
			if _, err := s.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: tenant, ScheduleId: "v1"}); !errs.Is(err, errs.NotFound) {
				t.Errorf("after a refused Schedule, GetSchedule err = %v, want not found", err)
			}
		})
	}

	t.Run("in the past within the grace", func(t *testing.T) {
		mustSchedule(t, s, scheduleReq(tenant, "grace", time.Now().Add(-time.Second)))
		b.waitFired(tenant, "grace")
	})
	t.Run("moving a pending schedule into the past", func(t *testing.T) {
		mustSchedule(t, s, scheduleReq(tenant, "move", future))
		_, err := s.Schedule(ctx, scheduleReq(tenant, "move", time.Now().Add(-time.Hour)))
		checkFields(t, err, "due_at")
		if got := mustGet(t, s, tenant, "move"); got.GetDueAt().AsTime().Before(future) {
			t.Errorf("refused move changed due_at to %v", got.GetDueAt().AsTime())
		}
	})
	t.Run("Cancel and GetSchedule", func(t *testing.T) {
		_, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant})
		checkFields(t, err, "schedule_id")
		_, err = s.GetSchedule(ctx, &triggerv1.GetScheduleRequest{ScheduleId: "x"})
		checkFields(t, err, "tenant_id")
	})
}

func checkFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid {
		t.Fatalf("err = %v, want invalid", err)
	}
	if len(e.Fields) != len(fields) {
		t.Errorf("fields = %v, want exactly %v", e.Fields, fields)
	}
	for _, f := range fields {
		if e.Fields[f] == "" {
			t.Errorf("fields = %v, want a message for %q", e.Fields, f)
		}
	}
}

func TestRestartFiresOverdueOnceMarkedLate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.service(true, nil)
	at := time.Now().Add(time.Second)
	mustSchedule(t, first, scheduleReq(tenant, "overdue", at))
	mustSchedule(t, first, scheduleReq(tenant, "future", at.Add(time.Hour)))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	const downtime = 400 * time.Millisecond
	sleepUntil(at.Add(downtime))
	if n := len(b.dues.of(tenant, "overdue")); n != 0 {
		t.Fatalf("fired %d times while no engine ran", n)
	}

	second := b.service(true, nil)
	d := b.waitFired(tenant, "overdue")
	if late := d.ev.GetFiredAt().AsTime().Sub(at); late < downtime {
		t.Errorf("lateness in the event = %v, want at least the downtime %v", late, downtime)
	}
	if late := b.storedLateness(tenant, "overdue"); late < downtime {
		t.Errorf("stored lateness = %v, want at least %v", late, downtime)
	}
	if st := second.Stats(); st.Lateness.Max < downtime {
		t.Errorf("stats max lateness = %v, want at least %v", st.Lateness.Max, downtime)
	}
	b.drain(first, second)
	if n := len(b.dues.of(tenant, "overdue")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}
	if st := mustGet(t, second, tenant, "future").GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Errorf("future schedule state = %v, want pending", st)
	}
}

func TestBacklogIsPagedWithinMemoryCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const backlog, limit = 400, 50
	s := b.service(false, func(c *Config) { c.MaxInMemory, c.Batch = limit, 10 })
	var last time.Time
	for i := range backlog {
		last = time.Now().Add(100 * time.Millisecond)
		mustSchedule(t, s, scheduleReq(tenant, sid(i), last))
	}
	sleepUntil(last)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the whole backlog fired", func() bool { return s.Stats().Fired == backlog })
	b.drain(s)
	seen := map[string]int{}
	for _, d := range b.dues.all() {
		seen[d.ev.GetScheduleId()]++
	}
	for i := range backlog {
		if n := seen[sid(i)]; n != 1 {
			t.Errorf("%s fired %d times, want once", sid(i), n)
		}
	}
	// Loads stop at the cap; a few stale re-reads may pass it, never the
	// backlog's size.
	if peak := s.Stats().PeakInMemory; peak > 2*limit {
		t.Errorf("peak in memory = %d with a cap of %d and a backlog of %d", peak, limit, backlog)
	}
}
