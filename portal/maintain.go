package portal

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/store"
)

// expiryWarning is how long before an account's credentials expire its
// team is told, when Herald cannot renew them itself.
const expiryWarning = 7 * 24 * time.Hour

// resyncGrace leaves a just-written post to the request that is still
// talking to Trigger about it.
const resyncGrace = time.Minute

// maintain runs the periodic chores until ctx ends: re-sending schedules
// whose Trigger call had an unknown outcome, purging expired sessions,
// OAuth states and invites, and warning of credentials about to expire.
func (s *Service) maintain(ctx context.Context) {
	t := time.NewTicker(s.cfg.ResyncInterval)
	defer t.Stop()
	first := true
	for {
		s.resync(ctx, time.Now().Add(-resyncGrace))
		s.purge(ctx)
		s.warnExpiring(ctx, time.Now(), expiryWarning)
		if first {
			// The first pass recovers what a crash left behind.
			close(s.recovered)
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resync sends Trigger the current revision of every post not marked
// synced since before cutoff. Schedule replaces by id, so sending again
// what Trigger already has is harmless.
func (s *Service) resync(ctx context.Context, cutoff time.Time) int {
	type pending struct {
		agency string
		post   Post
	}
	rows, err := s.db.Query(ctx, `SELECT agency_id, `+postColumns+` FROM portal_posts
		WHERE schedule_synced = ? AND status = ? AND updated_at < ? ORDER BY updated_at LIMIT 500`,
		false, PostScheduled, store.ToMicros(cutoff))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("resync: listing unsynced posts", "err", err)
		}
		return 0
	}
	var todo []pending
	for rows.Next() {
		var agency string
		post, err := scanPost(prefixScanner{rows, &agency})
		if err != nil {
			s.log.Warn("resync: reading post", "err", err)
			break
		}
		todo = append(todo, pending{agency, post})
	}
	rows.Close()
	done := 0
	for _, p := range todo {
		if ctx.Err() != nil {
			return done
		}
		sch, err := s.schedule(ctx, p.agency, p.post)
		if err != nil {
			if p.post.Kind == KindQueue && triggerRefusal(err, KindQueue) != nil {
				// Its queue is gone: sending it again cannot help.
				s.log.Warn("resync: the queue refuses a post; keeping it as a draft", "post_id", p.post.ID, "err", err)
				if derr := s.keepAsDraft(ctx, p.agency, p.post.ID, p.post.Revision); derr != nil {
					s.log.Warn("resync: keeping a post as a draft", "post_id", p.post.ID, "err", derr)
				}
				continue
			}
			s.log.Warn("resync: trigger still refuses", "post_id", p.post.ID, "err", err)
			continue
		}
		s.markSynced(ctx, p.agency, p.post, sch)
		done++
	}
	return done
}

// prefixScanner scans one leading column into first, the rest as asked.
type prefixScanner struct {
	sc    interface{ Scan(...any) error }
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.sc.Scan(append([]any{p.first}, dest...)...) }

func (s *Service) purge(ctx context.Context) {
	now := store.ToMicros(time.Now())
	for _, q := range []string{
		`DELETE FROM portal_sessions WHERE expires_at <= ?`,
		`DELETE FROM portal_oauth_states WHERE expires_at <= ?`,
		`DELETE FROM portal_oauth_picks WHERE expires_at <= ?`,
		`DELETE FROM portal_invites WHERE expires_at <= ?`,
	} {
		if _, err := s.db.Exec(ctx, q, now); err != nil && ctx.Err() == nil {
			s.log.Warn("purging expired rows", "err", err)
		}
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM portal_idempotency WHERE created_at <= ?`, now-idempotencyTTL.Microseconds()); err != nil && ctx.Err() == nil {
		s.log.Warn("purging expired idempotency keys", "err", err)
	}
}

// warnExpiring emits account.credential_expiring for each account whose
// access token expires within the next within and has no refresh token to
// renew it: only someone reconnecting it can. The mark (expiry_warned) and
// the event share one transaction, so each expiry is told once, and a
// reconnect, which brings a new expiry, arms the next warning. It returns
// how many it emitted.
func (s *Service) warnExpiring(ctx context.Context, now time.Time, within time.Duration) int {
	type acct struct {
		agency, id, workspace, network, handle string
		expires                                int64
	}
	rows, err := s.db.Query(ctx, `SELECT agency_id, id, workspace_id, network, handle, expires_at FROM portal_accounts
		WHERE expires_at > ? AND expires_at <= ? AND refresh_sealed IS NULL AND expiry_warned <> expires_at
		ORDER BY expires_at LIMIT 500`, store.ToMicros(now), store.ToMicros(now.Add(within)))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("expiry warnings: listing accounts", "err", err)
		}
		return 0
	}
	var todo []acct
	for rows.Next() {
		var a acct
		if err := rows.Scan(&a.agency, &a.id, &a.workspace, &a.network, &a.handle, &a.expires); err != nil {
			s.log.Warn("expiry warnings: reading account", "err", err)
			break
		}
		todo = append(todo, a)
	}
	rows.Close()
	sent := 0
	for _, a := range todo {
		emitted := false
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			emitted = false
			res, err := tx.Exec(ctx, `UPDATE portal_accounts SET expiry_warned = expires_at
				WHERE agency_id = ? AND id = ? AND expires_at = ? AND expiry_warned <> expires_at AND refresh_sealed IS NULL`,
				a.agency, a.id, a.expires)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return err // reconnected meanwhile, or another node warned
			}
			emitted = true
			_, err = s.outbox.Add(ctx, tx, bus.TopicCredentialExpiring, &eventsv1.CredentialExpiring{
				TenantId: a.agency, WorkspaceId: a.workspace, AccountId: a.id, Network: a.network,
				AccountName: a.handle, ExpiresAt: timestamppb.New(store.FromMicros(a.expires)),
			})
			return err
		})
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("expiry warnings: warning", "account_id", a.id, "err", err)
		case err == nil && emitted:
			sent++
		}
	}
	return sent
}
