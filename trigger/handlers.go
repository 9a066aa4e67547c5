package trigger

import (
	"context"
	"errors"
	"strings"
	"time"
	// Zones are validated against the embedded database, so a host without
	// /usr/share/zoneinfo accepts the same zones as any other.
	_ "time/tzdata"

	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/store"
)

// maxIDLen bounds caller-chosen identifiers.
const maxIDLen = 200

// scheduleInput is a validated ScheduleRequest.
type scheduleInput struct {
	tenantID, scheduleID, postID string
	revision                     int64
	due                          int64
	zone                         string
	// past: due is further in the past than the grace allows. It is only an
	// error when the request would change something (see Schedule).
	past bool

	kind string
	// The recurrence of a kind rrule request, and its compiled rule.
	rrule, startLocal string
	exdates           []string
	skipLate          int64
	rec               *recurrence

	// The queue of a kind queue request (see validateQueued); held is set
	// once the queue is read, when it holds its posts.
	queueID   string
	evergreen bool
	held      bool
}

func (s *Service) validateSchedule(req *triggerv1.ScheduleRequest) (scheduleInput, error) {
	var v errs.Fields
	in := scheduleInput{
		tenantID:   req.GetTenantId(),
		scheduleID: req.GetScheduleId(),
		postID:     req.GetPostId(),
		revision:   req.GetRevision(),
		zone:       req.GetZone(),
		kind:       kindOnce,
	}
	checkID(&v, "schedule_id", in.scheduleID)
	checkID(&v, "tenant_id", in.tenantID)
	checkID(&v, "post_id", in.postID)
	if in.revision < 0 {
		v.Add("revision", "must not be negative")
	}
	if req.GetQueueId() != "" {
		validateQueued(&v, req, &in)
		return in, v.Err()
	}
	if req.GetEvergreen() {
		v.Add("evergreen", "is only for a post in a queue (with queue_id)")
	}
	if req.GetRrule() != "" {
		s.validateRecurrence(&v, req, &in)
		return in, v.Err()
	}
	switch {
	case req.GetStartLocal() != "":
		v.Add("start_local", "is only for a recurring schedule (with rrule)")
	case len(req.GetExdatesLocal()) > 0:
		v.Add("exdates_local", "is only for a recurring schedule (with rrule)")
	}
	checkSkipLate(&v, req, &in)
	switch ts := req.GetDueAt(); {
	case ts == nil:
		v.Add("due_at", "is required")
	case ts.CheckValid() != nil:
		v.Add("due_at", "is not a valid instant")
	default:
		t := ts.AsTime()
		in.due = micros(t)
		in.past = t.Before(s.clock.Now().Add(-s.cfg.PastGrace))
	}
	if in.zone == "" {
		in.zone = "UTC"
	}
	if in.zone == "Local" {
		// "Local" means the server's zone, which is not the user's.
		v.Add("zone", "must be an IANA zone name such as Europe/Paris")
	} else if _, err := time.LoadLocation(in.zone); err != nil {
		v.Add("zone", "is not a known IANA zone name")
	}
	return in, v.Err()
}

// checkSkipLate reads a one-shot or recurring schedule's late threshold.
func checkSkipLate(v *errs.Fields, req *triggerv1.ScheduleRequest, in *scheduleInput) {
	if d := req.GetSkipIfLaterThan(); d != nil {
		if d.CheckValid() != nil || d.AsDuration() < 0 {
			v.Add("skip_if_later_than", "must be a duration of 0 or more")
		} else {
			in.skipLate = d.AsDuration().Microseconds()
		}
	}
}

// maxExdates bounds the exceptions one schedule carries.
const maxExdates = 1000

// validateRecurrence checks the recurring part of a request and compiles
// its rule; in.due becomes the first occurrence from now (less the grace).
func (s *Service) validateRecurrence(v *errs.Fields, req *triggerv1.ScheduleRequest, in *scheduleInput) {
	in.kind, in.rrule, in.startLocal = kindRRule, req.GetRrule(), req.GetStartLocal()
	in.exdates = req.GetExdatesLocal()
	if req.GetDueAt() != nil {
		v.Add("due_at", "must be unset for a recurring schedule: the rule gives its instants")
	}
	if in.zone == "" {
		v.Add("zone", "is required for a recurring schedule")
	}
	if len(in.exdates) > maxExdates {
		v.Add("exdates_local", "must hold at most %d dates", maxExdates)
	}
	for _, x := range in.exdates {
		if strings.Contains(x, ",") {
			v.Add("exdates_local", "%q is not a local date-time such as 2026-12-01T09:30:00", x)
		}
	}
	checkSkipLate(v, req, in)
	if v.Err() != nil {
		return
	}
	rec, err := compileRecurrence(in.rrule, in.zone, in.startLocal, in.exdates, s.cfg.allowSecondly)
	var bad *recurrenceError
	if errors.As(err, &bad) {
		v.Add(bad.field, "%s", bad.msg)
		return
	}
	in.rec = rec
	in.setFirstDue(s.clock.Now().Add(-s.cfg.PastGrace))
}

// setFirstDue sets a recurring input's due instant to its first occurrence
// after floor; past when there is none.
func (in *scheduleInput) setFirstDue(floor time.Time) {
	at, ok := first(in.rec.after(floor))
	in.due, in.past = micros(at), !ok
}

func checkID(v *errs.Fields, field, value string) {
	switch {
	case value == "":
		v.Add(field, "is required")
	case len(value) > maxIDLen:
		v.Add(field, "must be at most %d bytes", maxIDLen)
	}
}

func checkRef(tenantID, scheduleID string) error {
	var v errs.Fields
	checkID(&v, "tenant_id", tenantID)
	checkID(&v, "schedule_id", scheduleID)
	return v.Err()
}

// errPast is the answer to a due_at too far in the past, or a rule with no
// occurrence left.
func (in scheduleInput) errPast() error {
	var v errs.Fields
	if in.kind == kindRRule {
		v.Add("rrule", "has no occurrence left after now")
	} else {
		v.Add("due_at", "is in the past")
	}
	return v.Err()
}

// same reports whether r already is what in asks for. A recurring schedule
// is the same when its rule is: its due instant moves as it fires.
func (r schedule) same(in scheduleInput) bool {
	if r.postID != in.postID || r.revision != in.revision || r.zone != in.zone || r.kind != in.kind {
		return false
	}
	if in.kind == kindQueue {
		// A queued post keeps its slot: the slot is not part of the request.
		return r.queueID == in.queueID && r.evergreen == in.evergreen
	}
	if in.kind == kindRRule {
		return r.rrule == in.rrule && r.startLocal == in.startLocal &&
			r.exdates == exdatesText(in.exdates) && r.skipLate == in.skipLate
	}
	return r.due == in.due && r.skipLate == in.skipLate
}

// Schedule creates the schedule, or replaces it while it is pending (or was
// cancelled, which arms it again). Repeating a request that was already
// applied returns the schedule as it is, even once it fired, so a client's
// retry is harmless; changing a schedule that fired is a Conflict.
func (s *Service) Schedule(ctx context.Context, req *triggerv1.ScheduleRequest) (*triggerv1.ScheduleResponse, error) {
	in, err := s.validateSchedule(req)
	if err != nil {
		return nil, err
	}
	if in.kind == kindQueue {
		return s.scheduleQueued(ctx, in)
	}
	var out schedule
	changed := false
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		changed = false
		cur, err := loadSchedule(ctx, tx, in.tenantID, in.scheduleID)
		switch {
		case errors.Is(err, store.ErrNoRows):
			if in.past {
				return in.errPast()
			}
			out, err = s.insert(ctx, tx, in)
			changed = err == nil
			return err
		case err != nil:
			return err
		case cur.same(in) && cur.state != stateCancelled:
			out = cur
			return nil
		case cur.state == stateFired && !(cur.kind == kindOnce && in.kind == kindOnce && in.revision > cur.revision):
			// A one-shot schedule that fired may be armed again only for a
			// newer revision of its post: a new publication (a user
			// publishing a failed post again), never the same one twice.
			return errs.E(errs.Conflict, "the schedule already fired; schedule the post under a new schedule_id")
		}
		if in.kind == kindRRule && cur.lastDue >= in.due {
			// A replaced rule never fires again an occurrence the old one
			// already fired or skipped.
			floor := s.clock.Now().Add(-s.cfg.PastGrace)
			if last := store.FromMicros(cur.lastDue); last.After(floor) {
				floor = last
			}
			in.setFirstDue(floor)
		}
		if in.past {
			return in.errPast()
		}
		out, err = s.replace(ctx, tx, cur, in)
		changed = err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.engine.note(out)
	}
	return &triggerv1.ScheduleResponse{Schedule: out.proto()}, nil
}

func (s *Service) insert(ctx context.Context, tx *store.Tx, in scheduleInput) (schedule, error) {
	now := store.ToMicros(s.clock.Now())
	r := schedule{
		tenantID: in.tenantID, id: in.scheduleID, postID: in.postID, revision: in.revision,
		zone: in.zone, due: in.due, shard: shardOf(in.tenantID, in.scheduleID, s.cfg.Shards),
		state: statePending, version: 1,
		kind: in.kind, rrule: in.rrule, startLocal: in.startLocal, exdates: exdatesText(in.exdates), skipLate: in.skipLate,
		queueID: in.queueID, evergreen: in.evergreen,
	}
	if in.kind == kindQueue && in.held {
		r.state = stateHeld
	}
	res, err := tx.Exec(ctx, `INSERT INTO trigger_schedules
		(tenant_id, id, kind, post_id, revision, zone, due_at, shard, state, version, created_at, updated_at,
		 rrule, start_local, exdates, skip_late_us, queue_id, evergreen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, id) DO NOTHING`,
		r.tenantID, r.id, r.kind, r.postID, r.revision, r.zone, r.due, r.shard, r.state, r.version, now, now,
		r.rrule, r.startLocal, r.exdates, r.skipLate, r.queueID, r.evergreen)
	if err != nil {
		return r, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return r, err
	} else if n == 0 {
		// Another request created it between our read and this insert.
		return r, errs.E(errs.Conflict, "the schedule is being changed by another request; try again")
	}
	return r, nil
}

func (s *Service) replace(ctx context.Context, tx *store.Tx, cur schedule, in scheduleInput) (schedule, error) {
	r := cur
	r.postID, r.revision, r.zone, r.due = in.postID, in.revision, in.zone, in.due
	r.state, r.version = statePending, cur.version+1
	r.kind, r.rrule, r.startLocal, r.exdates, r.skipLate = in.kind, in.rrule, in.startLocal, exdatesText(in.exdates), in.skipLate
	r.queueID, r.evergreen = in.queueID, in.evergreen
	if in.kind == kindQueue && in.held {
		r.state = stateHeld
	}
	if in.kind == kindOnce {
		// A one-shot schedule has not fired while it can be replaced; a
		// recurring one keeps its history.
		r.firedAt, r.lateness = 0, 0
	}
	if in.kind != cur.kind && (in.kind == kindQueue || cur.kind == kindQueue) {
		// Counts belong to the kind they were made under: a recurring
		// rule's occurrences are not an evergreen post's repeats.
		r.fires, r.skips, r.lastDue = 0, 0, 0
	}
	res, err := tx.Exec(ctx, `UPDATE trigger_schedules
		SET post_id = ?, revision = ?, zone = ?, due_at = ?, state = ?, version = ?, updated_at = ?,
			kind = ?, rrule = ?, start_local = ?, exdates = ?, skip_late_us = ?, fired_at = ?, lateness_us = ?,
			fired_count = ?, skipped_count = ?, last_due_at = ?, queue_id = ?, evergreen = ?
		WHERE tenant_id = ? AND id = ? AND version = ?`,
		r.postID, r.revision, r.zone, r.due, r.state, r.version, store.ToMicros(s.clock.Now()),
		r.kind, r.rrule, r.startLocal, r.exdates, r.skipLate, r.firedAt, r.lateness,
		r.fires, r.skips, r.lastDue, r.queueID, r.evergreen,
		r.tenantID, r.id, cur.version)
	if err != nil {
		return r, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return r, err
	} else if n == 0 {
		// It fired or changed between our read and this update.
		return r, errs.E(errs.Conflict, "the schedule changed meanwhile; read it again")
	}
	return r, nil
}

// Cancel stops a pending (or held) schedule from firing. Cancelling one
// that fired, was cancelled or does not exist (for this tenant) is not an
// error: the response holds the schedule as it is, or no schedule.
func (s *Service) Cancel(ctx context.Context, req *triggerv1.CancelRequest) (*triggerv1.CancelResponse, error) {
	if err := checkRef(req.GetTenantId(), req.GetScheduleId()); err != nil {
		return nil, err
	}
	var (
		out       schedule
		found     bool
		cancelled bool
	)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		found, cancelled = false, false
		cur, err := loadSchedule(ctx, tx, req.GetTenantId(), req.GetScheduleId())
		if errors.Is(err, store.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found, out = true, cur
		if cur.state != statePending && cur.state != stateHeld {
			return nil
		}
		// A queued post's slot is free once the row leaves pending and held.
		res, err := tx.Exec(ctx, `UPDATE trigger_schedules SET state = ?, version = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND version = ? AND state IN ('pending', 'held')`,
			stateCancelled, cur.version+1, store.ToMicros(s.clock.Now()), cur.tenantID, cur.id, cur.version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			// It fired (or changed) meanwhile: report it as it is now.
			out, err = loadSchedule(ctx, tx, cur.tenantID, cur.id)
			return err
		}
		out.state, out.version, cancelled = stateCancelled, cur.version+1, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return &triggerv1.CancelResponse{}, nil
	}
	if cancelled {
		s.engine.note(out)
	}
	return &triggerv1.CancelResponse{Schedule: out.proto()}, nil
}

// GetSchedule returns a schedule of the tenant; NotFound for an unknown id
// or another tenant's.
func (s *Service) GetSchedule(ctx context.Context, req *triggerv1.GetScheduleRequest) (*triggerv1.GetScheduleResponse, error) {
	if err := checkRef(req.GetTenantId(), req.GetScheduleId()); err != nil {
		return nil, err
	}
	r, err := loadSchedule(ctx, s.db, req.GetTenantId(), req.GetScheduleId())
	if err != nil {
		return nil, store.NotFound(err, "schedule")
	}
	return &triggerv1.GetScheduleResponse{Schedule: r.proto()}, nil
}
