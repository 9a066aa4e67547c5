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
	return s.applyDecoded(ctx, m, fn)
}

// applyDecoded runs fn for a decoded event in one transaction that first
// records the event id.
func (s *Service) applyDecoded(ctx context.Context, m *bus.Message, fn func(tx *store.Tx) error) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		first, err := s.outbox.FirstDelivery(ctx, tx, m.ID)
		if err != nil || !first {
			return err
		}
		return fn(tx)
	})
}

// The events of publishing (post.due, post.published, post.failed) come in
// bursts, one per post or per post and account, and each used to take a
// store transaction of its own: on an embedded node that was most of
// Portal's share of the one writer. They are handled in batches instead
// (docs/decisions/0022), one transaction per batch, with the inbox
// deduplicating each event.
const batchedConcurrency = 64

// batching: a batch is whatever has been delivered meanwhile, up to about
// what two of the subscriptions have in flight.
var batching = bus.BatchOptions{MaxBatch: 2 * batchedConcurrency}

// batched reports whether Portal handles topic's events in batches.
func batched(topic string) bool {
	switch topic {
	case bus.TopicPostDue, bus.TopicPostPublished, bus.TopicPostFailed:
		return true
	}
	return false
}

// subscribeOptions returns the options Portal subscribes to topic with.
func subscribeOptions(topic string) []bus.SubscribeOption {
	if batched(topic) {
		// As many at once as a batch should hold: the bus delivers no more.
		return []bus.SubscribeOption{bus.WithConcurrency(batchedConcurrency)}
	}
	return nil
}

// onEvents applies a batch of post.due, post.published and post.failed
// events in one transaction, recording each event id in the inbox first so
// that a redelivered event (in this batch or later) changes nothing. The
// bus acknowledges each event only once this returns, so a crash before
// the commit leaves all of them to be delivered again. When the
// transaction fails, each event is applied again on its own, so that one
// event that cannot be applied does not hold back the others.
func (s *Service) onEvents(ctx context.Context, msgs []*bus.Message) []error {
	type event struct {
		id string
		fn func(tx *store.Tx) error
	}
	// The batch's posts' lists go stale once, after the batch: the
	// appliers' writes gather their scopes in ctx.
	ctx, flush := s.collectStale(ctx)
	defer flush()
	events := make([]event, 0, len(msgs))
	for _, m := range msgs {
		if fn := s.applier(ctx, m); fn != nil {
			events = append(events, event{m.ID, fn})
		}
	}
	if len(events) == 0 {
		return nil
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, e := range events {
			first, err := s.outbox.FirstDelivery(ctx, tx, e.id)
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			if err := e.fn(tx); err != nil {
				return fmt.Errorf("event %s: %w", e.id, err)
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	errs := make([]error, len(msgs))
	if len(msgs) == 1 {
		errs[0] = err
		return errs
	}
	s.log.Warn("applying a batch of events failed; applying them one by one", "events", len(msgs), "err", err)
	for i, m := range msgs {
		if fn := s.applier(ctx, m); fn != nil {
			errs[i] = s.applyDecoded(ctx, m, fn)
		}
	}
	return errs
}

// applier decodes a post.due, post.published or post.failed event and
// returns what applies it, or nil for a payload that does not decode
// (logged: there is nothing to redeliver) or a topic not handled in
// batches.
func (s *Service) applier(ctx context.Context, m *bus.Message) func(tx *store.Tx) error {
	switch m.Topic {
	case bus.TopicPostDue:
		ev := &eventsv1.PostDue{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			s.log.Error("dropping undecodable event", "topic", m.Topic, "id", m.ID, "err", err)
			return nil
		}
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return s.postDue(ctx, tx, ev) })
	case bus.TopicPostPublished:
		ev := &eventsv1.PostPublished{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			s.log.Error("dropping undecodable event", "topic", m.Topic, "id", m.ID, "err", err)
			return nil
		}
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return postPublished(ctx, tx, ev) })
	case bus.TopicPostFailed:
		ev := &eventsv1.PostFailed{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			s.log.Error("dropping undecodable event", "topic", m.Topic, "id", m.ID, "err", err)
			return nil
		}
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return postFailed(ctx, tx, ev) })
	}
	s.log.Error("dropping an event not handled in batches", "topic", m.Topic, "id", m.ID)
	return nil
}

// onPostPublished applies one post.published event on its own.
func (s *Service) onPostPublished(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.PostPublished{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return postPublished(ctx, tx, ev) })(tx)
	})
}

// onPostFailed applies one post.failed event on its own.
func (s *Service) onPostFailed(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.PostFailed{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return postFailed(ctx, tx, ev) })(tx)
	})
}

// postPublished records where a post was published for one account.
// Published is final: a later failure report for the same target is
// ignored.
func postPublished(ctx context.Context, tx *store.Tx, ev *eventsv1.PostPublished) error {
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
}

// postFailed records that a post could not be published for one account.
// A failure of an older revision than the post's current one is stale and
// ignored.
func postFailed(ctx context.Context, tx *store.Tx, ev *eventsv1.PostFailed) error {
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
}

// onAccountNeedsReconnect marks an account whose token the network refused.
func (s *Service) onAccountNeedsReconnect(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.AccountNeedsReconnect{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		if err := s.accountStale(ctx, tx, ev.GetTenantId(), ev.GetAccountId()); err != nil {
			return err
		}
		return markNeedsReconnect(ctx, tx, ev.GetTenantId(), ev.GetAccountId(), ev.GetReason())
	})
}
