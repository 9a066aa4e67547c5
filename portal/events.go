package portal

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/store"
)

// apply runs fn for an event in one transaction that first records the
// event id, so a redelivered event changes nothing. A payload that does not
// decode is logged and acknowledged: redelivering it cannot help.
func (s *Service) apply(ctx context.Context, m *bus.Message, ev proto.Message, fn func(tx *store.Tx) error) error {
	if err := proto.Unmarshal(m.Payload, ev); err != nil {
		s.log.Error("dropping undecodable event", "topic", m.Topic, "id", m.ID, "err", err)
		return nil
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		first, err := s.outbox.FirstDelivery(ctx, tx, m.ID)
		if err != nil || !first {
			return err
		}
		return fn(tx)
	})
}

// onPostPublished records where a post was published for one account.
// Published is final: a later failure report for the same target is
// ignored.
func (s *Service) onPostPublished(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.PostPublished{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		kind, last, err := repeatingPost(ctx, tx, ev.GetTenantId(), ev.GetPostId())
		if err != nil {
			return err
		}
		if repeating(kind) {
			due := last
			if ev.GetDueAt() != nil {
				due = ev.GetDueAt().AsTime()
			}
			return recordFiringOutcome(ctx, tx, ev.GetTenantId(), ev.GetPostId(), ev.GetAccountId(), due,
				Target{Status: TargetPublished, RemoteID: ev.GetRemoteId(), RemoteURL: ev.GetRemoteUrl()})
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, remote_id = ?, remote_url = ?, error = '', updated_at = ?
			WHERE agency_id = ? AND post_id = ? AND account_id = ?`,
			TargetPublished, ev.GetRemoteId(), ev.GetRemoteUrl(), store.ToMicros(time.Now()),
			ev.GetTenantId(), ev.GetPostId(), ev.GetAccountId()); err != nil {
			return fmt.Errorf("portal: recording published target: %w", err)
		}
		return recomputePostStatus(ctx, tx, ev.GetTenantId(), ev.GetPostId())
	})
}

// onPostFailed records that a post could not be published for one account.
// A failure of an older revision than the post's current one is stale and
// ignored.
func (s *Service) onPostFailed(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.PostFailed{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		reason := ev.GetReason()
		if reason == "" {
			reason = "the post could not be published"
		}
		kind, last, err := repeatingPost(ctx, tx, ev.GetTenantId(), ev.GetPostId())
		if err != nil {
			return err
		}
		if repeating(kind) {
			var rev int64
			if err := tx.QueryRow(ctx, `SELECT revision FROM portal_posts WHERE agency_id = ? AND id = ?`, ev.GetTenantId(), ev.GetPostId()).Scan(&rev); err != nil || rev != ev.GetRevision() {
				return err
			}
			due := last
			if ev.GetDueAt() != nil {
				due = ev.GetDueAt().AsTime()
			}
			return recordFiringOutcome(ctx, tx, ev.GetTenantId(), ev.GetPostId(), ev.GetAccountId(), due,
				Target{Status: TargetFailed, Error: reason})
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = ?, updated_at = ?
			WHERE agency_id = ? AND post_id = ? AND account_id = ? AND status <> ?
			AND post_id IN (SELECT id FROM portal_posts WHERE agency_id = ? AND id = ? AND revision = ?)`,
			TargetFailed, reason, store.ToMicros(time.Now()),
			ev.GetTenantId(), ev.GetPostId(), ev.GetAccountId(), TargetPublished,
			ev.GetTenantId(), ev.GetPostId(), ev.GetRevision()); err != nil {
			return fmt.Errorf("portal: recording failed target: %w", err)
		}
		return recomputePostStatus(ctx, tx, ev.GetTenantId(), ev.GetPostId())
	})
}

// onAccountNeedsReconnect marks an account whose token the network refused.
func (s *Service) onAccountNeedsReconnect(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.AccountNeedsReconnect{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		return markNeedsReconnect(ctx, tx, ev.GetTenantId(), ev.GetAccountId(), ev.GetReason())
	})
}
