package publisher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// errClosing nacks a delivery that arrives while the service stops, so the
// bus hands it to another node or to this one after a restart.
var errClosing = errors.New("publisher: closing")

// claimed is an attempt this node holds in flight, with the target it
// publishes to.
type claimed struct {
	attempt attempt
	target  *portalv1.Target
	// unsettled: an earlier try may have reached the network without
	// Herald hearing its answer (the attempt was unknown, or left in
	// flight by a try that is gone).
	unsettled bool
}

// handlePostDue consumes post.due: it records an attempt per target account
// and publishes each. It acknowledges the event once the attempts are
// committed; from then on the retry loop, not redelivery, settles whatever
// this delivery leaves unfinished.
func (s *Service) handlePostDue(ctx context.Context, m *bus.Message) error {
	runCtx, ok := s.enter()
	if !ok {
		return errClosing
	}
	defer s.leave()
	// Stopping the service ends the delivery's calls too, whatever context
	// the bus hands over.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(runCtx, cancel)()

	var due eventsv1.PostDue
	if err := proto.Unmarshal(m.Payload, &due); err != nil {
		// Redelivery cannot make it readable: drop it, loudly.
		s.log.Error("post.due: undecodable event dropped", "event_id", m.ID, "err", err)
		return nil
	}
	if due.GetTenantId() == "" || due.GetPostId() == "" {
		s.log.Error("post.due: event without tenant or post dropped", "event_id", m.ID,
			"tenant_id", due.GetTenantId(), "post_id", due.GetPostId())
		return nil
	}
	log := s.log.With("event_id", m.ID, "tenant_id", due.GetTenantId(), "post_id", due.GetPostId(), "revision", due.GetRevision())

	res, err := s.portal.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{
		TenantId: due.GetTenantId(), PostId: due.GetPostId(), Revision: due.GetRevision(),
		DueAt: due.GetDueAt(),
	})
	switch {
	case errs.Is(err, errs.NotFound):
		log.Info("post.due: post is gone, nothing to publish")
		return nil
	case err != nil:
		// Portal may be back by the redelivery.
		return fmt.Errorf("publisher: asking portal for post %s: %w", due.GetPostId(), err)
	case !res.GetPublishable() || res.GetJob() == nil:
		log.Info("post.due: not publishable, nothing to publish", "reason", res.GetReason())
		return nil
	}

	claims, err := s.accept(ctx, m.ID, &due, res.GetJob())
	if err != nil {
		return fmt.Errorf("publisher: recording attempts of post %s: %w", due.GetPostId(), err)
	}
	s.tryAll(ctx, res.GetJob(), claims)
	return nil
}

// accept records, in one transaction with the event's delivery, an attempt
// for every target of the job, and returns those this node now holds in
// flight. A redelivered event, or a target that already has an attempt for
// this occurrence, records nothing.
func (s *Service) accept(ctx context.Context, eventID string, due *eventsv1.PostDue, job *portalv1.PublishJob) ([]claimed, error) {
	var dueAt time.Time
	if due.GetDueAt() != nil {
		dueAt = due.GetDueAt().AsTime()
	}
	var out []claimed
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		out = out[:0]
		now := s.now()
		first, err := s.outbox.FirstDelivery(ctx, tx, eventID)
		if err != nil || !first {
			return err
		}
		for _, t := range job.GetTargets() {
			if t.GetAccountId() == "" {
				s.log.Warn("post.due: target without account skipped", "post_id", due.GetPostId())
				continue
			}
			a := attempt{
				ID:             id.New("att"),
				TenantID:       due.GetTenantId(),
				WorkspaceID:    job.GetWorkspaceId(),
				PostID:         due.GetPostId(),
				Revision:       due.GetRevision(),
				AccountID:      t.GetAccountId(),
				Network:        t.GetNetwork(),
				IdempotencyKey: IdempotencyKey(due.GetPostId(), t.GetAccountId(), due.GetRevision(), dueAt),
				DueAt:          dueAt,
				CreatedAt:      now,
			}
			var failure *outcome
			if _, ok := s.providers[a.Network]; ok {
				a.State, a.Claim, a.Tries = InFlight, s.newClaim(), 1
				a.StartedAt, a.TriedAt, a.NextTryAt = now, now, now.Add(s.cfg.InFlightTimeout)
			} else {
				failure = unsupported(a.Network)
				a.State, a.Error, a.ErrorKind, a.FinishedAt = Failed, failure.reason, failure.kind, now
			}
			inserted, err := insertAttempt(ctx, tx, a)
			if err != nil {
				return err
			}
			if !inserted {
				continue // this occurrence was accepted before, under another event id
			}
			if a.State == InFlight {
				// Reserved only once the row is ours, so that a duplicate
				// event spends nothing of the account's budget.
				wait, err := s.reserve(ctx, tx, a.TenantID, a.AccountID, now)
				if err != nil {
					return err
				}
				if !wait.IsZero() {
					a.State, a.Claim, a.Tries = RetryWait, "", 0
					a.StartedAt, a.TriedAt, a.NextTryAt = time.Time{}, time.Time{}, wait.Add(spread(s.cfg.RetryBase))
					a.Error, a.ErrorKind = reasonRateLimited, kindRateLimited
					if _, err := tx.Exec(ctx, `UPDATE publisher_attempts SET state = ?, claim = '', tries = 0,
						started_at = 0, tried_at = 0, next_try_at = ?, error = ?, error_kind = ? WHERE attempt_id = ?`,
						string(a.State), store.ToMicros(a.NextTryAt), a.Error, a.ErrorKind, a.ID); err != nil {
						return err
					}
				}
			}
			switch {
			case failure != nil:
				if err := s.emitFailure(ctx, tx, a, *failure, now); err != nil {
					return err
				}
			case a.State == InFlight:
				out = append(out, claimed{attempt: a, target: t})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func insertAttempt(ctx context.Context, tx *store.Tx, a attempt) (bool, error) {
	res, err := tx.Exec(ctx, `INSERT INTO publisher_attempts (`+attemptColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`,
		a.ID, a.TenantID, a.WorkspaceID, a.PostID, a.Revision, a.AccountID, a.Network,
		a.IdempotencyKey, string(a.State), a.Tries, a.Claim, store.ToMicros(a.NextTryAt),
		a.RemoteID, a.RemoteURL, a.Error, a.ErrorKind,
		store.ToMicros(a.DueAt), store.ToMicros(a.CreatedAt), store.ToMicros(a.StartedAt),
		store.ToMicros(a.TriedAt), store.ToMicros(a.FinishedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// tryAll publishes the claimed attempts of one job side by side and waits
// for them.
func (s *Service) tryAll(ctx context.Context, job *portalv1.PublishJob, claims []claimed) {
	if len(claims) == 1 {
		s.try(ctx, job, claims[0])
		return
	}
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Go(func() { s.try(ctx, job, c) })
	}
	wg.Wait()
}

// enter registers a running delivery and returns the service's run
// context; it reports false once Close began.
func (s *Service) enter() (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.runCtx == nil {
		return nil, false
	}
	s.handlers.Add(1)
	return s.runCtx, true
}

func (s *Service) leave() { s.handlers.Done() }
