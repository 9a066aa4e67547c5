package portal

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Evergreen queues live in Trigger, which owns their slots; Portal checks
// who may touch them (a queue belongs to a workspace), that their accounts
// are the workspace's, and joins Trigger's queued schedules with its posts.

// Limits of a queue's input.
const (
	maxQueueName   = 100
	maxQueueSlots  = 500
	maxQueueRepeat = 1000
)

// Slot is a weekly posting time in a queue's zone.
type Slot struct {
	// Weekday: 1 Monday ... 7 Sunday.
	Weekday int
	// Time is "HH:MM".
	Time string
}

// Recycling re-queues an evergreen post after it went out.
type Recycling struct {
	MinGap     time.Duration
	MaxRepeats int
}

// Queue is an evergreen queue of a workspace.
type Queue struct {
	ID, WorkspaceID, Name, Zone string
	Slots                       []Slot
	AccountIDs                  []string
	// Recycling is nil when the queue does not recycle.
	Recycling *Recycling
	// Paused by the user; Held when its slots do not fire (paused, or one
	// of its accounts is, listed in PausedAccountIDs).
	Paused, Held         bool
	PausedAccountIDs     []string
	CreatedAt, UpdatedAt time.Time
}

// QueuedPost is a post at its slot in a queue.
type QueuedPost struct {
	Post
	// SlotAt is the slot's instant, SlotLocal its wall time in the queue's
	// zone.
	SlotAt    time.Time
	SlotLocal string
}

// QueueDetail is a queue with its posts in slot order and its next free
// slots.
type QueueDetail struct {
	Queue
	Posts     []QueuedPost
	NextSlots []time.Time
}

// QueueInput creates or replaces a queue.
type QueueInput struct {
	Name       string
	Zone       string
	Slots      []Slot
	AccountIDs []string
	// Recycling nil: the queue does not recycle. MinGap is a duration
	// ("72h").
	Recycling *RecyclingInput
}

// RecyclingInput is a recycling policy as given.
type RecyclingInput struct {
	MinGap     string
	MaxRepeats int
}

func queueFromProto(q *triggerv1.Queue) Queue {
	out := Queue{ID: q.GetQueueId(), WorkspaceID: q.GetWorkspaceId(), Name: q.GetName(), Zone: q.GetZone(),
		AccountIDs: q.GetAccountIds(), Paused: q.GetPaused(), Held: q.GetHeld(), PausedAccountIDs: q.GetPausedAccountIds(),
		Slots: []Slot{}}
	if out.AccountIDs == nil {
		out.AccountIDs = []string{}
	}
	if out.PausedAccountIDs == nil {
		out.PausedAccountIDs = []string{}
	}
	for _, s := range q.GetSlots() {
		out.Slots = append(out.Slots, Slot{Weekday: int(s.GetWeekday()), Time: s.GetLocalTime()})
	}
	if r := q.GetRecycling(); r != nil {
		out.Recycling = &Recycling{MinGap: r.GetMinGap().AsDuration(), MaxRepeats: int(r.GetMaxRepeats())}
	}
	if q.GetCreatedAt() != nil {
		out.CreatedAt = q.GetCreatedAt().AsTime()
	}
	if q.GetUpdatedAt() != nil {
		out.UpdatedAt = q.GetUpdatedAt().AsTime()
	}
	return out
}

// triggerCall bounds a call to Trigger and turns "cannot reach it" into
// Unavailable; Trigger's own refusals pass through.
func (s *Service) triggerCall(ctx context.Context, what string, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TriggerTimeout)
	defer cancel()
	err := call(ctx)
	switch errs.KindOf(err) {
	case "", errs.Invalid, errs.NotFound, errs.Conflict:
		return err
	}
	return errs.Wrap(err, errs.Unavailable, what+" is unavailable right now; try again shortly")
}

// loadQueue reads a queue from Trigger and checks that p may act on its
// workspace.
func (s *Service) loadQueue(ctx context.Context, p *Principal, queueID string, a action, limit int32) (*triggerv1.GetQueueResponse, Workspace, error) {
	var res *triggerv1.GetQueueResponse
	err := s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: p.AgencyID, QueueId: queueID, Limit: limit})
		return err
	})
	if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Invalid) {
		return nil, Workspace{}, errs.E(errs.NotFound, "queue not found")
	}
	if err != nil {
		return nil, Workspace{}, err
	}
	ws, err := s.authorize(ctx, s.db, p, res.GetQueue().GetWorkspaceId(), a)
	if errs.Is(err, errs.Forbidden) && a == actReadPosts {
		return nil, Workspace{}, errs.E(errs.NotFound, "queue not found")
	}
	return res, ws, err
}

// checkQueue validates a queue's input into Trigger's request.
func (s *Service) checkQueue(ctx context.Context, v *errs.Fields, p *Principal, ws Workspace, in QueueInput) *triggerv1.PutQueueRequest {
	req := &triggerv1.PutQueueRequest{TenantId: p.AgencyID, WorkspaceId: ws.ID, Name: strings.TrimSpace(in.Name)}
	switch {
	case req.Name == "":
		v.Add("name", "is required")
	case len(req.Name) > maxQueueName:
		v.Add("name", "must be at most %d characters", maxQueueName)
	}
	req.Zone = strings.TrimSpace(in.Zone)
	if req.Zone == "" {
		req.Zone = ws.Timezone
	}
	if _, err := time.LoadLocation(req.Zone); err != nil || req.Zone == "Local" {
		v.Add("zone", "is not a known IANA zone name such as Europe/Paris")
	}
	switch {
	case len(in.Slots) == 0:
		v.Add("slots", "add at least one weekly slot: a queue without slots never posts")
	case len(in.Slots) > maxQueueSlots:
		v.Add("slots", "at most %d slots", maxQueueSlots)
	}
	seen := map[Slot]int{}
	for i, sl := range in.Slots {
		f := "slots[" + strconv.Itoa(i) + "]"
		sl.Time = strings.TrimSpace(sl.Time)
		if sl.Weekday < 1 || sl.Weekday > 7 {
			v.Add(f+".weekday", "must be 1 (Monday) to 7 (Sunday)")
			continue
		}
		t, err := time.Parse("15:04", sl.Time)
		if err != nil {
			v.Add(f+".time", "must be a time of day like 09:30")
			continue
		}
		sl.Time = t.Format("15:04")
		if j, dup := seen[sl]; dup {
			v.Add(f, "is the same slot as slots[%d]", j)
			continue
		}
		seen[sl] = i
		req.Slots = append(req.Slots, &triggerv1.Slot{Weekday: int32(sl.Weekday), LocalTime: sl.Time})
	}
	for _, a := range s.checkAccounts(ctx, v, p.AgencyID, ws.ID, in.AccountIDs) {
		req.AccountIds = append(req.AccountIds, a.id)
	}
	if r := in.Recycling; r != nil {
		gap, err := time.ParseDuration(strings.TrimSpace(r.MinGap))
		if strings.TrimSpace(r.MinGap) == "" {
			gap, err = 0, nil
		}
		switch {
		case err != nil:
			v.Add("recycling.min_gap", "must be a duration such as 72h")
		case gap < 0 || gap > 366*24*time.Hour:
			v.Add("recycling.min_gap", "must be from 0 to 366 days")
		}
		if r.MaxRepeats < 1 || r.MaxRepeats > maxQueueRepeat {
			v.Add("recycling.max_repeats", "must be from 1 to %d", maxQueueRepeat)
		}
		req.Recycling = &triggerv1.Recycling{MinGap: durationpb.New(gap), MaxRepeats: int32(r.MaxRepeats)}
	}
	return req
}

// putQueue sends a checked queue to Trigger.
func (s *Service) putQueue(ctx context.Context, req *triggerv1.PutQueueRequest) (Queue, error) {
	var res *triggerv1.PutQueueResponse
	err := s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.PutQueue(ctx, req)
		return err
	})
	if err != nil {
		return Queue{}, err
	}
	return queueFromProto(res.GetQueue()), nil
}

// doCreateQueue creates an evergreen queue in a workspace.
func (s *Service) doCreateQueue(ctx context.Context, p *Principal, workspaceID string, in QueueInput) (Queue, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	if err != nil {
		return Queue{}, err
	}
	var v errs.Fields
	req := s.checkQueue(ctx, &v, p, ws, in)
	if err := v.Err(); err != nil {
		return Queue{}, err
	}
	req.QueueId = id.New("queue")
	return s.putQueue(ctx, req)
}

// doUpdateQueue replaces a queue's name, zone, slots, accounts and
// recycling; Trigger moves its posts onto the new slots, in their order.
func (s *Service) doUpdateQueue(ctx context.Context, p *Principal, queueID string, in QueueInput) (Queue, error) {
	_, ws, err := s.loadQueue(ctx, p, queueID, actWritePosts, 1)
	if err != nil {
		return Queue{}, err
	}
	var v errs.Fields
	req := s.checkQueue(ctx, &v, p, ws, in)
	if err := v.Err(); err != nil {
		return Queue{}, err
	}
	req.QueueId = queueID
	return s.putQueue(ctx, req)
}

// ListQueues lists a workspace's queues.
func (s *Service) ListQueues(ctx context.Context, p *Principal, workspaceID string) ([]Queue, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts); err != nil {
		return nil, err
	}
	var res *triggerv1.ListQueuesResponse
	err := s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.ListQueues(ctx, &triggerv1.ListQueuesRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []Queue{}
	for _, q := range res.GetQueues() {
		out = append(out, queueFromProto(q))
	}
	return out, nil
}

// GetQueue returns a queue, its posts in slot order (at most limit, 1 to
// 1000, 0 for 100) and its next free slots.
func (s *Service) GetQueue(ctx context.Context, p *Principal, queueID string, limit int) (QueueDetail, error) {
	if limit < 0 || limit > 1000 {
		return QueueDetail{}, errs.Fields{"limit": "must be between 1 and 1000"}.Err()
	}
	res, _, err := s.loadQueue(ctx, p, queueID, actReadPosts, int32(limit))
	if err != nil {
		return QueueDetail{}, err
	}
	d := QueueDetail{Queue: queueFromProto(res.GetQueue()), Posts: []QueuedPost{}, NextSlots: []time.Time{}}
	loc, err := time.LoadLocation(d.Zone)
	if err != nil {
		loc = time.UTC
	}
	var ids []string
	slots := map[string]time.Time{}
	for _, qp := range res.GetPosts() {
		sch := qp.GetSchedule()
		ids = append(ids, sch.GetPostId())
		slots[sch.GetPostId()] = sch.GetDueAt().AsTime()
	}
	posts, err := s.postsByID(ctx, p.AgencyID, ids)
	if err != nil {
		return QueueDetail{}, err
	}
	for _, pid := range ids {
		post, ok := posts[pid]
		if !ok {
			continue // deleted from Portal while its cancel is in flight
		}
		at := slots[pid].In(loc)
		d.Posts = append(d.Posts, QueuedPost{Post: post, SlotAt: at, SlotLocal: formatWall(at)})
	}
	for _, t := range res.GetNextSlots() {
		d.NextSlots = append(d.NextSlots, t.AsTime().In(loc))
	}
	return d, nil
}

// postsByID loads posts of the agency with their targets.
func (s *Service) postsByID(ctx context.Context, agencyID string, ids []string) (map[string]Post, error) {
	out := map[string]Post{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{agencyID}
	marks := make([]string, len(ids))
	for i, pid := range ids {
		marks[i] = "?"
		args = append(args, pid)
	}
	rows, err := s.db.Query(ctx, `SELECT `+postColumns+` FROM portal_posts WHERE agency_id = ? AND id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, err
	}
	var list []Post
	for rows.Next() {
		post, err := scanPost(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, post)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.fillPosts(ctx, s.db, agencyID, list); err != nil {
		return nil, err
	}
	now := time.Now()
	for _, post := range list {
		post.Status = shownStatus(post, now)
		out[post.ID] = post
	}
	return out, nil
}

// doDeleteQueue deletes a queue; Trigger cancels its posts' schedules, and
// Portal keeps those posts as drafts so that nothing written is lost.
func (s *Service) doDeleteQueue(ctx context.Context, p *Principal, queueID string) (int, error) {
	_, ws, err := s.loadQueue(ctx, p, queueID, actWritePosts, 1)
	if err != nil {
		return 0, err
	}
	err = s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		_, err := s.trigger.DeleteQueue(ctx, &triggerv1.DeleteQueueRequest{TenantId: p.AgencyID, QueueId: queueID})
		return err
	})
	if err != nil {
		return 0, err
	}
	res, err := s.db.Exec(ctx, `UPDATE portal_posts SET kind = ?, status = ?, queue_id = '', evergreen = ?, held = ?, scheduled_at = 0,
			local_time = '', schedule_synced = ?, revision = revision + 1, updated_at = ?
		WHERE agency_id = ? AND queue_id = ? AND kind = ? AND status = ?`,
		KindDraft, PostDraft, false, false, true, store.ToMicros(time.Now()), p.AgencyID, queueID, KindQueue, PostScheduled)
	s.invalidate(ctx, postsScope(p.AgencyID, ws.ID))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// doPauseQueue holds (paused) or releases a queue's slots.
func (s *Service) doPauseQueue(ctx context.Context, p *Principal, queueID string, paused bool) (Queue, error) {
	if _, _, err := s.loadQueue(ctx, p, queueID, actWritePosts, 1); err != nil {
		return Queue{}, err
	}
	var res *triggerv1.PauseQueueResponse
	err := s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.PauseQueue(ctx, &triggerv1.PauseQueueRequest{TenantId: p.AgencyID, QueueId: queueID, Paused: paused})
		return err
	})
	if err != nil {
		return Queue{}, err
	}
	return queueFromProto(res.GetQueue()), nil
}

// doPauseAccount holds or releases the slots of every queue posting to an
// account of the workspace; it returns those queues.
func (s *Service) doPauseAccount(ctx context.Context, p *Principal, accountID string, paused bool) ([]Queue, error) {
	a, err := s.GetAccount(ctx, p, accountID)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actWritePosts); err != nil {
		return nil, err
	}
	var res *triggerv1.PauseAccountResponse
	err = s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.PauseAccount(ctx, &triggerv1.PauseAccountRequest{TenantId: p.AgencyID, AccountId: accountID, Paused: paused})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []Queue{}
	for _, q := range res.GetQueues() {
		out = append(out, queueFromProto(q))
	}
	return out, nil
}

// planQueue checks a post's queue: one of the workspace's, recycling if the
// post is evergreen. The slot and zone are the queue's: Trigger names them.
func (s *Service) planQueue(ctx context.Context, v *errs.Fields, agencyID string, ws Workspace, queueID string, evergreen bool) (plan, bool) {
	if queueID == "" {
		v.Add("queue_id", "is required: choose a queue")
		return plan{}, false
	}
	q, err := s.workspaceQueue(ctx, agencyID, ws.ID, queueID)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			v.Add("queue_id", "is not a queue of this workspace")
		} else {
			v.Add("queue_id", "could not be checked right now; try again shortly")
			s.log.Warn("checking a post's queue", "queue_id", queueID, "err", err)
		}
		return plan{}, false
	}
	if evergreen && q.GetRecycling() == nil {
		v.Add("evergreen", "needs a queue that recycles; queue %q does not", q.GetName())
		return plan{}, false
	}
	return plan{kind: KindQueue, zone: q.GetZone(), queueID: queueID, evergreen: evergreen}, true
}

// workspaceQueue reads a queue of the workspace without access checks.
func (s *Service) workspaceQueue(ctx context.Context, agencyID, workspaceID, queueID string) (*triggerv1.Queue, error) {
	var res *triggerv1.GetQueueResponse
	err := s.triggerCall(ctx, "queues", func(ctx context.Context) error {
		var err error
		res, err = s.trigger.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: agencyID, QueueId: queueID, Limit: 1})
		return err
	})
	if errs.Is(err, errs.Invalid) || (err == nil && res.GetQueue().GetWorkspaceId() != workspaceID) {
		return nil, errs.E(errs.NotFound, "queue not found")
	}
	if err != nil {
		return nil, err
	}
	return res.GetQueue(), nil
}

// onScheduleMoved keeps a queued post's shown time and hold in step with
// Trigger when its queue moved it (new slot table, pause, release). The
// event's version orders moves: an older one arriving late changes nothing.
func (s *Service) onScheduleMoved(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.ScheduleMoved{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		post, err := s.loadPost(ctx, tx, ev.GetTenantId(), ev.GetPostId())
		if err != nil || post.Kind != KindQueue || ev.GetDueAt() == nil {
			return nil
		}
		loc, err := time.LoadLocation(post.Zone)
		if err != nil {
			loc = time.UTC
		}
		at := ev.GetDueAt().AsTime().In(loc)
		if _, err := tx.Exec(ctx, `UPDATE portal_posts SET scheduled_at = ?, local_time = ?, held = ?, moved_version = ?
			WHERE agency_id = ? AND id = ? AND kind = ? AND moved_version < ?`,
			store.ToMicros(at), formatWall(at), ev.GetHeld(), ev.GetVersion(),
			ev.GetTenantId(), post.ID, KindQueue, ev.GetVersion()); err != nil {
			return fmt.Errorf("portal: moving a queued post: %w", err)
		}
		s.markStale(ctx, tx, postsScope(ev.GetTenantId(), post.WorkspaceID))
		return nil
	})
}
