package trigger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// Monday 2 March 2026, 07:00 UTC: the start of most queue tests' weeks.
var queueWeek = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// queueBundle is a bundle on a fake clock that also records schedule.moved
// events.
type queueBundle struct {
	*bundle
	clock *clockwork.FakeClock
	moves *moves
}

func queueSetup(t *testing.T, start time.Time) *queueBundle {
	t.Helper()
	b := setup(t)
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	qb := &queueBundle{bundle: b, clock: clock, moves: newRecorder(func() *eventsv1.ScheduleMoved { return &eventsv1.ScheduleMoved{} })}
	if _, err := b.bus.Subscribe(context.Background(), bus.TopicScheduleMoved, "test", qb.moves.handle); err != nil {
		t.Fatal(err)
	}
	return qb
}

// queueTune keeps a month in memory, so a queued post is in the engine's
// heap from the moment it is queued (or recycled) and fires when the fake
// clock reaches its slot, however far a test moves the clock at once; and
// it polls hourly, so moving the clock by weeks costs few ticks.
func queueTune(c *Config) {
	c.Horizon = 30 * 24 * time.Hour
	c.Poll = time.Hour
}

// advanceTo moves the fake clock to at (never back).
func (qb *queueBundle) advanceTo(at time.Time) {
	if d := at.Sub(qb.clock.Now()); d > 0 {
		qb.clock.Advance(d)
	}
}

// fireAt moves the clock to the slot at and waits until the schedule fired
// for it; it returns that post.due.
func (qb *queueBundle) fireAt(scheduleID string, at time.Time) *eventsv1.PostDue {
	qb.t.Helper()
	qb.advanceTo(at)
	var got *eventsv1.PostDue
	eventually(qb.t, fmt.Sprintf("%s to fire for %s", scheduleID, at.Format(time.RFC3339)), func() bool {
		for _, d := range qb.dues.of(tenant, scheduleID) {
			if d.ev.GetDueAt().AsTime().Equal(at) {
				got = d.ev
				return true
			}
		}
		return false
	})
	return got
}

// moves records each schedule.moved event once (by message id).
type moves = recorder[*eventsv1.ScheduleMoved]

// latest returns, per schedule, the move with the highest version.
func latestMoves(m *moves) map[string]*eventsv1.ScheduleMoved {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*eventsv1.ScheduleMoved{}
	for _, ev := range m.got {
		if cur := out[ev.GetScheduleId()]; cur == nil || ev.GetVersion() > cur.GetVersion() {
			out[ev.GetScheduleId()] = ev
		}
	}
	return out
}

// queueReq asks for a queue in zone with slots written "D HH:MM" (ISO
// weekday), posting to account acct_1.
func queueReq(queueID, zone string, slots ...string) *triggerv1.PutQueueRequest {
	req := &triggerv1.PutQueueRequest{
		TenantId: tenant, QueueId: queueID, WorkspaceId: "ws_1", Name: "Queue " + queueID, Zone: zone,
		AccountIds: []string{"acct_1"},
	}
	for _, s := range slots {
		wd, hm, _ := strings.Cut(s, " ")
		req.Slots = append(req.Slots, &triggerv1.Slot{Weekday: int32(wd[0] - '0'), LocalTime: hm})
	}
	return req
}

func mustPutQueue(t *testing.T, s *Service, req *triggerv1.PutQueueRequest) *triggerv1.Queue {
	t.Helper()
	res, err := s.PutQueue(context.Background(), req)
	if err != nil {
		t.Fatalf("PutQueue(%s): %v", req.GetQueueId(), err)
	}
	return res.GetQueue()
}

func queuedReq(scheduleID, queueID string, evergreen bool) *triggerv1.ScheduleRequest {
	return &triggerv1.ScheduleRequest{
		TenantId: tenant, ScheduleId: scheduleID, PostId: "post_" + scheduleID, Revision: 1,
		QueueId: queueID, Evergreen: evergreen,
	}
}

func mustGetQueue(t *testing.T, s *Service, queueID string) *triggerv1.GetQueueResponse {
	t.Helper()
	res, err := s.GetQueue(context.Background(), &triggerv1.GetQueueRequest{TenantId: tenant, QueueId: queueID})
	if err != nil {
		t.Fatalf("GetQueue(%s): %v", queueID, err)
	}
	return res
}

// queueOrder returns the schedule ids of a queue's posts and their slots.
func queueOrder(t *testing.T, s *Service, queueID string) (ids []string, slots []time.Time) {
	t.Helper()
	for _, p := range mustGetQueue(t, s, queueID).GetPosts() {
		ids = append(ids, p.GetSchedule().GetScheduleId())
		slots = append(slots, p.GetSchedule().GetDueAt().AsTime())
	}
	return ids, slots
}

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
}

func TestQueuedPostsTakeConsecutiveFreeSlots(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	// Monday 09:00 and 12:00, Wednesday 09:00, in Paris (UTC+1 in March).
	mustPutQueue(t, s, queueReq("q1", "Europe/Paris", "1 09:00", "1 12:00", "3 09:00"))
	mon9, mon12, wed9, nextMon9 := at(2, 8, 0), at(2, 11, 0), at(4, 8, 0), at(9, 8, 0)

	for i, want := range []time.Time{mon9, mon12, wed9, nextMon9} {
		got := mustSchedule(t, s, queuedReq(sid(i), "q1", false))
		if !got.GetDueAt().AsTime().Equal(want) || got.GetQueueId() != "q1" || got.GetZone() != "Europe/Paris" ||
			got.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
			t.Fatalf("post %d: %v, want pending in q1 at %s", i, got, want)
		}
	}
	// Asking again keeps the slot, with a new revision too.
	again := queuedReq(sid(0), "q1", false)
	again.Revision = 2
	if got := mustSchedule(t, s, again); !got.GetDueAt().AsTime().Equal(mon9) || got.GetRevision() != 2 {
		t.Errorf("same post asked again with revision 2: %v, want its slot %s kept", got, mon9)
	}
	// A cancelled post frees its slot for the next post added.
	if _, err := s.Cancel(context.Background(), &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: sid(1)}); err != nil {
		t.Fatal(err)
	}
	if got := mustSchedule(t, s, queuedReq("late", "q1", false)); !got.GetDueAt().AsTime().Equal(mon12) {
		t.Errorf("post added after a cancel took %s, want the freed slot %s", got.GetDueAt().AsTime(), mon12)
	}
	// A post moved out to a one-shot time frees its slot; moved back in,
	// it takes the first free slot, which is then after the others.
	oneShot := scheduleReq(tenant, sid(2), at(20, 10, 0))
	if got := mustSchedule(t, s, oneShot); got.GetQueueId() != "" || !got.GetDueAt().AsTime().Equal(at(20, 10, 0)) {
		t.Fatalf("moved to a one-shot time: %v", got)
	}
	if got := mustSchedule(t, s, queuedReq("fill", "q1", false)); !got.GetDueAt().AsTime().Equal(wed9) {
		t.Errorf("post added after one left the queue took %s, want %s", got.GetDueAt().AsTime(), wed9)
	}
	back := mustSchedule(t, s, queuedReq(sid(2), "q1", false))
	if want := at(9, 11, 0); !back.GetDueAt().AsTime().Equal(want) {
		t.Errorf("post moved back into the queue took %s, want %s", back.GetDueAt().AsTime(), want)
	}

	res := mustGetQueue(t, s, "q1")
	ids, slots := queueOrder(t, s, "q1")
	if want := []string{sid(0), "late", "fill", sid(3), sid(2)}; !slices.Equal(ids, want) {
		t.Errorf("queue order %v, want %v", ids, want)
	}
	if want := []time.Time{mon9, mon12, wed9, nextMon9, at(9, 11, 0)}; !slices.EqualFunc(slots, want, time.Time.Equal) {
		t.Errorf("queue slots %v, want %v", slots, want)
	}
	// The next free slots come after the last queued post.
	var next []time.Time
	for _, ts := range res.GetNextSlots() {
		next = append(next, ts.AsTime())
	}
	if want := []time.Time{at(11, 8, 0), at(16, 8, 0), at(16, 11, 0), at(18, 8, 0)}; len(next) != nextSlotsShown ||
		!slices.EqualFunc(next[:4], want, time.Time.Equal) {
		t.Errorf("next free slots %v, want %d starting %v", next, nextSlotsShown, want)
	}

	// They fire in slot order, each once, at its slot.
	for i, id := range ids {
		ev := qb.fireAt(id, slots[i])
		if !ev.GetFiredAt().AsTime().Equal(slots[i]) || ev.GetNextDueAt() != nil {
			t.Errorf("%s fired at %s for slot %s (next %v), want at its slot with no next", id, ev.GetFiredAt().AsTime(), slots[i], ev.GetNextDueAt())
		}
	}
	qb.drain(s)
	for _, id := range ids {
		if n := len(qb.dues.of(tenant, id)); n != 1 {
			t.Errorf("%s fired %d times, want once", id, n)
		}
		if st := mustGet(t, s, tenant, id).GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED {
			t.Errorf("%s is %v, want fired", id, st)
		}
	}
	if n := len(qb.dues.of(tenant, sid(1))); n != 0 {
		t.Errorf("cancelled post fired %d times", n)
	}
}

func TestQueueSlotsAcrossDSTChange(t *testing.T) {
	t.Parallel()
	// Friday 27 March 2026; Paris jumps from 02:00 to 03:00 on Sunday 29.
	qb := queueSetup(t, time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC))
	s := qb.service(true, queueTune)
	mustPutQueue(t, s, queueReq("q1", "Europe/Paris", "6 10:00", "7 02:30", "7 03:30"))
	// Sunday 02:30 does not exist that day and moves to 03:30: the two
	// slots are one, so the second post does not share it.
	want := []time.Time{
		time.Date(2026, 3, 28, 9, 0, 0, 0, time.UTC),  // Saturday 10:00 CET
		time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), // Sunday 03:30 CEST, for both slots
		time.Date(2026, 4, 4, 8, 0, 0, 0, time.UTC),   // Saturday 10:00 CEST
		time.Date(2026, 4, 5, 0, 30, 0, 0, time.UTC),  // Sunday 02:30 CEST
		time.Date(2026, 4, 5, 1, 30, 0, 0, time.UTC),  // Sunday 03:30 CEST
	}
	for i, w := range want {
		got := mustSchedule(t, s, queuedReq(sid(i), "q1", false))
		if !got.GetDueAt().AsTime().Equal(w) {
			t.Errorf("post %d took %s, want %s", i, got.GetDueAt().AsTime(), w)
		}
	}
	for i, w := range want {
		if ev := qb.fireAt(sid(i), w); !ev.GetFiredAt().AsTime().Equal(w) {
			t.Errorf("%s fired at %s, want %s", sid(i), ev.GetFiredAt().AsTime(), w)
		}
	}
}

func TestEvergreenPostsRecycle(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	req := queueReq("q1", "UTC", "1 09:00", "2 09:00", "3 09:00", "4 09:00", "5 09:00", "6 09:00", "7 09:00")
	const gap = 3 * 24 * time.Hour
	req.Recycling = &triggerv1.Recycling{MinGap: durationpb.New(gap), MaxRepeats: 2}
	mustPutQueue(t, s, req)

	mustSchedule(t, s, queuedReq("a", "q1", true)) // Monday 2
	mustSchedule(t, s, queuedReq("b", "q1", true)) // Tuesday 3
	mustSchedule(t, s, queuedReq("c", "q1", false))
	// Each step, in slot order: the post that fires on a day at 09:00 and
	// the day it goes to next (0: nowhere). A recycled post goes after the
	// queue's last taken slot and at least the gap later: a, firing on
	// Thursday 5, goes to Sunday 8, not Saturday 7, although Saturday comes
	// right after the last taken slot; and it stops after two repeats.
	steps := []struct {
		id        string
		day, next int
	}{
		{"a", 2, 5}, {"b", 3, 6}, {"c", 4, 0}, {"a", 5, 8}, {"b", 6, 9}, {"e", 7, 0}, {"a", 8, 0}, {"b", 9, 0},
	}
	for _, st := range steps {
		ev := qb.fireAt(st.id, at(st.day, 9, 0))
		if st.next == 0 {
			if ev.GetNextDueAt() != nil {
				t.Errorf("%s fired on the %d with next %s, want none", st.id, st.day, ev.GetNextDueAt().AsTime())
			}
		} else if next := ev.GetNextDueAt().AsTime(); !next.Equal(at(st.next, 9, 0)) || next.Sub(ev.GetFiredAt().AsTime()) < gap {
			t.Errorf("%s fired on the %d with next %s, want %s", st.id, st.day, next, at(st.next, 9, 0))
		}
		if st.id == "a" && st.day == 5 {
			// Saturday is free now: a post added takes it.
			if got := mustSchedule(t, s, queuedReq("e", "q1", false)); !got.GetDueAt().AsTime().Equal(at(7, 9, 0)) {
				t.Errorf("post added on Thursday took %s, want Saturday's free slot", got.GetDueAt().AsTime())
			}
		}
	}
	qb.drain(s)
	want := map[string][]int{"a": {2, 5, 8}, "b": {3, 6, 9}, "c": {4}, "e": {7}}
	for id, days := range want {
		var got []int
		for _, d := range qb.dues.of(tenant, id) {
			got = append(got, d.ev.GetDueAt().AsTime().Day())
		}
		if !slices.Equal(got, days) {
			t.Errorf("%s fired on days %v, want %v (each once)", id, got, days)
		}
	}
	a := mustGet(t, s, tenant, "a")
	if a.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_FIRED || a.GetFiredCount() != 3 || !a.GetEvergreen() ||
		!a.GetLastDueAt().AsTime().Equal(at(8, 9, 0)) {
		t.Errorf("after its last repeat a is %v, want fired 3 times, last on the 8th", a)
	}
	if n := len(mustGetQueue(t, s, "q1").GetPosts()); n != 0 {
		t.Errorf("%d posts left in the queue, want none", n)
	}
}

func TestPauseQueueHoldsSlotsAndReleaseReplansInOrder(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	ctx := context.Background()
	mustPutQueue(t, s, queueReq("q1", "UTC", "1 09:00", "2 09:00", "5 09:00"))
	for i := range 4 {
		mustSchedule(t, s, queuedReq(sid(i), "q1", false)) // Mon 2, Tue 3, Fri 6, Mon 9
	}
	// Friday is left free: the post after it will keep its slot on release.
	if _, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: sid(2)}); err != nil {
		t.Fatal(err)
	}
	held := []string{sid(0), sid(1), sid(3)}

	res, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q1", Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if q := res.GetQueue(); !q.GetPaused() || !q.GetHeld() {
		t.Fatalf("paused queue: %v, want paused and held", q)
	}
	for _, id := range held {
		if st := mustGet(t, s, tenant, id).GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_HELD {
			t.Errorf("%s is %v, want held", id, st)
		}
	}
	if n := s.Stats().InMemory; n != 0 {
		t.Errorf("%d schedules in memory while the queue is held, want none", n)
	}
	eventually(t, "a schedule.moved per held post", func() bool { return qb.moves.count() >= len(held) })
	for _, id := range held {
		if ev := latestMoves(qb.moves)[id]; ev == nil || !ev.GetHeld() || ev.GetQueueId() != "q1" || ev.GetPostId() != "post_"+id {
			t.Errorf("schedule.moved of %s: %v, want held in q1", id, ev)
		}
	}
	// A post added while held takes the next free slot, held.
	if got := mustSchedule(t, s, queuedReq("added", "q1", false)); got.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_HELD ||
		!got.GetDueAt().AsTime().Equal(at(6, 9, 0)) {
		t.Errorf("post added to a held queue: %v, want held on Friday", got)
	}
	held = []string{sid(0), sid(1), "added", sid(3)}

	// The clock passes Monday's and part of Tuesday's slots; a one-shot
	// schedule due after them fires, and no held post does.
	mustSchedule(t, s, scheduleReq(tenant, "sentinel", at(3, 10, 0)))
	qb.fireAt("sentinel", at(3, 10, 0))
	qb.drain(s)
	for _, id := range held {
		if n := len(qb.dues.of(tenant, id)); n != 0 {
			t.Errorf("held post %s fired %d times", id, n)
		}
	}

	// Release on Tuesday 10:00: in order, the posts whose slot passed take
	// the next slots (Friday, then Monday), and the ones after follow.
	before := qb.moves.count()
	res, err = s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q1", Paused: false})
	if err != nil {
		t.Fatal(err)
	}
	if q := res.GetQueue(); q.GetPaused() || q.GetHeld() {
		t.Fatalf("released queue: %v, want neither paused nor held", q)
	}
	want := []time.Time{at(6, 9, 0), at(9, 9, 0), at(10, 9, 0), at(13, 9, 0)}
	ids, slots := queueOrder(t, s, "q1")
	if !slices.Equal(ids, held) || !slices.EqualFunc(slots, want, time.Time.Equal) {
		t.Fatalf("after release: %v at %v, want %v at %v", ids, slots, held, want)
	}
	eventually(t, "a schedule.moved per released post", func() bool { return qb.moves.count() >= before+len(held) })
	for i, id := range held {
		if ev := latestMoves(qb.moves)[id]; ev.GetHeld() || !ev.GetDueAt().AsTime().Equal(want[i]) {
			t.Errorf("schedule.moved of %s: %v, want released to %s", id, ev, want[i])
		}
	}
	for i, id := range held {
		qb.fireAt(id, want[i])
	}
	qb.drain(s)
	for _, id := range held {
		if n := len(qb.dues.of(tenant, id)); n != 1 {
			t.Errorf("%s fired %d times, want once", id, n)
		}
	}
}

// A release keeps a post's slot when it is still ahead and after the
// previous post's new slot.
func TestReleaseKeepsSlotsStillAhead(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	ctx := context.Background()
	mustPutQueue(t, s, queueReq("q1", "UTC", "1 09:00", "2 09:00", "5 09:00"))
	for i := range 4 {
		mustSchedule(t, s, queuedReq(sid(i), "q1", false)) // Mon 2, Tue 3, Fri 6, Mon 9
	}
	if _, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: sid(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q1", Paused: true}); err != nil {
		t.Fatal(err)
	}
	qb.advanceTo(at(2, 10, 0))
	if _, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q1", Paused: false}); err != nil {
		t.Fatal(err)
	}
	// Monday's post takes Tuesday's free slot; Friday's and next Monday's
	// are still ahead and after it, so they stay.
	ids, slots := queueOrder(t, s, "q1")
	want := []time.Time{at(3, 9, 0), at(6, 9, 0), at(9, 9, 0)}
	if !slices.Equal(ids, []string{sid(0), sid(2), sid(3)}) || !slices.EqualFunc(slots, want, time.Time.Equal) {
		t.Errorf("after release: %v at %v, want in order at %v", ids, slots, want)
	}
}

func TestPauseAccountHoldsItsQueues(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	ctx := context.Background()
	put := func(id string, accounts ...string) {
		req := queueReq(id, "UTC", "1 09:00", "3 09:00")
		req.AccountIds = accounts
		mustPutQueue(t, s, req)
	}
	put("q1", "a1", "a2")
	put("q2", "a2", "a3")
	put("q3", "a3")
	for _, q := range []string{"q1", "q2", "q3"} {
		mustSchedule(t, s, queuedReq("p_"+q, q, false)) // each on Monday 2 at 09:00
	}
	pause := func(account string, paused bool) []*triggerv1.Queue {
		t.Helper()
		res, err := s.PauseAccount(ctx, &triggerv1.PauseAccountRequest{TenantId: tenant, AccountId: account, Paused: paused})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetQueues()
	}
	state := func(q string) triggerv1.ScheduleState { return mustGet(t, s, tenant, "p_"+q).GetState() }
	const pending, holding = triggerv1.ScheduleState_SCHEDULE_STATE_PENDING, triggerv1.ScheduleState_SCHEDULE_STATE_HELD
	check := func(step string, want map[string]triggerv1.ScheduleState) {
		t.Helper()
		for q, st := range want {
			if got := state(q); got != st {
				t.Errorf("%s: post of %s is %v, want %v", step, q, got, st)
			}
		}
	}

	qs := pause("a2", true)
	if len(qs) != 2 || qs[0].GetQueueId() != "q1" || qs[1].GetQueueId() != "q2" || !qs[0].GetHeld() || !qs[1].GetHeld() ||
		!slices.Equal(qs[0].GetPausedAccountIds(), []string{"a2"}) || qs[0].GetPaused() {
		t.Fatalf("PauseAccount(a2) = %v, want q1 and q2 held by a2, not paused themselves", qs)
	}
	check("a2 paused", map[string]triggerv1.ScheduleState{"q1": holding, "q2": holding, "q3": pending})

	// A queue stays held while paused itself, or while any account is.
	if _, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q1", Paused: true}); err != nil {
		t.Fatal(err)
	}
	pause("a3", true)
	pause("a2", false)
	check("q1 paused, a3 paused, a2 resumed", map[string]triggerv1.ScheduleState{"q1": holding, "q2": holding, "q3": holding})
	pause("a3", false)
	check("a3 resumed", map[string]triggerv1.ScheduleState{"q1": holding, "q2": pending, "q3": pending})

	// Adding a paused account to a queue holds it; an account paused before
	// any queue names it holds the queue from its start.
	pause("a9", true)
	put("q3", "a3", "a9")
	put("q4", "a9")
	if got := mustSchedule(t, s, queuedReq("p_q4", "q4", false)); got.GetState() != holding {
		t.Errorf("post added to a queue of a paused account is %v, want held", got.GetState())
	}
	check("a9 paused, added to q3", map[string]triggerv1.ScheduleState{"q3": holding})
	if q := mustGetQueue(t, s, "q3").GetQueue(); !q.GetHeld() || !slices.Equal(q.GetPausedAccountIds(), []string{"a9"}) {
		t.Errorf("q3 = %v, want held by a9", q)
	}

	// Nothing held fires when the clock passes Monday's slot; q2's post does.
	qb.fireAt("p_q2", at(2, 9, 0))
	mustSchedule(t, s, scheduleReq(tenant, "sentinel", at(2, 9, 30)))
	qb.fireAt("sentinel", at(2, 9, 30))
	qb.drain(s)
	for _, id := range []string{"p_q1", "p_q3", "p_q4"} {
		if n := len(qb.dues.of(tenant, id)); n != 0 {
			t.Errorf("held post %s fired %d times", id, n)
		}
	}
	// Released, q3's post moves to the next slot, Wednesday, and fires there.
	pause("a9", false)
	if got := mustGet(t, s, tenant, "p_q3"); got.GetState() != pending || !got.GetDueAt().AsTime().Equal(at(4, 9, 0)) {
		t.Errorf("released post of q3: %v, want pending on Wednesday", got)
	}
	qb.fireAt("p_q3", at(4, 9, 0))

	// A held post can be cancelled; it leaves its queue.
	res, err := s.Cancel(ctx, &triggerv1.CancelRequest{TenantId: tenant, ScheduleId: "p_q1"})
	if err != nil || res.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("Cancel(held post) = %v, %v; want cancelled", res, err)
	}
	if n := len(mustGetQueue(t, s, "q1").GetPosts()); n != 0 {
		t.Errorf("q1 holds %d posts after its only one was cancelled", n)
	}
}

func TestPutQueueReplansOntoTheNewTable(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	mustPutQueue(t, s, queueReq("q1", "UTC", "1 09:00", "2 09:00", "3 09:00"))
	for i := range 3 {
		mustSchedule(t, s, queuedReq(sid(i), "q1", false))
	}
	mustPutQueue(t, s, queueReq("q1", "UTC", "4 10:00", "5 10:00"))
	want := []time.Time{at(5, 10, 0), at(6, 10, 0), at(12, 10, 0)}
	ids, slots := queueOrder(t, s, "q1")
	if !slices.Equal(ids, []string{sid(0), sid(1), sid(2)}) || !slices.EqualFunc(slots, want, time.Time.Equal) {
		t.Fatalf("after the new table: %v at %v, want in order at %v", ids, slots, want)
	}
	eventually(t, "a schedule.moved per post", func() bool { return qb.moves.count() >= 3 })
	for i := range 3 {
		if ev := latestMoves(qb.moves)[sid(i)]; ev.GetHeld() || !ev.GetDueAt().AsTime().Equal(want[i]) {
			t.Errorf("schedule.moved of %s: %v, want due %s", sid(i), ev, want[i])
		}
	}
	// The same table, renamed, moves nothing.
	before := qb.moves.count()
	req := queueReq("q1", "UTC", "5 10:00", "4 10:00")
	req.Name = "renamed"
	if got := mustPutQueue(t, s, req); got.GetName() != "renamed" {
		t.Errorf("renamed queue: %v", got)
	}
	qb.drain(s)
	if n := qb.moves.count(); n != before {
		t.Errorf("%d schedule.moved events after a rename, want none", n-before)
	}
	if _, got := queueOrder(t, s, "q1"); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("after a rename the slots are %v, want %v", got, want)
	}
	// The old slots are gone: a one-shot due after Monday's fires first.
	mustSchedule(t, s, scheduleReq(tenant, "sentinel", at(2, 9, 30)))
	qb.fireAt("sentinel", at(2, 9, 30))
	qb.drain(s)
	if n := len(qb.dues.of(tenant, sid(0))); n != 0 {
		t.Errorf("%s fired %d times at its old slot", sid(0), n)
	}
	for i := range 3 {
		qb.fireAt(sid(i), want[i])
	}
}

func TestDeleteQueueCancelsItsPosts(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(true, queueTune)
	ctx := context.Background()
	mustPutQueue(t, s, queueReq("q1", "UTC", "1 09:00", "2 09:00"))
	other := queueReq("q2", "UTC", "1 09:00")
	other.WorkspaceId = "ws_2"
	mustPutQueue(t, s, other)
	for i := range 3 {
		mustSchedule(t, s, queuedReq(sid(i), "q1", false))
	}
	list, err := s.ListQueues(ctx, &triggerv1.ListQueuesRequest{TenantId: tenant, WorkspaceId: "ws_1"})
	if err != nil || len(list.GetQueues()) != 1 || list.GetQueues()[0].GetQueueId() != "q1" {
		t.Fatalf("ListQueues(ws_1) = %v, %v; want q1 only", list, err)
	}
	if all, err := s.ListQueues(ctx, &triggerv1.ListQueuesRequest{TenantId: tenant}); err != nil || len(all.GetQueues()) != 2 {
		t.Fatalf("ListQueues(tenant) = %v, %v; want both", all, err)
	}

	res, err := s.DeleteQueue(ctx, &triggerv1.DeleteQueueRequest{TenantId: tenant, QueueId: "q1"})
	if err != nil || res.GetCancelled() != 3 {
		t.Fatalf("DeleteQueue = %v, %v; want 3 cancelled", res, err)
	}
	for i := range 3 {
		if st := mustGet(t, s, tenant, sid(i)).GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
			t.Errorf("%s is %v, want cancelled", sid(i), st)
		}
	}
	if _, err := s.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: tenant, QueueId: "q1"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetQueue after delete: %v, want NotFound", err)
	}
	if res, err := s.DeleteQueue(ctx, &triggerv1.DeleteQueueRequest{TenantId: tenant, QueueId: "q1"}); err != nil || res.GetCancelled() != 0 {
		t.Errorf("DeleteQueue again = %v, %v; want nothing cancelled, no error", res, err)
	}
	mustSchedule(t, s, scheduleReq(tenant, "sentinel", at(3, 10, 0)))
	qb.fireAt("sentinel", at(3, 10, 0))
	qb.drain(s)
	for i := range 3 {
		if n := len(qb.dues.of(tenant, sid(i))); n != 0 {
			t.Errorf("post of a deleted queue %s fired %d times", sid(i), n)
		}
	}
}

func TestConcurrentEnqueuesNeverShareASlot(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	// Two API instances on one store; neither runs an engine.
	one, two := qb.service(false, queueTune), qb.service(false, queueTune)
	var slots []string
	for h := range 24 {
		slots = append(slots, fmt.Sprintf("1 %02d:00", h), fmt.Sprintf("2 %02d:30", h))
	}
	mustPutQueue(t, one, queueReq("q1", "UTC", slots...))

	const n = 40
	got := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := []*Service{one, two}[i%2].Schedule(context.Background(), queuedReq(sid(i), "q1", false))
			if err != nil {
				t.Errorf("enqueue %d: %v", i, err)
				return
			}
			got[i] = res.GetSchedule().GetDueAt().AsTime()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Every post has its own slot, and together they take the first n
	// slots after now, with no gap.
	slices.SortFunc(got, time.Time.Compare)
	want := slices.Collect(func(yield func(time.Time) bool) {
		for h := 8; h < 24; h++ {
			if !yield(at(2, h, 0)) {
				return
			}
		}
		for h := range 24 {
			if !yield(at(3, h, 30)) {
				return
			}
		}
	})
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("slots taken:\n got %v\nwant %v", got, want)
	}
}

func TestTwoEnginesFireEachQueuedPostOnce(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	one, two := qb.service(true, queueTune), qb.service(true, queueTune)
	// Engines balance shards on their polls, which the fake clock drives.
	eventually(t, "shards shared between engines", func() bool {
		qb.clock.Advance(10 * time.Minute)
		n1, n2 := one.Stats().OwnedShards, two.Stats().OwnedShards
		return n1 > 0 && n2 > 0 && n1+n2 == one.cfg.Shards
	})
	// Slots every ten minutes on Mondays from 09:00; posts recycle once,
	// right away.
	var slots []string
	for m := 9 * 60; m < 24*60; m += 10 {
		slots = append(slots, fmt.Sprintf("1 %02d:%02d", m/60, m%60))
	}
	req := queueReq("q1", "UTC", slots...)
	req.Recycling = &triggerv1.Recycling{MinGap: durationpb.New(0), MaxRepeats: 1}
	mustPutQueue(t, one, req)
	const n = 40
	for i := range n {
		mustSchedule(t, []*Service{one, two}[i%2], queuedReq(sid(i), "q1", true))
	}
	// Walk the clock through the slots until every post went out twice.
	eventually(t, "every post to fire twice", func() bool {
		qb.clock.Advance(10 * time.Minute)
		return len(qb.dues.all()) >= 2*n
	})
	qb.drain(one, two)
	taken := map[time.Time]string{}
	for i := range n {
		ds := qb.dues.of(tenant, sid(i))
		if len(ds) != 2 {
			t.Errorf("%s fired %d times, want twice (once and one repeat)", sid(i), len(ds))
			continue
		}
		for _, d := range ds {
			due := d.ev.GetDueAt().AsTime()
			if prev, dup := taken[due]; dup {
				t.Errorf("%s and %s both fired for the slot %s", prev, sid(i), due)
			}
			taken[due] = sid(i)
			if d.ev.GetFiredAt().AsTime().Before(due) {
				t.Errorf("%s fired at %s, before its slot %s", sid(i), d.ev.GetFiredAt().AsTime(), due)
			}
		}
	}
	if s1, s2 := one.Stats(), two.Stats(); s1.Fired == 0 || s2.Fired == 0 || s1.Fired+s2.Fired != 2*n {
		t.Errorf("engines fired %d and %d, want both to fire and %d in all", s1.Fired, s2.Fired, 2*n)
	}
}

func TestQueueBadInputIsRefusedAndStoresNothing(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, queueWeek)
	s := qb.service(false, queueTune)
	ctx := context.Background()
	recycling := queueReq("q_recycles", "UTC", "1 09:00")
	recycling.Recycling = &triggerv1.Recycling{MinGap: durationpb.New(time.Hour), MaxRepeats: 3}
	mustPutQueue(t, s, recycling)
	mustPutQueue(t, s, queueReq("q_plain", "Europe/Paris", "1 09:00"))
	mustSchedule(t, s, queuedReq("queued", "q_plain", false))

	long := strings.Repeat("x", maxIDLen+1)
	queue := func(edit func(*triggerv1.PutQueueRequest)) func() error {
		return func() error {
			req := queueReq("q_plain", "UTC", "1 09:00", "3 14:30")
			req.Recycling = &triggerv1.Recycling{MinGap: durationpb.New(24 * time.Hour), MaxRepeats: 5}
			edit(req)
			_, err := s.PutQueue(ctx, req)
			return err
		}
	}
	slotsOf := func(n int) []*triggerv1.Slot {
		var out []*triggerv1.Slot
		for i := range n {
			out = append(out, &triggerv1.Slot{Weekday: int32(i%7 + 1), LocalTime: fmt.Sprintf("%02d:%02d", i/7/60, i/7%60)})
		}
		return out
	}
	accountsOf := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("acct_%d", i))
		}
		return out
	}
	schedule := func(edit func(*triggerv1.ScheduleRequest)) func() error {
		return func() error {
			req := queuedReq("new", "q_recycles", true)
			edit(req)
			_, err := s.Schedule(ctx, req)
			return err
		}
	}
	tests := []struct {
		name, field string
		call        func() error
	}{
		{"queue without tenant", "tenant_id", queue(func(r *triggerv1.PutQueueRequest) { r.TenantId = "" })},
		{"queue without id", "queue_id", queue(func(r *triggerv1.PutQueueRequest) { r.QueueId = "" })},
		{"queue id too long", "queue_id", queue(func(r *triggerv1.PutQueueRequest) { r.QueueId = long })},
		{"queue without workspace", "workspace_id", queue(func(r *triggerv1.PutQueueRequest) { r.WorkspaceId = "" })},
		{"name too long", "name", queue(func(r *triggerv1.PutQueueRequest) { r.Name = long })},
		{"no zone", "zone", queue(func(r *triggerv1.PutQueueRequest) { r.Zone = "" })},
		{"zone Local", "zone", queue(func(r *triggerv1.PutQueueRequest) { r.Zone = "Local" })},
		{"unknown zone", "zone", queue(func(r *triggerv1.PutQueueRequest) { r.Zone = "Mars/Olympus_Mons" })},
		{"a slot table with no slots", "slots", queue(func(r *triggerv1.PutQueueRequest) { r.Slots = nil })},
		{"too many slots", "slots", queue(func(r *triggerv1.PutQueueRequest) { r.Slots = slotsOf(maxSlots + 1) })},
		{"weekday 0", "slots[1].weekday", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[1].Weekday = 0 })},
		{"weekday 8", "slots[0].weekday", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[0].Weekday = 8 })},
		{"one-digit hour", "slots[0].local_time", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[0].LocalTime = "9:00" })},
		{"hour 24", "slots[1].local_time", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[1].LocalTime = "24:00" })},
		{"minute 60", "slots[1].local_time", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[1].LocalTime = "12:60" })},
		{"seconds", "slots[0].local_time", queue(func(r *triggerv1.PutQueueRequest) { r.Slots[0].LocalTime = "09:00:00" })},
		{"duplicate slot", "slots[2]", queue(func(r *triggerv1.PutQueueRequest) {
			r.Slots = append(r.Slots, &triggerv1.Slot{Weekday: 1, LocalTime: "09:00"})
		})},
		{"no accounts", "account_ids", queue(func(r *triggerv1.PutQueueRequest) { r.AccountIds = nil })},
		{"too many accounts", "account_ids", queue(func(r *triggerv1.PutQueueRequest) { r.AccountIds = accountsOf(maxQueueAccounts + 1) })},
		{"empty account id", "account_ids[1]", queue(func(r *triggerv1.PutQueueRequest) { r.AccountIds = []string{"a", ""} })},
		{"duplicate account", "account_ids[2]", queue(func(r *triggerv1.PutQueueRequest) { r.AccountIds = []string{"a", "b", "a"} })},
		{"negative min gap", "recycling.min_gap", queue(func(r *triggerv1.PutQueueRequest) { r.Recycling.MinGap = durationpb.New(-time.Second) })},
		{"min gap over 366 days", "recycling.min_gap", queue(func(r *triggerv1.PutQueueRequest) {
			r.Recycling.MinGap = durationpb.New(367 * 24 * time.Hour)
		})},
		{"no repeats", "recycling.max_repeats", queue(func(r *triggerv1.PutQueueRequest) { r.Recycling.MaxRepeats = 0 })},
		{"too many repeats", "recycling.max_repeats", queue(func(r *triggerv1.PutQueueRequest) { r.Recycling.MaxRepeats = maxRepeats + 1 })},

		{"evergreen without queue", "evergreen", func() error {
			req := scheduleReq(tenant, "new", at(3, 9, 0))
			req.Evergreen = true
			_, err := s.Schedule(ctx, req)
			return err
		}},
		{"unknown queue", "queue_id", schedule(func(r *triggerv1.ScheduleRequest) { r.QueueId = "q_nope" })},
		{"another tenant's queue", "queue_id", schedule(func(r *triggerv1.ScheduleRequest) { r.TenantId = "tnt_other" })},
		{"queue id too long", "queue_id", schedule(func(r *triggerv1.ScheduleRequest) { r.QueueId = long })},
		{"evergreen on a queue without recycling", "evergreen", schedule(func(r *triggerv1.ScheduleRequest) { r.QueueId = "q_plain" })},
		{"evergreen post already queued, on a queue without recycling", "evergreen", schedule(func(r *triggerv1.ScheduleRequest) {
			r.ScheduleId, r.PostId, r.QueueId = "queued", "post_queued", "q_plain"
		})},
		{"queue and due_at", "due_at", schedule(func(r *triggerv1.ScheduleRequest) { r.DueAt = timestamppb.New(at(3, 9, 0)) })},
		{"queue and rrule", "rrule", schedule(func(r *triggerv1.ScheduleRequest) { r.Rrule = "FREQ=DAILY" })},
		{"queue and start_local", "start_local", schedule(func(r *triggerv1.ScheduleRequest) { r.StartLocal = "2026-03-03T09:00:00" })},
		{"another zone than the queue's", "zone", schedule(func(r *triggerv1.ScheduleRequest) { r.Zone = "Europe/Paris" })},

		{"get with a negative limit", "limit", func() error {
			_, err := s.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: tenant, QueueId: "q_plain", Limit: -1})
			return err
		}},
		{"get with a limit too large", "limit", func() error {
			_, err := s.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: tenant, QueueId: "q_plain", Limit: maxQueuePosts + 1})
			return err
		}},
		{"pause without queue id", "queue_id", func() error {
			_, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, Paused: true})
			return err
		}},
		{"pause without account id", "account_id", func() error {
			_, err := s.PauseAccount(ctx, &triggerv1.PauseAccountRequest{TenantId: tenant, Paused: true})
			return err
		}},
		{"list without tenant", "tenant_id", func() error {
			_, err := s.ListQueues(ctx, &triggerv1.ListQueuesRequest{})
			return err
		}},
	}
	before := qb.snapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields[tt.field] == "" {
				t.Fatalf("got %v, want Invalid naming %s", err, tt.field)
			}
			if after := qb.snapshot(); after != before {
				t.Errorf("stored state changed:\nbefore %s\n after %s", before, after)
			}
		})
	}
	// Not invalid, but unknown: NotFound, nothing stored either.
	if _, err := s.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: tenant, QueueId: "q_nope", Paused: true}); !errs.Is(err, errs.NotFound) {
		t.Errorf("PauseQueue(unknown) = %v, want NotFound", err)
	}
	if after := qb.snapshot(); after != before {
		t.Errorf("stored state changed:\nbefore %s\n after %s", before, after)
	}
}

// snapshot describes what the queue tables and schedules hold.
func (qb *queueBundle) snapshot() string {
	qb.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT tenant_id, id, workspace_id, name, zone, slots, recycle_gap_us, recycle_max, paused, held, updated_at FROM trigger_queues ORDER BY tenant_id, id`,
		`SELECT tenant_id, account_id, queue_id FROM trigger_queue_accounts ORDER BY tenant_id, account_id, queue_id`,
		`SELECT tenant_id, account_id, paused FROM trigger_accounts ORDER BY tenant_id, account_id`,
		`SELECT tenant_id, id, kind, queue_id, evergreen, due_at, state, version FROM trigger_schedules ORDER BY tenant_id, id`,
	} {
		rows, err := qb.db.Query(context.Background(), q)
		if err != nil {
			qb.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				qb.t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Close(); err != nil {
			qb.t.Fatal(err)
		}
	}
	return b.String()
}

// TestOutageReplansQueuedPostsPastCatchUp stops the engine over two of a
// queue's slots: on restart the post only a little late (within
// QueueCatchUp) fires late, and the one whose slot passed long ago takes
// the queue's first free slot instead (a schedule.moved says so), so the
// queue keeps its spacing; every post goes out once.
func TestOutageReplansQueuedPostsPastCatchUp(t *testing.T) {
	t.Parallel()
	qb := queueSetup(t, at(2, 8, 0))
	first := qb.service(true, queueTune)
	mustPutQueue(t, first, queueReq("q1", "UTC", "1 09:00", "1 12:00", "1 15:00", "2 09:00", "2 12:00"))
	ids := []string{"long_late", "little_late", "on_time", "tuesday"}
	for _, id := range ids {
		mustSchedule(t, first, queuedReq(id, "q1", false))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	qb.advanceTo(at(2, 12, 5))
	second := qb.service(true, queueTune)
	little := qb.waitFired(tenant, "little_late")
	if due := little.ev.GetDueAt().AsTime(); !due.Equal(at(2, 12, 0)) {
		t.Errorf("little_late fired for %s, want its slot Monday 12:00", due)
	}
	tue12 := at(3, 12, 0)
	eventually(t, "long_late moved to the next free slot", func() bool {
		ev := latestMoves(qb.moves)["long_late"]
		return ev != nil && ev.GetDueAt().AsTime().Equal(tue12) && !ev.GetHeld()
	})
	if sch := mustGet(t, second, tenant, "long_late"); !sch.GetDueAt().AsTime().Equal(tue12) ||
		sch.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Errorf("long_late is %v, want pending at Tuesday 12:00", sch)
	}
	if n := len(qb.dues.of(tenant, "long_late")); n != 0 {
		t.Errorf("long_late fired %d times at restart, want 0 (moved instead)", n)
	}
	for _, slot := range []struct {
		id string
		at time.Time
	}{{"on_time", at(2, 15, 0)}, {"tuesday", at(3, 9, 0)}, {"long_late", tue12}} {
		if ev := qb.fireAt(slot.id, slot.at); !ev.GetFiredAt().AsTime().Equal(slot.at) {
			t.Errorf("%s fired at %s, want its slot %s", slot.id, ev.GetFiredAt().AsTime(), slot.at)
		}
	}
	qb.drain(second)
	for _, id := range ids {
		if n := len(qb.dues.of(tenant, id)); n != 1 {
			t.Errorf("%s fired %d times, want once", id, n)
		}
	}
}
