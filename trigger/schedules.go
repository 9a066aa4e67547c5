package trigger

import (
	"context"
	"hash/fnv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/store"
)

// States of a schedule as stored.
const (
	statePending   = "pending"
	stateFired     = "fired"
	stateCancelled = "cancelled"
	// stateSkipped is a one-shot schedule that fell due while Trigger was
	// down and would have fired later than its threshold.
	stateSkipped = "skipped"
	// stateHeld is a queued post whose queue is held; it does not fire.
	stateHeld = "held"
)

// Kinds of schedule as stored.
const (
	kindOnce  = "once"
	kindRRule = "rrule"
	// kindQueue is a post in an evergreen queue: due_at is its slot.
	kindQueue = "queue"
)

// schedule is one row of trigger_schedules.
type schedule struct {
	tenantID string
	id       string
	postID   string
	revision int64
	zone     string
	// due is the due instant in Unix microseconds.
	due     int64
	shard   int
	state   string
	version int64
	firedAt int64
	// lateness is firedAt - due, in microseconds.
	lateness int64

	kind string
	// The recurrence of a kind rrule schedule; see ScheduleRequest.
	rrule, startLocal, exdates string
	skipLate                   int64
	fires, skips               int64
	// lastDue is the due instant of the last occurrence fired or skipped.
	lastDue int64

	// The queue of a kind queue schedule, and whether it recycles the post.
	queueID   string
	evergreen bool

	// The rule cursor of a kind rrule schedule; it holds only while
	// cursorVersion is version (see migration 00005).
	cursorLocal                string
	cursorIndex, cursorVersion int64
}

const scheduleColumns = `tenant_id, id, post_id, revision, zone, due_at, shard, state, version, fired_at, lateness_us,
	kind, rrule, start_local, exdates, skip_late_us, fired_count, skipped_count, last_due_at, queue_id, evergreen,
	cursor_local, cursor_index, cursor_version`

type scanner interface{ Scan(dest ...any) error }

func scanSchedule(sc scanner) (schedule, error) {
	var r schedule
	err := sc.Scan(&r.tenantID, &r.id, &r.postID, &r.revision, &r.zone, &r.due, &r.shard, &r.state, &r.version, &r.firedAt, &r.lateness,
		&r.kind, &r.rrule, &r.startLocal, &r.exdates, &r.skipLate, &r.fires, &r.skips, &r.lastDue, &r.queueID, &r.evergreen,
		&r.cursorLocal, &r.cursorIndex, &r.cursorVersion)
	return r, err
}

// loadSchedule reads one schedule of a tenant; store.ErrNoRows if there is
// none (which is also the answer for another tenant's id).
func loadSchedule(ctx context.Context, q store.Querier, tenantID, scheduleID string) (schedule, error) {
	return scanSchedule(q.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM trigger_schedules WHERE tenant_id = ? AND id = ?`, tenantID, scheduleID))
}

// ruleCursor returns the schedule's rule cursor, if it holds.
func (r schedule) ruleCursor() *ruleCursor {
	if r.kind != kindRRule || r.cursorLocal == "" || r.cursorVersion != r.version {
		return nil
	}
	wall, err := time.ParseInLocation(localLayout, r.cursorLocal, time.UTC)
	if err != nil {
		return nil
	}
	return &ruleCursor{wall: wall, index: r.cursorIndex}
}

// key identifies a schedule across tenants in memory.
func (r schedule) key() string { return scheduleKey(r.tenantID, r.id) }

func scheduleKey(tenantID, scheduleID string) string { return tenantID + "\x00" + scheduleID }

// shardOf spreads schedules evenly and stably over n shards.
func shardOf(tenantID, scheduleID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(scheduleID))
	return int(h.Sum32() % uint32(n))
}

func (r schedule) proto() *triggerv1.Schedule {
	out := &triggerv1.Schedule{
		ScheduleId: r.id,
		TenantId:   r.tenantID,
		PostId:     r.postID,
		Revision:   r.revision,
		DueAt:      timestamppb.New(store.FromMicros(r.due)),
		Zone:       r.zone,
	}
	if r.skipLate > 0 {
		out.SkipIfLaterThan = durationpb.New(time.Duration(r.skipLate) * time.Microsecond)
	}
	if r.kind == kindOnce {
		out.SkippedCount = r.skips
	}
	if r.kind == kindRRule {
		out.Rrule, out.StartLocal, out.ExdatesLocal = r.rrule, r.startLocal, parseExdates(r.exdates)
		out.SkipIfLaterThan = durationpb.New(time.Duration(r.skipLate) * time.Microsecond)
		out.FiredCount, out.SkippedCount = r.fires, r.skips
		if r.lastDue != 0 {
			out.LastDueAt = timestamppb.New(store.FromMicros(r.lastDue))
		}
	}
	if r.kind == kindQueue {
		out.QueueId, out.Evergreen, out.FiredCount = r.queueID, r.evergreen, r.fires
		if r.lastDue != 0 {
			out.LastDueAt = timestamppb.New(store.FromMicros(r.lastDue))
		}
	}
	switch r.state {
	case statePending:
		out.State = triggerv1.ScheduleState_SCHEDULE_STATE_PENDING
	case stateFired:
		out.State = triggerv1.ScheduleState_SCHEDULE_STATE_FIRED
	case stateCancelled:
		out.State = triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED
	case stateHeld:
		out.State = triggerv1.ScheduleState_SCHEDULE_STATE_HELD
	case stateSkipped:
		out.State = triggerv1.ScheduleState_SCHEDULE_STATE_SKIPPED
	}
	// A one-shot schedule has fired_at once fired; a recurring one once its
	// first occurrence fired, whatever its state.
	if r.firedAt != 0 {
		out.FiredAt = timestamppb.New(store.FromMicros(r.firedAt))
	}
	return out
}

// micros converts a requested instant to the stored form, rounding up to the
// next microsecond: rounding down could fire up to 999ns early.
func micros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}
