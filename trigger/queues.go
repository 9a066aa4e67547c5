package trigger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
)

// Evergreen queues (docs/decisions/0011-evergreen-queues.md).
//
// A queue is a weekly table of posting slots in a zone. A queued post is a
// trigger_schedules row of kind queue whose due_at is its slot; a slot is
// free while no pending or held post of the queue sits on it. A post added
// to a queue takes the first free slot after now. An evergreen post that
// fires goes to the end of its queue (after its last taken slot, and at
// least the queue's min_gap later), until it has gone out again max_repeats
// times. A queue is held while it is paused or any of its accounts is: its
// posts are 'held', which the engine never fires; on release they keep
// their order and take slots from now on.
//
// Locks, in the one order every transaction takes them: account rows
// (PutQueue, PauseAccount), then queue rows in (tenant, id) order, then
// shard rows (the engine's fencing), then schedule rows. Every
// transaction that gives a post a slot, or holds or re-plans a queue,
// holds its queue row, so two never hand out one slot; the unique index on
// a queue's live slots refuses a second post should that ever fail.

// Bounds of a queue.
const (
	maxSlots         = 500
	maxQueueAccounts = 50
	maxNameLen       = 200
	maxRecycleGap    = 366 * 24 * time.Hour
	maxRepeats       = 1000
	// A GetQueue lists this many posts unless asked for fewer, and at most
	// maxQueuePosts.
	defaultQueuePosts = 100
	maxQueuePosts     = 1000
	// nextSlotsShown is how many free slots GetQueue lists.
	nextSlotsShown = 10
)

// --- slot tables ------------------------------------------------------------

// slot is a weekly posting time: an ISO weekday (1 Monday ... 7 Sunday) and
// a wall time as minutes from midnight.
type slot struct{ weekday, minute int }

func (s slot) localTime() string { return fmt.Sprintf("%02d:%02d", s.minute/60, s.minute%60) }

func compareSlots(a, b slot) int {
	if a.weekday != b.weekday {
		return a.weekday - b.weekday
	}
	return a.minute - b.minute
}

// slotsText and parseSlotsText store a slot table as one column:
// "D HH:MM" in order, comma-separated.
func slotsText(slots []slot) string {
	parts := make([]string, len(slots))
	for i, s := range slots {
		parts[i] = fmt.Sprintf("%d %s", s.weekday, s.localTime())
	}
	return strings.Join(parts, ",")
}

func parseSlotsText(text string) ([]slot, error) {
	var out []slot
	for part := range strings.SplitSeq(text, ",") {
		wd, hm, ok := strings.Cut(part, " ")
		minute, okTime := parseLocalTime(hm)
		if !ok || len(wd) != 1 || wd[0] < '1' || wd[0] > '7' || !okTime {
			return nil, fmt.Errorf("stored slot %q is malformed", part)
		}
		out = append(out, slot{weekday: int(wd[0] - '0'), minute: minute})
	}
	return out, nil
}

// parseLocalTime reads "HH:MM", 00:00 to 23:59, as minutes from midnight.
// (time.Parse accepts a one-digit hour; a stored table wants one spelling.)
func parseLocalTime(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// weekTable is a slot table in its zone, ready to give instants.
type weekTable struct {
	loc *time.Location
	// byDay holds each ISO weekday's wall times (minutes), in order.
	byDay [8][]int
}

func newWeekTable(loc *time.Location, slots []slot) weekTable {
	w := weekTable{loc: loc}
	for _, s := range slots {
		w.byDay[s.weekday] = append(w.byDay[s.weekday], s.minute)
	}
	for d := range w.byDay {
		slices.Sort(w.byDay[d])
	}
	return w
}

func isoWeekday(t time.Time) int { return (int(t.Weekday())+6)%7 + 1 }

// after yields, in order, the instants of the table's slots later than t,
// without end. Each wall time is resolved by the package's one DST rule
// (resolveLocal): in a gap it moves forward by the gap's length, when it
// exists twice it is the earlier instant. Slots that resolve to the same
// instant (02:30 moved onto 03:30) are one slot. Resolving can reorder
// wall times (02:30 moved past 03:15 on the day clocks jump from 02:00 to
// 03:00), so instants wait in order until no later day can come before
// them.
func (w weekTable) after(t time.Time) iter.Seq[time.Time] {
	return func(yield func(time.Time) bool) {
		if w.loc == nil || !slices.ContainsFunc(w.byDay[:], func(d []int) bool { return len(d) > 0 }) {
			return
		}
		// An instant is its wall time less the zone's offset, which is
		// under a day either way: wall days from two before t's hold every
		// slot after t.
		y, m, d := t.In(w.loc).Date()
		day := time.Date(y, m, d-2, 0, 0, 0, 0, time.UTC)
		var waiting []time.Time
		var last time.Time
		for {
			for _, minute := range w.byDay[isoWeekday(day)] {
				at := resolveLocal(day.Add(time.Duration(minute)*time.Minute), w.loc)
				if at.After(t) {
					i, _ := slices.BinarySearchFunc(waiting, at, time.Time.Compare)
					waiting = slices.Insert(waiting, i, at)
				}
			}
			day = day.AddDate(0, 0, 1)
			// No wall day from here on resolves before this.
			bound := day.Add(-24 * time.Hour)
			for len(waiting) > 0 && waiting[0].Before(bound) {
				at := waiting[0]
				waiting = waiting[1:]
				if at.Equal(last) {
					continue
				}
				last = at
				if !yield(at) {
					return
				}
			}
		}
	}
}

// plan gives a queue's posts, whose slots are dues in slot order, their
// slots after a change, in the same order. With keep (a release), a post
// keeps its slot while that is later than now and than the previous post's
// new slot; otherwise, and always without keep (a new slot table), it takes
// the table's first slot after the previous post's (the first post's:
// after now). The posts being all the queue's, every other slot is free.
func (w weekTable) plan(dues []int64, now time.Time, keep bool) []int64 {
	next, stop := iter.Pull(w.after(now))
	defer stop()
	out := make([]int64, len(dues))
	prev := now.UnixMicro()
	cur := int64(math.MinInt64)
	for i, due := range dues {
		if keep && due > prev {
			out[i], prev = due, due
			continue
		}
		for cur <= prev {
			at, ok := next()
			if !ok {
				// Not reached: a stored table has slots every week.
				return out[:i]
			}
			cur = at.UnixMicro()
		}
		out[i], prev = cur, cur
	}
	return out
}

// --- queues as stored ---------------------------------------------------------

// queue is one row of trigger_queues, with its accounts when read.
type queue struct {
	tenantID, id, workspaceID, name, zone string
	slots                                 []slot
	table                                 weekTable
	// recycleMax is 0 when the queue does not recycle.
	recycleGap, recycleMax int64
	paused, held           bool
	version                int64
	createdAt, updatedAt   int64

	accounts, pausedAccounts []string
}

const queueColumns = `tenant_id, id, workspace_id, name, zone, slots, recycle_gap_us, recycle_max, paused, held, version, created_at, updated_at`

func scanQueue(sc scanner) (queue, error) {
	var q queue
	var slots string
	if err := sc.Scan(&q.tenantID, &q.id, &q.workspaceID, &q.name, &q.zone, &slots, &q.recycleGap, &q.recycleMax,
		&q.paused, &q.held, &q.version, &q.createdAt, &q.updatedAt); err != nil {
		return q, err
	}
	var err error
	if q.slots, err = parseSlotsText(slots); err != nil {
		return q, fmt.Errorf("queue %s: %w", q.id, err)
	}
	loc, err := time.LoadLocation(q.zone)
	if err != nil {
		return q, fmt.Errorf("queue %s: zone: %w", q.id, err)
	}
	q.table = newWeekTable(loc, q.slots)
	return q, nil
}

// loadQueue reads a queue of a tenant; store.ErrNoRows if there is none.
func loadQueue(ctx context.Context, q store.Querier, tenantID, queueID string) (queue, error) {
	return scanQueue(q.QueryRow(ctx, `SELECT `+queueColumns+` FROM trigger_queues WHERE tenant_id = ? AND id = ?`, tenantID, queueID))
}

// lockQueue takes the queue row's lock for the transaction and reads it;
// store.ErrNoRows if there is none. Updating the row is how both dialects
// take the lock (SQLite has no SELECT ... FOR UPDATE).
func lockQueue(ctx context.Context, tx *store.Tx, tenantID, queueID string) (queue, error) {
	return scanQueue(tx.QueryRow(ctx, `UPDATE trigger_queues SET version = version + 1 WHERE tenant_id = ? AND id = ? RETURNING `+queueColumns,
		tenantID, queueID))
}

// withAccounts reads the queue's accounts and which of them are paused.
func (q *queue) withAccounts(ctx context.Context, db store.Querier) error {
	rows, err := db.Query(ctx, `SELECT qa.account_id, a.paused FROM trigger_queue_accounts qa
		JOIN trigger_accounts a ON a.tenant_id = qa.tenant_id AND a.account_id = qa.account_id
		WHERE qa.tenant_id = ? AND qa.queue_id = ? ORDER BY qa.account_id`, q.tenantID, q.id)
	if err != nil {
		return err
	}
	defer rows.Close()
	q.accounts, q.pausedAccounts = nil, nil
	for rows.Next() {
		var id string
		var paused bool
		if err := rows.Scan(&id, &paused); err != nil {
			return err
		}
		q.accounts = append(q.accounts, id)
		if paused {
			q.pausedAccounts = append(q.pausedAccounts, id)
		}
	}
	return rows.Err()
}

func (q queue) proto() *triggerv1.Queue {
	out := &triggerv1.Queue{
		QueueId: q.id, TenantId: q.tenantID, WorkspaceId: q.workspaceID, Name: q.name, Zone: q.zone,
		AccountIds: q.accounts, Paused: q.paused, Held: q.held, PausedAccountIds: q.pausedAccounts,
		CreatedAt: timestamppb.New(store.FromMicros(q.createdAt)),
		UpdatedAt: timestamppb.New(store.FromMicros(q.updatedAt)),
	}
	for _, s := range q.slots {
		out.Slots = append(out.Slots, &triggerv1.Slot{Weekday: int32(s.weekday), LocalTime: s.localTime()})
	}
	if q.recycleMax > 0 {
		out.Recycling = &triggerv1.Recycling{
			MinGap:     durationpb.New(time.Duration(q.recycleGap) * time.Microsecond),
			MaxRepeats: int32(q.recycleMax),
		}
	}
	return out
}

// live reports whether a schedule holds a slot of its queue.
func (r schedule) live() bool { return r.state == statePending || r.state == stateHeld }

// queuedPosts reads the queue's pending and held posts in slot order; limit
// 0 reads them all.
func queuedPosts(ctx context.Context, db store.Querier, tenantID, queueID string, limit int) ([]schedule, error) {
	q := `SELECT ` + scheduleColumns + ` FROM trigger_schedules
		WHERE tenant_id = ? AND queue_id = ? AND kind = 'queue' AND state IN ('pending', 'held')
		ORDER BY due_at, id`
	args := []any{tenantID, queueID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanSchedules(rows)
}

// lastTaken is the queue's last taken slot, leaving out one schedule
// (none: ""); 0 when no slot is taken.
func lastTaken(ctx context.Context, db store.Querier, tenantID, queueID, except string) (int64, error) {
	var last int64
	err := db.QueryRow(ctx, `SELECT COALESCE(MAX(due_at), 0) FROM trigger_schedules
		WHERE tenant_id = ? AND queue_id = ? AND kind = 'queue' AND state IN ('pending', 'held') AND id <> ?`,
		tenantID, queueID, except).Scan(&last)
	return last, err
}

// freeSlot returns the queue's first free slot after t. The caller holds
// the queue's lock, so the slot stays free until it commits.
func freeSlot(ctx context.Context, tx *store.Tx, q queue, t time.Time) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT due_at FROM trigger_schedules
		WHERE tenant_id = ? AND queue_id = ? AND kind = 'queue' AND state IN ('pending', 'held') AND due_at > ?
		ORDER BY due_at`, q.tenantID, q.id, t.UnixMicro())
	if err != nil {
		return 0, err
	}
	var taken []int64
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			rows.Close()
			return 0, err
		}
		taken = append(taken, at)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	// Slots are whole minutes, so their microseconds are exact.
	for at := range q.table.after(t) {
		us := at.UnixMicro()
		for len(taken) > 0 && taken[0] < us {
			taken = taken[1:]
		}
		if len(taken) == 0 || taken[0] != us {
			return us, nil
		}
	}
	return 0, errors.New("queue has no slots")
}

// settle brings a queue's posts in line with q after a change, in tx: a
// hold when q became held, a release when it no longer is (the posts keep
// their order, see plan), a re-plan onto the table when it changed. Each
// post changed gets a ScheduleMoved event in tx; the posts are returned,
// for the engine once tx commits.
func (s *Service) settle(ctx context.Context, tx *store.Tx, q queue, wasHeld, tableChanged bool) ([]schedule, error) {
	if wasHeld == q.held && !tableChanged {
		return nil, nil
	}
	posts, err := queuedPosts(ctx, tx, q.tenantID, q.id, 0)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	dues := make([]int64, len(posts))
	for i, r := range posts {
		dues[i] = r.due
	}
	if release := wasHeld && !q.held; release || tableChanged {
		dues = q.table.plan(dues, now, !tableChanged)
	}
	state := statePending
	if q.held {
		state = stateHeld
	}
	nowUS := now.UnixMicro()
	// Posts that move are first parked at their slot negated: no two live
	// posts of a queue share a slot even for a moment (the unique index
	// checks each row as it is written), and a post moving onto a slot
	// another post is about to leave would otherwise break that. A post
	// changed meanwhile by a request that does not take the queue's lock
	// (Cancel, a reschedule out of the queue) has left the queue: skipped.
	gone := make([]bool, len(posts))
	for i, r := range posts {
		if dues[i] == r.due {
			continue
		}
		res, err := tx.Exec(ctx, `UPDATE trigger_schedules SET due_at = ? WHERE tenant_id = ? AND id = ? AND version = ?`,
			-r.due, r.tenantID, r.id, r.version)
		if err != nil {
			return nil, fmt.Errorf("moving queued post: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			gone[i] = true
		}
	}
	var changed []schedule
	for i, r := range posts {
		if gone[i] || (dues[i] == r.due && r.state == state && r.zone == q.zone) {
			continue
		}
		res, err := tx.Exec(ctx, `UPDATE trigger_schedules SET due_at = ?, state = ?, zone = ?, version = version + 1, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND version = ?`,
			dues[i], state, q.zone, nowUS, r.tenantID, r.id, r.version)
		if err != nil {
			return nil, fmt.Errorf("moving queued post: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			continue
		}
		r.due, r.state, r.zone, r.version = dues[i], state, q.zone, r.version+1
		ev := &eventsv1.ScheduleMoved{
			TenantId: r.tenantID, ScheduleId: r.id, PostId: r.postID, QueueId: r.queueID,
			DueAt: timestamppb.New(store.FromMicros(r.due)), Held: r.state == stateHeld, Version: r.version,
		}
		if _, err := s.outbox.Add(ctx, tx, bus.TopicScheduleMoved, ev); err != nil {
			return nil, err
		}
		changed = append(changed, r)
	}
	return changed, nil
}

// setHeld stores q's held flag (and paused) and settles its posts.
func (s *Service) setHeld(ctx context.Context, tx *store.Tx, q queue, wasHeld bool) ([]schedule, error) {
	if _, err := tx.Exec(ctx, `UPDATE trigger_queues SET paused = ?, held = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		q.paused, q.held, q.updatedAt, q.tenantID, q.id); err != nil {
		return nil, err
	}
	return s.settle(ctx, tx, q, wasHeld, false)
}

func (s *Service) noteAll(rs []schedule) {
	for _, r := range rs {
		s.engine.note(r)
	}
}

// --- validation -----------------------------------------------------------

func checkZone(v *errs.Fields, field, zone string) *time.Location {
	switch zone {
	case "":
		v.Add(field, "is required")
		return nil
	case "Local":
		// "Local" means the server's zone, which is not the user's.
		v.Add(field, "must be an IANA zone name such as Europe/Paris")
		return nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		v.Add(field, "is not a known IANA zone name")
	}
	return loc
}

// validateQueue checks a PutQueueRequest field by field and returns the
// queue it asks for (its accounts in order).
func validateQueue(req *triggerv1.PutQueueRequest) (queue, error) {
	var v errs.Fields
	q := queue{
		tenantID: req.GetTenantId(), id: req.GetQueueId(), workspaceID: req.GetWorkspaceId(),
		name: req.GetName(), zone: req.GetZone(),
	}
	checkID(&v, "tenant_id", q.tenantID)
	checkID(&v, "queue_id", q.id)
	checkID(&v, "workspace_id", q.workspaceID)
	if len(q.name) > maxNameLen {
		v.Add("name", "must be at most %d bytes", maxNameLen)
	} else if !utf8.ValidString(q.name) {
		v.Add("name", "must be UTF-8 text")
	}
	loc := checkZone(&v, "zone", q.zone)

	switch n := len(req.GetSlots()); {
	case n == 0:
		v.Add("slots", "must hold at least one slot: a slot table with no slots never posts")
	case n > maxSlots:
		v.Add("slots", "must hold at most %d slots", maxSlots)
	}
	seen := map[slot]int{}
	for i, sl := range req.GetSlots() {
		if len(req.GetSlots()) > maxSlots {
			break
		}
		wd := sl.GetWeekday()
		minute, ok := parseLocalTime(sl.GetLocalTime())
		if wd < 1 || wd > 7 {
			v.Add(fmt.Sprintf("slots[%d].weekday", i), "must be 1 (Monday) to 7 (Sunday)")
		}
		if !ok {
			v.Add(fmt.Sprintf("slots[%d].local_time", i), `must be a wall time "HH:MM" from 00:00 to 23:59`)
		}
		if wd < 1 || wd > 7 || !ok {
			continue
		}
		s := slot{weekday: int(wd), minute: minute}
		if j, dup := seen[s]; dup {
			v.Add(fmt.Sprintf("slots[%d]", i), "repeats slots[%d]", j)
			continue
		}
		seen[s] = i
		q.slots = append(q.slots, s)
	}
	slices.SortFunc(q.slots, compareSlots)

	switch n := len(req.GetAccountIds()); {
	case n == 0:
		v.Add("account_ids", "must name at least one account")
	case n > maxQueueAccounts:
		v.Add("account_ids", "must name at most %d accounts", maxQueueAccounts)
	}
	named := map[string]int{}
	for i, a := range req.GetAccountIds() {
		if len(req.GetAccountIds()) > maxQueueAccounts {
			break
		}
		field := fmt.Sprintf("account_ids[%d]", i)
		checkID(&v, field, a)
		if j, dup := named[a]; dup {
			v.Add(field, "repeats account_ids[%d]", j)
			continue
		}
		named[a] = i
		q.accounts = append(q.accounts, a)
	}
	slices.Sort(q.accounts)

	if rc := req.GetRecycling(); rc != nil {
		gap := time.Duration(0)
		if d := rc.GetMinGap(); d != nil {
			gap = d.AsDuration()
			if d.CheckValid() != nil || gap < 0 || gap > maxRecycleGap {
				v.Add("recycling.min_gap", "must be from 0 to 366 days")
			}
		}
		if n := rc.GetMaxRepeats(); n < 1 || n > maxRepeats {
			v.Add("recycling.max_repeats", "must be from 1 to %d", maxRepeats)
		}
		q.recycleGap, q.recycleMax = gap.Microseconds(), int64(rc.GetMaxRepeats())
	}
	if err := v.Err(); err != nil {
		return queue{}, err
	}
	q.table = newWeekTable(loc, q.slots)
	return q, nil
}

// validateQueued checks the queue part of a ScheduleRequest with queue_id;
// what depends on the queue itself is checked once it is read (checkQueued).
func validateQueued(v *errs.Fields, req *triggerv1.ScheduleRequest, in *scheduleInput) {
	in.kind, in.queueID, in.evergreen = kindQueue, req.GetQueueId(), req.GetEvergreen()
	checkID(v, "queue_id", in.queueID)
	const unset = "must be unset for a queued post (queue_id): it takes the queue's next free slot"
	if req.GetDueAt() != nil {
		v.Add("due_at", unset)
	}
	if req.GetRrule() != "" {
		v.Add("rrule", unset)
	}
	if req.GetStartLocal() != "" {
		v.Add("start_local", unset)
	}
	if len(req.GetExdatesLocal()) > 0 {
		v.Add("exdates_local", unset)
	}
	if req.GetSkipIfLaterThan() != nil {
		v.Add("skip_if_later_than", unset)
	}
}

// checkQueued checks a queued request against its queue and completes it.
func (in *scheduleInput) checkQueued(q queue) error {
	var v errs.Fields
	if in.evergreen && q.recycleMax == 0 {
		v.Add("evergreen", "needs a queue that recycles; queue %s has no recycling", q.id)
	}
	if in.zone != "" && in.zone != q.zone {
		v.Add("zone", "must be unset or the queue's zone (%s): slots are in the queue's zone", q.zone)
	}
	in.zone, in.held = q.zone, q.held
	return v.Err()
}

func checkQueueRef(tenantID, queueID string) error {
	var v errs.Fields
	checkID(&v, "tenant_id", tenantID)
	checkID(&v, "queue_id", queueID)
	return v.Err()
}

// --- Schedule with queue_id ------------------------------------------------

// scheduleQueued is Schedule for a post in a queue: a new post takes the
// queue's first free slot after now; asking again for the same queue keeps
// the slot (a new revision too); a post coming from another kind, another
// queue or a cancellation takes a free slot like a new one.
func (s *Service) scheduleQueued(ctx context.Context, in scheduleInput) (*triggerv1.ScheduleResponse, error) {
	var out schedule
	changed := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		changed = false
		// A post leaving another queue locks that one too, both in order.
		locks := []string{in.queueID}
		if cur, err := loadSchedule(ctx, tx, in.tenantID, in.scheduleID); err == nil && cur.kind == kindQueue && cur.live() && cur.queueID != in.queueID {
			locks = append(locks, cur.queueID)
			slices.Sort(locks)
		} else if err != nil && !errors.Is(err, store.ErrNoRows) {
			return err
		}
		var q queue
		for _, id := range locks {
			got, err := lockQueue(ctx, tx, in.tenantID, id)
			switch {
			case id != in.queueID && errors.Is(err, store.ErrNoRows):
			case errors.Is(err, store.ErrNoRows):
				var v errs.Fields
				v.Add("queue_id", "names no queue of this tenant")
				return v.Err()
			case err != nil:
				return err
			case id == in.queueID:
				q = got
			}
		}
		if err := in.checkQueued(q); err != nil {
			return err
		}
		// Read again under the lock: a request for the same post that
		// committed meanwhile is seen here.
		cur, err := loadSchedule(ctx, tx, in.tenantID, in.scheduleID)
		switch {
		case errors.Is(err, store.ErrNoRows):
			if in.due, err = freeSlot(ctx, tx, q, s.clock.Now()); err != nil {
				return err
			}
			if out, err = s.insert(ctx, tx, in); err != nil {
				return err
			}
			changed = true
			return noteQueueLevel(ctx, tx, s.outbox, in.tenantID, in.queueID, false)
		case err != nil:
			return err
		case cur.kind == kindQueue && cur.queueID == in.queueID && cur.live():
			if cur.same(in) {
				out = cur
				return nil
			}
			// The post keeps its slot and its state.
			in.due, in.held = cur.due, cur.state == stateHeld
		case cur.state == stateFired:
			if cur.same(in) {
				out = cur
				return nil
			}
			return errs.E(errs.Conflict, "the schedule already fired; schedule the post under a new schedule_id")
		default:
			if in.due, err = freeSlot(ctx, tx, q, s.clock.Now()); err != nil {
				return err
			}
		}
		if out, err = s.replace(ctx, tx, cur, in); err != nil {
			return err
		}
		changed = true
		return noteQueueLevel(ctx, tx, s.outbox, in.tenantID, in.queueID, false)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.engine.note(out)
	}
	return &triggerv1.ScheduleResponse{Schedule: out.proto()}, nil
}

// --- firing (called by the engine's fire transaction) -------------------------

// lockQueues locks, in (tenant, id) order, the queues of the batch's
// queued posts: an evergreen post's fire takes a slot at the end of its
// queue, and any queued post's row must not be locked before its queue's
// (a pause or re-plan holding the queue locks its posts' rows in its own
// order). It runs first in the fire transaction, before the shard rows:
// the fire transaction touches schedule rows of one shard before the next
// shard's row, so queue locks taken later would come after schedule rows.
func lockQueues(ctx context.Context, tx *store.Tx, batch []*entry) error {
	type ref struct{ tenantID, queueID string }
	var refs []ref
	for _, en := range batch {
		if en.queued != nil {
			refs = append(refs, ref{en.tenantID, en.queued.queueID})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if c := strings.Compare(a.tenantID, b.tenantID); c != 0 {
			return c
		}
		return strings.Compare(a.queueID, b.queueID)
	})
	for _, r := range slices.Compact(refs) {
		if _, err := tx.Exec(ctx, `UPDATE trigger_queues SET version = version + 1 WHERE tenant_id = ? AND id = ?`, r.tenantID, r.queueID); err != nil {
			return fmt.Errorf("locking queue %s: %w", r.queueID, err)
		}
	}
	return nil
}

// fireQueued fires a queued post in tx, guarded like a one-shot schedule
// (pending, at the entry's version, due). An evergreen post with repeats
// left moves, in the same UPDATE, to the first slot at the end of its
// queue that is at least the queue's min_gap after this fire; any other
// post is marked fired. It returns the schedule as it now stands, and
// false when the guard refused (the post was moved, held, cancelled or
// fired meanwhile).
//
// A post later than QueueCatchUp does not fire: it takes the queue's first
// free slot after now (replanned is true) and gets a schedule.moved.
func (e *engine) fireQueued(ctx context.Context, tx *store.Tx, en *entry, now time.Time) (r schedule, ok, replanned bool, err error) {
	sp := en.queued
	nowUS := now.UnixMicro()
	if c := e.cfg.QueueCatchUp; c > 0 && nowUS-en.due > c.Microseconds() {
		r, ok, err = e.replanLate(ctx, tx, en, now)
		return r, ok, ok, err
	}
	r = schedule{
		tenantID: en.tenantID, id: en.id, postID: en.postID, revision: en.revision, due: en.due, shard: en.shard,
		state: stateFired, version: en.version + 1, firedAt: nowUS, lateness: nowUS - en.due,
		kind: kindQueue, queueID: sp.queueID, evergreen: sp.evergreen, fires: sp.fires + 1, lastDue: en.due,
	}
	if sp.evergreen {
		next, err := recycleSlot(ctx, tx, en, now)
		if err != nil {
			return schedule{}, false, false, err
		}
		if next != 0 {
			r.state, r.due = statePending, next
		}
	}
	res, err := tx.Exec(ctx, `UPDATE trigger_schedules
		SET state = ?, due_at = ?, fired_count = fired_count + 1, last_due_at = ?, fired_at = ?, lateness_us = ?,
			fire_token = ?, version = version + 1, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND version = ? AND state = 'pending' AND due_at <= ?`,
		r.state, r.due, en.due, nowUS, r.lateness, en.token, nowUS,
		en.tenantID, en.id, en.version, nowUS)
	if err != nil {
		return schedule{}, false, false, fmt.Errorf("firing queued post: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return schedule{}, false, false, err
	} else if n == 0 {
		return schedule{}, false, false, nil
	}
	if r.state == stateFired {
		// One post fewer waits: the queue may be running low.
		if err := noteQueueLevel(ctx, tx, e.box, en.tenantID, sp.queueID, true); err != nil {
			return schedule{}, false, false, err
		}
	}
	return r, true, false, nil
}

// queueLowWater is how many waiting posts a queue needs not to be running
// low: below it, its team is told to add posts before its slots go empty.
const queueLowWater = 3

// noteQueueLevel compares the queue's waiting posts with queueLowWater in
// tx, which holds the queue's lock. Below it, after a fire (mayWarn), the
// queue is marked running low and queue.running_empty goes out in the same
// transaction, once: the mark keeps later fires quiet until enough posts
// wait again, which re-arms it. Enqueueing never warns: a queue being
// filled is not running empty.
func noteQueueLevel(ctx context.Context, tx *store.Tx, box *outbox.Outbox, tenantID, queueID string, mayWarn bool) error {
	var (
		low             bool
		workspace, name string
		waiting, last   int64
	)
	err := tx.QueryRow(ctx, `SELECT running_low, workspace_id, name FROM trigger_queues WHERE tenant_id = ? AND id = ?`,
		tenantID, queueID).Scan(&low, &workspace, &name)
	if errors.Is(err, store.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading queue %s: %w", queueID, err)
	}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(due_at), 0) FROM trigger_schedules
		WHERE tenant_id = ? AND queue_id = ? AND kind = 'queue' AND state IN ('pending', 'held')`,
		tenantID, queueID).Scan(&waiting, &last); err != nil {
		return fmt.Errorf("counting queue %s: %w", queueID, err)
	}
	switch {
	case waiting >= queueLowWater && low:
		_, err = tx.Exec(ctx, `UPDATE trigger_queues SET running_low = ? WHERE tenant_id = ? AND id = ?`, false, tenantID, queueID)
		return err
	case waiting < queueLowWater && !low && mayWarn:
		if _, err := tx.Exec(ctx, `UPDATE trigger_queues SET running_low = ? WHERE tenant_id = ? AND id = ?`, true, tenantID, queueID); err != nil {
			return err
		}
		ev := &eventsv1.QueueRunningEmpty{TenantId: tenantID, WorkspaceId: workspace, QueueId: queueID, QueueName: name, Remaining: waiting}
		if waiting > 0 {
			ev.EmptyAt = timestamppb.New(store.FromMicros(last))
		}
		_, err = box.Add(ctx, tx, bus.TopicQueueRunningEmpty, ev)
		return err
	}
	return nil
}

// replanLate moves a queued post whose slot passed long ago (an outage) to
// its queue's first free slot after now, guarded like a fire, with a
// schedule.moved in tx. The fire transaction holds the queue's lock, so
// the slot stays free; posts replanned in one batch take successive slots
// in the order they fell due.
func (e *engine) replanLate(ctx context.Context, tx *store.Tx, en *entry, now time.Time) (schedule, bool, error) {
	q, err := loadQueue(ctx, tx, en.tenantID, en.queued.queueID)
	if errors.Is(err, store.ErrNoRows) {
		// The queue is being deleted, which cancels its posts.
		return schedule{}, false, nil
	}
	if err != nil {
		return schedule{}, false, err
	}
	at, err := freeSlot(ctx, tx, q, now)
	if err != nil {
		return schedule{}, false, err
	}
	nowUS := now.UnixMicro()
	res, err := tx.Exec(ctx, `UPDATE trigger_schedules SET due_at = ?, version = version + 1, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND version = ? AND state = 'pending' AND due_at <= ?`,
		at, nowUS, en.tenantID, en.id, en.version, nowUS)
	if err != nil {
		return schedule{}, false, fmt.Errorf("replanning late queued post: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return schedule{}, false, err
	}
	r := schedule{
		tenantID: en.tenantID, id: en.id, postID: en.postID, revision: en.revision, due: at, shard: en.shard,
		state: statePending, version: en.version + 1, zone: q.zone,
		kind: kindQueue, queueID: q.id, evergreen: en.queued.evergreen, fires: en.queued.fires,
	}
	ev := &eventsv1.ScheduleMoved{
		TenantId: r.tenantID, ScheduleId: r.id, PostId: r.postID, QueueId: r.queueID,
		DueAt: timestamppb.New(store.FromMicros(at)), Version: r.version,
	}
	if _, err := e.box.Add(ctx, tx, bus.TopicScheduleMoved, ev); err != nil {
		return schedule{}, false, err
	}
	e.log.Info("trigger: queued post missed its slot by more than the catch-up limit; moved to the next free slot",
		"tenant", en.tenantID, "schedule", en.id, "queue", q.id, "missed", store.FromMicros(en.due), "slot", store.FromMicros(at))
	return r, true, nil
}

// recycleSlot is where an evergreen post firing now goes next: the first
// slot of its queue after the queue's last taken slot, after now, and at
// least min_gap after now; 0 when it has no repeat left (or the queue no
// longer recycles). The fire transaction holds the queue's lock.
func recycleSlot(ctx context.Context, tx *store.Tx, en *entry, now time.Time) (int64, error) {
	q, err := loadQueue(ctx, tx, en.tenantID, en.queued.queueID)
	if errors.Is(err, store.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	// fires counts the posts before this one; the next would be repeat
	// number fires+1.
	if q.recycleMax == 0 || en.queued.fires >= q.recycleMax {
		return 0, nil
	}
	last, err := lastTaken(ctx, tx, en.tenantID, q.id, en.id)
	if err != nil {
		return 0, err
	}
	nowUS := now.UnixMicro()
	// A slot later than from is after the last taken one, after now and
	// at least min_gap after now (instants are whole microseconds).
	from := max(last, nowUS, nowUS+q.recycleGap-1)
	at, ok := first(q.table.after(store.FromMicros(from)))
	if !ok {
		return 0, nil
	}
	return at.UnixMicro(), nil
}

// --- the queue API ------------------------------------------------------------

// PutQueue creates or replaces a queue. A changed slot table or zone
// re-plans the queued posts onto the new table in their order; a change of
// accounts may hold or release the queue.
func (s *Service) PutQueue(ctx context.Context, req *triggerv1.PutQueueRequest) (*triggerv1.PutQueueResponse, error) {
	in, err := validateQueue(req)
	if err != nil {
		return nil, err
	}
	var (
		out   queue
		moved []schedule
	)
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		moved = nil
		q := in
		now := store.ToMicros(s.clock.Now())
		// Account rows first (see the lock order above): a PauseAccount of
		// one of them either committed before (seen here) or waits and then
		// sees this queue among the account's.
		q.pausedAccounts = nil
		for _, a := range q.accounts {
			var paused bool
			if err := tx.QueryRow(ctx, `INSERT INTO trigger_accounts (tenant_id, account_id, paused, updated_at) VALUES (?, ?, FALSE, ?)
				ON CONFLICT (tenant_id, account_id) DO UPDATE SET updated_at = trigger_accounts.updated_at
				RETURNING paused`, q.tenantID, a, now).Scan(&paused); err != nil {
				return err
			}
			if paused {
				q.pausedAccounts = append(q.pausedAccounts, a)
			}
		}
		cur, err := lockQueue(ctx, tx, q.tenantID, q.id)
		switch {
		case errors.Is(err, store.ErrNoRows):
			q.held = len(q.pausedAccounts) > 0
			q.version, q.createdAt, q.updatedAt = 1, now, now
			res, err := tx.Exec(ctx, `INSERT INTO trigger_queues (`+queueColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (tenant_id, id) DO NOTHING`,
				q.tenantID, q.id, q.workspaceID, q.name, q.zone, slotsText(q.slots), q.recycleGap, q.recycleMax,
				q.paused, q.held, q.version, q.createdAt, q.updatedAt)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return errs.E(errs.Conflict, "the queue is being created by another request; try again")
			}
		case err != nil:
			return err
		default:
			q.paused, q.version, q.createdAt, q.updatedAt = cur.paused, cur.version, cur.createdAt, now
			q.held = q.paused || len(q.pausedAccounts) > 0
			if _, err := tx.Exec(ctx, `UPDATE trigger_queues
				SET workspace_id = ?, name = ?, zone = ?, slots = ?, recycle_gap_us = ?, recycle_max = ?, held = ?, updated_at = ?
				WHERE tenant_id = ? AND id = ?`,
				q.workspaceID, q.name, q.zone, slotsText(q.slots), q.recycleGap, q.recycleMax, q.held, q.updatedAt,
				q.tenantID, q.id); err != nil {
				return err
			}
			tableChanged := cur.zone != q.zone || slotsText(cur.slots) != slotsText(q.slots)
			if moved, err = s.settle(ctx, tx, q, cur.held, tableChanged); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM trigger_queue_accounts WHERE tenant_id = ? AND queue_id = ?`, q.tenantID, q.id); err != nil {
			return err
		}
		for _, a := range q.accounts {
			if _, err := tx.Exec(ctx, `INSERT INTO trigger_queue_accounts (tenant_id, account_id, queue_id) VALUES (?, ?, ?)`,
				q.tenantID, a, q.id); err != nil {
				return err
			}
		}
		out = q
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.noteAll(moved)
	return &triggerv1.PutQueueResponse{Queue: out.proto()}, nil
}

// GetQueue returns a queue, its pending and held posts in slot order, and
// its next free slots after them.
func (s *Service) GetQueue(ctx context.Context, req *triggerv1.GetQueueRequest) (*triggerv1.GetQueueResponse, error) {
	var v errs.Fields
	checkID(&v, "tenant_id", req.GetTenantId())
	checkID(&v, "queue_id", req.GetQueueId())
	limit := int(req.GetLimit())
	if limit < 0 || limit > maxQueuePosts {
		v.Add("limit", "must be from 0 (the default, %d) to %d", defaultQueuePosts, maxQueuePosts)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = defaultQueuePosts
	}
	q, err := loadQueue(ctx, s.db, req.GetTenantId(), req.GetQueueId())
	if err != nil {
		return nil, store.NotFound(err, "queue")
	}
	if err := q.withAccounts(ctx, s.db); err != nil {
		return nil, err
	}
	posts, err := queuedPosts(ctx, s.db, q.tenantID, q.id, limit)
	if err != nil {
		return nil, err
	}
	last, err := lastTaken(ctx, s.db, q.tenantID, q.id, "")
	if err != nil {
		return nil, err
	}
	out := &triggerv1.GetQueueResponse{Queue: q.proto()}
	for _, r := range posts {
		out.Posts = append(out.Posts, &triggerv1.QueuedPost{Schedule: r.proto()})
	}
	from := s.clock.Now()
	if t := store.FromMicros(last); t.After(from) {
		from = t
	}
	for at := range q.table.after(from) {
		out.NextSlots = append(out.NextSlots, timestamppb.New(at))
		if len(out.NextSlots) == nextSlotsShown {
			break
		}
	}
	return out, nil
}

// ListQueues returns a tenant's queues (of one workspace when asked), by id.
func (s *Service) ListQueues(ctx context.Context, req *triggerv1.ListQueuesRequest) (*triggerv1.ListQueuesResponse, error) {
	rows, err := s.listTenantRows(ctx, req, queueColumns, "trigger_queues")
	if err != nil {
		return nil, err
	}
	var queues []queue
	for rows.Next() {
		qu, err := scanQueue(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		queues = append(queues, qu)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := &triggerv1.ListQueuesResponse{}
	for _, qu := range queues {
		if err := qu.withAccounts(ctx, s.db); err != nil {
			return nil, err
		}
		out.Queues = append(out.Queues, qu.proto())
	}
	return out, nil
}

// DeleteQueue deletes a queue and cancels its pending and held posts.
// Deleting a queue that does not exist (for this tenant) is not an error,
// so a retry is harmless.
func (s *Service) DeleteQueue(ctx context.Context, req *triggerv1.DeleteQueueRequest) (*triggerv1.DeleteQueueResponse, error) {
	if err := checkQueueRef(req.GetTenantId(), req.GetQueueId()); err != nil {
		return nil, err
	}
	var cancelled []schedule
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		cancelled = nil
		q, err := lockQueue(ctx, tx, req.GetTenantId(), req.GetQueueId())
		if errors.Is(err, store.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE trigger_schedules SET state = ?, version = version + 1, updated_at = ?
			WHERE tenant_id = ? AND queue_id = ? AND kind = 'queue' AND state IN ('pending', 'held')
			RETURNING `+scheduleColumns, stateCancelled, store.ToMicros(s.clock.Now()), q.tenantID, q.id)
		if err != nil {
			return err
		}
		if cancelled, err = scanSchedules(rows); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM trigger_queue_accounts WHERE tenant_id = ? AND queue_id = ?`, q.tenantID, q.id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM trigger_queues WHERE tenant_id = ? AND id = ?`, q.tenantID, q.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.noteAll(cancelled)
	return &triggerv1.DeleteQueueResponse{Cancelled: int64(len(cancelled))}, nil
}

// PauseQueue holds or releases a queue. A queue with a paused account stays
// held when released; asking for the state it is in changes nothing.
func (s *Service) PauseQueue(ctx context.Context, req *triggerv1.PauseQueueRequest) (*triggerv1.PauseQueueResponse, error) {
	if err := checkQueueRef(req.GetTenantId(), req.GetQueueId()); err != nil {
		return nil, err
	}
	var (
		out   queue
		moved []schedule
	)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		moved = nil
		q, err := lockQueue(ctx, tx, req.GetTenantId(), req.GetQueueId())
		if err != nil {
			return store.NotFound(err, "queue")
		}
		if err := q.withAccounts(ctx, tx); err != nil {
			return err
		}
		if q.paused != req.GetPaused() {
			wasHeld := q.held
			q.paused, q.updatedAt = req.GetPaused(), store.ToMicros(s.clock.Now())
			q.held = q.paused || len(q.pausedAccounts) > 0
			if moved, err = s.setHeld(ctx, tx, q, wasHeld); err != nil {
				return err
			}
		}
		out = q
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.noteAll(moved)
	return &triggerv1.PauseQueueResponse{Queue: out.proto()}, nil
}

// PauseAccount pauses or resumes an account: every queue posting to it is
// held while it is paused (and released when none of its accounts is
// paused and it is not paused itself). An account no queue names yet is
// remembered, so a queue that names it later starts held.
func (s *Service) PauseAccount(ctx context.Context, req *triggerv1.PauseAccountRequest) (*triggerv1.PauseAccountResponse, error) {
	var v errs.Fields
	checkID(&v, "tenant_id", req.GetTenantId())
	checkID(&v, "account_id", req.GetAccountId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	var (
		out   []queue
		moved []schedule
	)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		out, moved = nil, nil
		now := store.ToMicros(s.clock.Now())
		// The account row first: a PutQueue naming the account waits for it.
		if _, err := tx.Exec(ctx, `INSERT INTO trigger_accounts (tenant_id, account_id, paused, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, account_id) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`,
			req.GetTenantId(), req.GetAccountId(), req.GetPaused(), now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT queue_id FROM trigger_queue_accounts WHERE tenant_id = ? AND account_id = ? ORDER BY queue_id`,
			req.GetTenantId(), req.GetAccountId())
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			q, err := lockQueue(ctx, tx, req.GetTenantId(), id)
			if errors.Is(err, store.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if err := q.withAccounts(ctx, tx); err != nil {
				return err
			}
			if held := q.paused || len(q.pausedAccounts) > 0; held != q.held {
				wasHeld := q.held
				q.held, q.updatedAt = held, now
				ms, err := s.setHeld(ctx, tx, q, wasHeld)
				if err != nil {
					return err
				}
				moved = append(moved, ms...)
			}
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.noteAll(moved)
	res := &triggerv1.PauseAccountResponse{}
	for _, q := range out {
		res.Queues = append(res.Queues, q.proto())
	}
	return res, nil
}

// workspaceScoped is a list request: a tenant's rows, of one workspace when
// it names one.
type workspaceScoped interface {
	GetTenantId() string
	GetWorkspaceId() string
}

// listTenantRows checks a list request and queries table's columns for its
// tenant (and workspace), by id.
func (s *Service) listTenantRows(ctx context.Context, req workspaceScoped, columns, table string) (*sql.Rows, error) {
	var v errs.Fields
	checkID(&v, "tenant_id", req.GetTenantId())
	if len(req.GetWorkspaceId()) > maxIDLen {
		v.Add("workspace_id", "must be at most %d bytes", maxIDLen)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	q := `SELECT ` + columns + ` FROM ` + table + ` WHERE tenant_id = ?`
	args := []any{req.GetTenantId()}
	if ws := req.GetWorkspaceId(); ws != "" {
		q += ` AND workspace_id = ?`
		args = append(args, ws)
	}
	return s.db.Query(ctx, q+` ORDER BY id`, args...)
}
