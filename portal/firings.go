package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/store"
)

// shownFirings is how many of a post's latest firings GetPost returns.
const shownFirings = 10

// maxFiringsPage bounds one page of ListFirings.
const maxFiringsPage = 500

// onPostDue follows the firings of recurring and queued posts: each firing
// gets a row per target account (pending until Publisher reports), and the
// post's shown time moves to the next firing Trigger names, or the post is
// finished when there is none. A one-shot post needs nothing: its targets
// are its only outcome.
func (s *Service) onPostDue(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.PostDue{}
	return s.apply(ctx, m, ev, func(tx *store.Tx) error {
		return s.touchingPost(ctx, ev.GetTenantId(), ev.GetPostId(), func(tx *store.Tx) error { return s.postDue(ctx, tx, ev) })(tx)
	})
}

// postDue applies a post.due event (see onPostDue).
func (s *Service) postDue(ctx context.Context, tx *store.Tx, ev *eventsv1.PostDue) error {
	tenant := ev.GetTenantId()
	post, err := s.loadPost(ctx, tx, tenant, ev.GetPostId())
	if err != nil || !repeating(post.Kind) || post.Revision != ev.GetRevision() || post.Status != PostScheduled || ev.GetDueAt() == nil {
		// Gone, edited since, or not a repeating post: Publisher will
		// not publish it either.
		return nil
	}
	due := ev.GetDueAt().AsTime()
	if err := noteFiring(ctx, tx, tenant, post.ID, due); err != nil {
		return err
	}
	loc, err := time.LoadLocation(post.Zone)
	if err != nil {
		loc = time.UTC
	}
	next, finished := due, true
	if ev.GetNextDueAt() != nil {
		next, finished = ev.GetNextDueAt().AsTime(), false
	}
	next = next.In(loc)
	if _, err := tx.Exec(ctx, `UPDATE portal_posts SET fired_count = fired_count + 1, scheduled_at = ?, local_time = ?, finished = ?, updated_at = ?
		WHERE agency_id = ? AND id = ? AND revision = ?`,
		store.ToMicros(next), formatWall(next), finished, store.ToMicros(time.Now()), tenant, post.ID, post.Revision); err != nil {
		return fmt.Errorf("portal: recording a firing: %w", err)
	}
	return recomputePostStatus(ctx, tx, tenant, post.ID)
}

// noteFiring makes sure the firing at due has a row per target, and when it
// is the post's latest firing so far, sets the targets back to pending for
// it. Both post.due and Publisher's reports call it: they may arrive in
// either order.
func noteFiring(ctx context.Context, tx *store.Tx, agencyID, postID string, due time.Time) error {
	now := store.ToMicros(time.Now())
	if _, err := tx.Exec(ctx, `INSERT INTO portal_post_firings (post_id, due_at, account_id, agency_id, network, status, updated_at)
		SELECT post_id, ?, account_id, agency_id, network, ?, ? FROM portal_post_targets WHERE agency_id = ? AND post_id = ?
		ON CONFLICT (post_id, due_at, account_id) DO NOTHING`,
		store.ToMicros(due), TargetPending, now, agencyID, postID); err != nil {
		return fmt.Errorf("portal: recording a firing: %w", err)
	}
	res, err := tx.Exec(ctx, `UPDATE portal_posts SET last_due_at = ? WHERE agency_id = ? AND id = ? AND last_due_at < ?`,
		store.ToMicros(due), agencyID, postID, store.ToMicros(due))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if _, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, remote_id = '', remote_url = '', error = '', updated_at = ?
			WHERE agency_id = ? AND post_id = ?`, TargetPending, now, agencyID, postID); err != nil {
			return err
		}
	}
	return nil
}

// repeatingPost returns the kind of a post and the firing an outcome
// without a due instant belongs to (its latest).
func repeatingPost(ctx context.Context, tx *store.Tx, agencyID, postID string) (kind string, last time.Time, err error) {
	var lastUS int64
	err = tx.QueryRow(ctx, `SELECT kind, last_due_at FROM portal_posts WHERE agency_id = ? AND id = ?`, agencyID, postID).Scan(&kind, &lastUS)
	if errors.Is(err, store.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return kind, fromMicrosOrZero(lastUS), err
}

// recordFiringOutcome records Publisher's report for one firing of a
// repeating post and target: on the firing's row, and on the target when
// the firing is the post's latest. A published outcome is final.
func recordFiringOutcome(ctx context.Context, tx *store.Tx, agencyID, postID, accountID string, due time.Time, t Target) error {
	now := store.ToMicros(time.Now())
	if !due.IsZero() {
		if err := noteFiring(ctx, tx, agencyID, postID, due); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_post_firings SET status = ?, remote_id = ?, remote_url = ?, error = ?, updated_at = ?
			WHERE agency_id = ? AND post_id = ? AND due_at = ? AND account_id = ? AND status <> ?`,
			t.Status, t.RemoteID, t.RemoteURL, t.Error, now, agencyID, postID, store.ToMicros(due), accountID, TargetPublished); err != nil {
			return fmt.Errorf("portal: recording a firing's outcome: %w", err)
		}
	}
	_, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, remote_id = ?, remote_url = ?, error = ?, updated_at = ?
		WHERE agency_id = ? AND post_id = ? AND account_id = ? AND status <> ?
		AND post_id IN (SELECT id FROM portal_posts WHERE agency_id = ? AND id = ? AND last_due_at = ?)`,
		t.Status, t.RemoteID, t.RemoteURL, t.Error, now, agencyID, postID, accountID, TargetPublished,
		agencyID, postID, toMicrosOrZero(due))
	if err != nil {
		return fmt.Errorf("portal: recording a target's outcome: %w", err)
	}
	return recomputePostStatus(ctx, tx, agencyID, postID)
}

// firings returns a post's latest firings, newest first.
func (s *Service) firings(ctx context.Context, q store.Querier, agencyID, postID string, limit int) ([]Firing, error) {
	rows, err := q.Query(ctx, `SELECT due_at, account_id, network, status, remote_id, remote_url, error, updated_at FROM portal_post_firings
		WHERE agency_id = ? AND post_id = ? AND due_at IN (SELECT DISTINCT due_at FROM portal_post_firings
			WHERE agency_id = ? AND post_id = ? ORDER BY due_at DESC LIMIT ?)
		ORDER BY due_at DESC, account_id`, agencyID, postID, agencyID, postID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Firing{}
	for rows.Next() {
		var due, u int64
		var t Target
		if err := rows.Scan(&due, &t.AccountID, &t.Network, &t.Status, &t.RemoteID, &t.RemoteURL, &t.Error, &u); err != nil {
			return nil, err
		}
		t.UpdatedAt = store.FromMicros(u)
		at := store.FromMicros(due)
		if n := len(out); n == 0 || !out[n-1].DueAt.Equal(at) {
			out = append(out, Firing{DueAt: at})
		}
		out[len(out)-1].Targets = append(out[len(out)-1].Targets, t)
	}
	return out, rows.Err()
}

// ListFirings returns a post's firings, newest first, at most limit (1 to
// 500; 0 means 50).
func (s *Service) ListFirings(ctx context.Context, p *Principal, postID string, limit int) ([]Firing, error) {
	post, err := s.loadPost(ctx, s.db, p.AgencyID, postID)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, s.db, p, post.WorkspaceID, actReadPosts); err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > maxFiringsPage:
		return nil, errs.Fields{"limit": "must be between 1 and 500"}.Err()
	}
	return s.firings(ctx, s.db, p.AgencyID, postID, limit)
}
