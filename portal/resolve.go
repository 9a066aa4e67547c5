package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// A failed publish to one account is for the user to settle when only they
// can: an unknown outcome on a network that cannot tell (did it go out?),
// or a failure they have since fixed. They either publish the post to that
// account again or record that it did go out.

// failedTarget loads a one-shot post the principal may write and its
// failed target for accountID.
func (s *Service) failedTarget(ctx context.Context, p *Principal, postID, accountID string) (Post, Target, error) {
	post, err := s.GetPost(ctx, p, postID)
	if err != nil {
		return Post{}, Target{}, err
	}
	if _, err := s.authorize(ctx, s.db, p, post.WorkspaceID, actWritePosts); err != nil {
		return Post{}, Target{}, err
	}
	if post.Kind != KindOnce {
		return Post{}, Target{}, errs.E(errs.Conflict, "only a post scheduled once can be settled account by account; a repeating post's next firing goes out as usual")
	}
	for _, t := range post.Targets {
		if t.AccountID == accountID {
			if t.Status != TargetFailed {
				return Post{}, Target{}, errs.E(errs.Conflict, "only a failed account of the post can be settled; this one is %s", t.Status)
			}
			return post, t, nil
		}
	}
	return Post{}, Target{}, errs.E(errs.NotFound, "the post is not published to that account")
}

// doRetryTarget publishes a post again, now, to one account whose publish
// failed. It is a new revision of the post, so a new publication with its
// own idempotency key; the accounts it already went out to are not
// published again.
func (s *Service) doRetryTarget(ctx context.Context, p *Principal, postID, accountID string) (Post, error) {
	old, _, err := s.failedTarget(ctx, p, postID, accountID)
	if err != nil {
		return Post{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	loc, err := time.LoadLocation(old.Zone)
	if err != nil {
		loc = time.UTC
	}
	next := old
	next.Revision, next.ScheduledAt, next.LocalTime = old.Revision+1, now, formatWall(now.In(loc))
	write := func(ctx context.Context, from, to Post, fromTarget, toTarget, toStatus string) error {
		return s.db.Tx(ctx, func(tx *store.Tx) error {
			s.markStale(ctx, tx, postsScope(p.AgencyID, from.WorkspaceID))
			res, err := tx.Exec(ctx, `UPDATE portal_posts SET revision = ?, status = ?, scheduled_at = ?, local_time = ?,
					schedule_synced = ?, updated_at = ?
				WHERE agency_id = ? AND id = ? AND revision = ?`,
				to.Revision, toStatus, store.ToMicros(to.ScheduledAt), to.LocalTime, false, store.ToMicros(time.Now()),
				p.AgencyID, postID, from.Revision)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.E(errs.Conflict, "the post changed meanwhile; reload it and try again")
			}
			_, err = tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = ?, updated_at = ?
				WHERE agency_id = ? AND post_id = ? AND account_id = ? AND status = ?`,
				toTarget, "", store.ToMicros(time.Now()), p.AgencyID, postID, accountID, fromTarget)
			return err
		})
	}
	var stored string
	if err := s.db.QueryRow(ctx, `SELECT status FROM portal_posts WHERE agency_id = ? AND id = ?`, p.AgencyID, postID).Scan(&stored); err != nil {
		return Post{}, err
	}
	if err := write(ctx, old, next, TargetFailed, TargetPending, PostScheduled); err != nil {
		return Post{}, err
	}
	sch, err := s.schedule(ctx, p.AgencyID, next)
	if err != nil {
		s.log.Warn("trigger refused publishing a failed target again; restoring the post", "post_id", postID, "err", err)
		if rerr := s.restoreFailed(context.WithoutCancel(ctx), p.AgencyID, old, next, accountID, stored); rerr != nil {
			s.log.Error("restoring a post Trigger did not take", "post_id", postID, "err", rerr)
		}
		return Post{}, describeTriggerError(err, KindOnce, "publishing is unavailable right now; nothing was changed, try again shortly")
	}
	s.markSynced(ctx, p.AgencyID, next, sch)
	return s.GetPost(ctx, p, postID)
}

// restoreFailed puts back a post RetryTarget could not schedule.
func (s *Service) restoreFailed(ctx context.Context, agencyID string, old, next Post, accountID, status string) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		s.markStale(ctx, tx, postsScope(agencyID, old.WorkspaceID))
		if _, err := tx.Exec(ctx, `UPDATE portal_posts SET revision = ?, status = ?, scheduled_at = ?, local_time = ?, schedule_synced = ?
			WHERE agency_id = ? AND id = ? AND revision = ?`,
			old.Revision, status, store.ToMicros(old.ScheduledAt), old.LocalTime, true, agencyID, old.ID, next.Revision); err != nil {
			return err
		}
		var reason string
		for _, t := range old.Targets {
			if t.AccountID == accountID {
				reason = t.Error
			}
		}
		_, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = ? WHERE agency_id = ? AND post_id = ? AND account_id = ? AND status = ?`,
			TargetFailed, reason, agencyID, old.ID, accountID, TargetPending)
		return err
	})
}

// doMarkTargetPublished records that a post whose publish to one account
// failed did go out there after all (the user found it on the network);
// remoteURL, optional, is where.
func (s *Service) doMarkTargetPublished(ctx context.Context, p *Principal, postID, accountID, remoteURL string) (Post, error) {
	remoteURL = strings.TrimSpace(remoteURL)
	if remoteURL != "" {
		u, err := url.Parse(remoteURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(remoteURL) > 2048 {
			return Post{}, errs.Fields{"remote_url": "must be the post's address on the network, starting with https://"}.Err()
		}
	}
	post, _, err := s.failedTarget(ctx, p, postID, accountID)
	if err != nil {
		return Post{}, err
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		s.markStale(ctx, tx, postsScope(p.AgencyID, post.WorkspaceID))
		res, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, remote_url = ?, error = '', updated_at = ?
			WHERE agency_id = ? AND post_id = ? AND account_id = ? AND status = ?`,
			TargetPublished, remoteURL, store.ToMicros(time.Now()), p.AgencyID, postID, accountID, TargetFailed)
		if err != nil {
			return fmt.Errorf("portal: marking a target published: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict, "the post changed meanwhile; reload it and try again")
		}
		return recomputePostStatus(ctx, tx, p.AgencyID, postID)
	})
	if err != nil {
		return Post{}, err
	}
	return s.GetPost(ctx, p, postID)
}

// POST /api/v1/posts/{id}/targets/{account}/retry -> post
func (s *Service) apiRetryTarget(w http.ResponseWriter, r *http.Request, p *Principal) error {
	post, err := s.RetryTarget(r.Context(), p, r.PathValue("id"), r.PathValue("account"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, postView(post))
}

// POST /api/v1/posts/{id}/targets/{account}/published {remote_url?} -> post
func (s *Service) apiMarkTargetPublished(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req struct {
		RemoteURL string `json:"remote_url"`
	}
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	post, err := s.MarkTargetPublished(r.Context(), p, r.PathValue("id"), r.PathValue("account"), req.RemoteURL)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, postView(post))
}

// POST /workspaces/{id}/posts/{post}/targets/{account}/retry and
// .../published : the same from the post list.
func (u *webUI) settleTarget(retry bool) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		id, post, account := r.PathValue("id"), r.PathValue("post"), r.PathValue("account")
		var err error
		msg := "The post is being published to the account again."
		if retry {
			_, err = u.s.RetryTarget(r.Context(), p, post, account)
		} else {
			_, err = u.s.MarkTargetPublished(r.Context(), p, post, account, r.PostFormValue("remote_url"))
			msg = "The post is marked as published to the account."
		}
		if err != nil {
			if errs.KindOf(err) == errs.Internal {
				return err
			}
			u.setFlash(w, flash{Kind: "error", Message: sentence("Nothing was changed: " + errs.PublicMessage(err))})
		} else {
			u.setFlash(w, flash{Kind: "success", Message: msg})
		}
		redirect(w, r, workspacePath(id)+"#posts")
		return nil
	}
}
