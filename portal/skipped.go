package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/store"
)

// onScheduleSkipped records a one-shot post that Trigger skipped because it
// fell due during an outage and would have gone out later than its late
// limit: every target still waiting is skipped with the reason, so the
// post shows as skipped, and giving it a new time publishes it. A repeating post's
// skipped occurrences need nothing: it goes on at its next one.
func (s *Service) onScheduleSkipped(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.ScheduleSkipped{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		if ev.GetRecurring() {
			return nil
		}
		post, err := s.loadPost(ctx, tx, ev.GetTenantId(), ev.GetPostId())
		if err != nil || post.Kind != KindOnce || post.Revision != ev.GetRevision() || post.Status != PostScheduled {
			// Gone, edited since or no longer scheduled: nothing to record.
			return nil
		}
		reason := skippedReason(ev, post.Zone)
		s.markStale(ctx, tx, postsScope(ev.GetTenantId(), post.WorkspaceID))
		if _, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = ?, updated_at = ?
			WHERE agency_id = ? AND post_id = ? AND status = ?`,
			TargetSkipped, reason, store.ToMicros(time.Now()), ev.GetTenantId(), post.ID, TargetPending); err != nil {
			return fmt.Errorf("portal: recording a skipped post: %w", err)
		}
		return recomputePostStatus(ctx, tx, ev.GetTenantId(), post.ID)
	})
}

// skippedReason says, for the user, why a post did not go out.
func skippedReason(ev *eventsv1.ScheduleSkipped, zone string) string {
	due := ev.GetDueAt().AsTime()
	if loc, err := time.LoadLocation(zone); err == nil {
		due = due.In(loc)
	}
	late := ev.GetSkippedAt().AsTime().Sub(ev.GetDueAt().AsTime()).Round(time.Second)
	return fmt.Sprintf("skipped: it was due at %s (%s) while publishing was stopped, and would have gone out %s late, "+
		"more than its limit of %s; give it a new time to publish it",
		due.Format("2006-01-02 15:04"), zone, late, ev.GetSkipIfLaterThan().AsDuration())
}
