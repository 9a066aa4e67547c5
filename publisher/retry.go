package publisher

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"

	"github.com/heraldhq/herald/store"
)

// errTaken rolls back a claim that another try won meanwhile.
var errTaken = errors.New("publisher: attempt taken by another try")

const (
	reasonGone     = "the post was deleted before it could be published"
	reasonChanged  = "the post was edited, unscheduled or deleted before it could be published"
	reasonNoLonger = "the account was removed from the post before it could be published"
)

// retryLoop tries due attempts until ctx ends: those waiting after a
// failure or a spent rate limit, and those left in flight by a node that
// died. It first looks one PollInterval after Start: attempts that a crash
// left in flight are not due before their claim expires anyway.
func (s *Service) retryLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for {
			n, full, err := s.retryDue(ctx, &s.wg)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("retry loop: reading due attempts", "err", err)
			}
			// A full batch means more may be due already: go again at once.
			if !full || n == 0 {
				break
			}
		}
	}
}

// jobKey names one firing of a post revision, i.e. one PublishJob.
type jobKey struct {
	tenantID string
	postID   string
	revision int64
	dueAt    int64 // microseconds; 0 when the post.due had none
}

// retryDue starts a try for every due attempt not already being tried by
// this node, one goroutine per firing of a post revision (counted in wg),
// and returns how many attempts it started and whether the batch was full.
func (s *Service) retryDue(ctx context.Context, wg *sync.WaitGroup) (int, bool, error) {
	rows, err := s.db.Query(ctx, `SELECT `+attemptColumns+` FROM publisher_attempts
		WHERE state IN `+pendingStates+` AND next_try_at <= ?
		ORDER BY next_try_at LIMIT ?`, store.ToMicros(s.now()), s.cfg.RetryBatch)
	if err != nil {
		return 0, false, err
	}
	var (
		order  []jobKey
		groups = map[jobKey][]attempt{}
		total  int
	)
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			rows.Close()
			return 0, false, err
		}
		total++
		k := jobKey{a.TenantID, a.PostID, a.Revision, store.ToMicros(a.DueAt)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a)
	}
	if err := rows.Close(); err != nil {
		return 0, false, err
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}

	started := 0
	for _, k := range order {
		mine := s.markBusy(groups[k])
		if len(mine) == 0 {
			continue
		}
		select {
		case s.retrySem <- struct{}{}:
		case <-ctx.Done():
			s.unmarkBusy(mine)
			return started, false, nil
		}
		started += len(mine)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.retrySem }()
			defer s.unmarkBusy(mine)
			s.retryJob(ctx, k, mine)
		}()
	}
	return started, total == s.cfg.RetryBatch, nil
}

// retryJob asks Portal for the job once and tries the attempts of it.
func (s *Service) retryJob(ctx context.Context, k jobKey, attempts []attempt) {
	res, err := s.portal.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{
		TenantId: k.tenantID, PostId: k.postID, Revision: k.revision,
		DueAt: timestampOrNil(store.FromMicros(k.dueAt)),
	})
	switch {
	case errs.Is(err, errs.NotFound):
		s.cancelAll(ctx, attempts, reasonGone)
		return
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		// Not a try: nothing was sent. Wait a little so that one post
		// Portal cannot serve does not hold the head of the queue.
		s.log.Warn("retry: asking portal for the post", "post_id", k.postID, "err", err)
		for _, a := range attempts {
			s.postpone(ctx, a, s.now().Add(backoff(s.cfg.RetryBase, s.cfg.RetryMax, 1)))
		}
		return
	case !res.GetPublishable() || res.GetJob() == nil:
		s.cancelAll(ctx, attempts, reasonChanged)
		return
	}
	job := res.GetJob()
	targets := make(map[string]*portalv1.Target, len(job.GetTargets()))
	for _, t := range job.GetTargets() {
		targets[t.GetAccountId()] = t
	}
	var claims []claimed
	for _, a := range attempts {
		t, ok := targets[a.AccountID]
		if !ok {
			s.cancel(ctx, a, reasonNoLonger)
			continue
		}
		c, ok, err := s.claim(ctx, a)
		if err != nil {
			s.log.Warn("retry: claiming attempt", "attempt_id", a.ID, "err", err)
			continue
		}
		if ok {
			claims = append(claims, claimed{attempt: c, target: t, unsettled: a.State == Unknown || a.State == InFlight})
		}
	}
	s.tryAll(ctx, job, claims)
}

// guard is the WHERE clause that makes an update apply only if the attempt
// is still as it was read: no other try claimed, settled or moved it.
const guard = `attempt_id = ? AND state = ? AND claim = ? AND next_try_at = ?`

// dueGuard adds to guard that the attempt is waiting and its time has come,
// whatever the caller read.
const dueGuard = guard + ` AND state IN ` + pendingStates + ` AND next_try_at <= ?`

func guardArgs(a attempt) []any {
	return []any{a.ID, string(a.State), a.Claim, store.ToMicros(a.NextTryAt)}
}

func dueGuardArgs(a attempt, now time.Time) []any {
	return append(guardArgs(a), store.ToMicros(now))
}

// claim takes a due attempt in flight for this node, unless its account's
// rate limit is spent (then it waits for the reset) or another try took it.
func (s *Service) claim(ctx context.Context, a attempt) (attempt, bool, error) {
	now := s.now()
	token := s.newClaim()
	held := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		held = false
		wait, err := s.reserve(ctx, tx, a.TenantID, a.AccountID, now)
		if err != nil {
			return err
		}
		if !wait.IsZero() {
			state := a.State
			if state == InFlight {
				// Its holder is gone: what it did is not known.
				state = Unknown
			}
			_, err := tx.Exec(ctx, `UPDATE publisher_attempts SET state = ?, claim = '', next_try_at = ?,
				error = ?, error_kind = ? WHERE `+dueGuard,
				append([]any{string(state), store.ToMicros(wait.Add(spread(s.cfg.RetryBase))),
					reasonRateLimited, kindRateLimited}, dueGuardArgs(a, now)...)...)
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE publisher_attempts SET state = ?, claim = ?, tries = tries + 1,
				tried_at = ?, started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END, next_try_at = ?
			WHERE `+dueGuard,
			append([]any{string(InFlight), token, store.ToMicros(now), store.ToMicros(now),
				store.ToMicros(now.Add(s.cfg.InFlightTimeout))}, dueGuardArgs(a, now)...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			// Undo the reservation too.
			return errTaken
		}
		held = true
		return nil
	})
	if errors.Is(err, errTaken) || (err == nil && !held) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	a.State, a.Claim, a.Tries = InFlight, token, a.Tries+1
	a.TriedAt, a.NextTryAt = now, now.Add(s.cfg.InFlightTimeout)
	if a.StartedAt.IsZero() {
		a.StartedAt = now
	}
	return a, true, nil
}

func (s *Service) cancelAll(ctx context.Context, attempts []attempt, reason string) {
	for _, a := range attempts {
		s.cancel(ctx, a, reason)
	}
}

// cancel ends an attempt whose post is no longer to be published. Portal
// made that change itself, so no event is needed.
func (s *Service) cancel(ctx context.Context, a attempt, reason string) {
	_, err := s.db.Exec(ctx, `UPDATE publisher_attempts SET state = ?, claim = '', next_try_at = 0,
		error = ?, error_kind = ?, finished_at = ? WHERE `+guard,
		append([]any{string(Canceled), reason, string(Canceled), store.ToMicros(s.now())}, guardArgs(a)...)...)
	if err != nil {
		s.log.Warn("retry: canceling attempt", "attempt_id", a.ID, "err", err)
		return
	}
	s.log.Info("publish attempt canceled", "attempt_id", a.ID, "post_id", a.PostID, "reason", reason)
}

func (s *Service) postpone(ctx context.Context, a attempt, until time.Time) {
	_, err := s.db.Exec(ctx, `UPDATE publisher_attempts SET next_try_at = ? WHERE `+guard,
		append([]any{store.ToMicros(until)}, guardArgs(a)...)...)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("retry: postponing attempt", "attempt_id", a.ID, "err", err)
	}
}

// markBusy returns the attempts this node is not already trying, marking
// them; the claim guard would refuse a second try anyway, but this spares
// Portal the repeated questions.
func (s *Service) markBusy(as []attempt) []attempt {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	var out []attempt
	for _, a := range as {
		if !s.busy[a.ID] {
			s.busy[a.ID] = true
			out = append(out, a)
		}
	}
	return out
}

func (s *Service) unmarkBusy(as []attempt) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	for _, a := range as {
		delete(s.busy, a.ID)
	}
}
