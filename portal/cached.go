package portal

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/store"
)

// What Portal reads through the cache (docs/decisions/0032): a workspace's
// post lists and its accounts, the reads behind the workspace page, the
// calendar and the list APIs. Access checks are never cached: they read
// the memberships every time, so a removed member loses access at once.
//
// Each workspace has two generations, one for its post lists and one for
// its accounts. Every write that changes what they show marks the scope
// stale (markStale), which deletes the generation once the transaction has
// committed: one Delete, however many lists (statuses, limits) are cached.

// cachedTTL bounds how long an entry lives, and so how stale a list can be
// if an invalidation is lost.
const cachedTTL = 2 * time.Minute

// reads are the cached kinds of one Service.
type reads struct {
	c        *readthrough.Cache
	posts    *readthrough.Kind[[]Post]
	calendar *readthrough.Kind[calendarRows]
	accounts *readthrough.Kind[[]Account]
}

func newReads(c *readthrough.Cache) reads {
	return reads{
		c:        c,
		posts:    readthrough.NewKind[[]Post](c, "portal.post_lists", cachedTTL),
		calendar: readthrough.NewKind[calendarRows](c, "portal.calendar", cachedTTL),
		accounts: readthrough.NewKind[[]Account](c, "portal.accounts", cachedTTL),
	}
}

func postsScope(agencyID, workspaceID string) string {
	return "portal.posts:" + agencyID + ":" + workspaceID
}

func accountsScope(agencyID, workspaceID string) string {
	return "portal.accounts:" + agencyID + ":" + workspaceID
}

// staleKey carries a collector of stale scopes in a context: writes applied
// in a batch (onEvents) add to it, and the batch invalidates them all at
// once after its commit instead of once per event.
type staleKey struct{}

// staleSet is the scopes a batch made stale. A mutex, though a batch's
// writes run one after another, so that nothing depends on that.
type staleSet struct {
	mu     sync.Mutex
	scopes map[string]struct{}
}

// collectStale returns a context whose writes gather their stale scopes,
// and the function that invalidates them; call it once the writes have
// committed.
func (s *Service) collectStale(ctx context.Context) (context.Context, func()) {
	if !s.reads.c.Enabled() {
		return ctx, func() {}
	}
	set := &staleSet{scopes: map[string]struct{}{}}
	return context.WithValue(ctx, staleKey{}, set), func() {
		set.mu.Lock()
		scopes := make([]string, 0, len(set.scopes))
		for k := range set.scopes {
			scopes = append(scopes, k)
		}
		clear(set.scopes)
		set.mu.Unlock()
		s.invalidate(ctx, scopes...)
	}
}

// markStale invalidates scopes once tx commits (or, inside collectStale,
// once the batch has).
func (s *Service) markStale(ctx context.Context, tx *store.Tx, scopes ...string) {
	if !s.reads.c.Enabled() || len(scopes) == 0 {
		return
	}
	if set, ok := ctx.Value(staleKey{}).(*staleSet); ok {
		set.mu.Lock()
		for _, sc := range scopes {
			set.scopes[sc] = struct{}{}
		}
		set.mu.Unlock()
		return
	}
	tx.AfterCommit(func() { s.invalidate(ctx, scopes...) })
}

// postStale marks the post lists of a post's workspace stale, finding the
// workspace in tx (call it before a delete).
func (s *Service) postStale(ctx context.Context, tx *store.Tx, agencyID, postID string) error {
	if !s.reads.c.Enabled() {
		return nil
	}
	var ws string
	err := tx.QueryRow(ctx, `SELECT workspace_id FROM portal_posts WHERE agency_id = ? AND id = ?`, agencyID, postID).Scan(&ws)
	if err != nil {
		// No post, nothing listed to change.
		return ignoreNoRows(err)
	}
	s.markStale(ctx, tx, postsScope(agencyID, ws))
	return nil
}

func ignoreNoRows(err error) error {
	if errors.Is(err, store.ErrNoRows) {
		return nil
	}
	return err
}

// invalidate drops the generations of scopes now. A failure is logged: the
// entries then live out their time to live.
func (s *Service) invalidate(ctx context.Context, scopes ...string) {
	if len(scopes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.reads.c.Invalidate(ctx, scopes...); err != nil {
		s.log.Warn("cache: invalidating; lists may be stale until their entries expire", "scopes", scopes, "err", err, "ttl", cachedTTL)
	}
}

// postStaleNow is postStale for a write made outside a transaction, once
// it is done.
func (s *Service) postStaleNow(ctx context.Context, agencyID, postID string) {
	if !s.reads.c.Enabled() {
		return
	}
	var ws string
	err := s.db.QueryRow(ctx, `SELECT workspace_id FROM portal_posts WHERE agency_id = ? AND id = ?`, agencyID, postID).Scan(&ws)
	if err == nil {
		s.invalidate(ctx, postsScope(agencyID, ws))
	} else if !errors.Is(err, store.ErrNoRows) {
		s.log.Warn("cache: finding a post's workspace to invalidate", "post_id", postID, "err", err)
	}
}

// accountStale marks an account's workspace's account list stale, finding
// the workspace in tx.
func (s *Service) accountStale(ctx context.Context, tx *store.Tx, agencyID, accountID string) error {
	if !s.reads.c.Enabled() {
		return nil
	}
	var ws string
	err := tx.QueryRow(ctx, `SELECT workspace_id FROM portal_accounts WHERE agency_id = ? AND id = ?`, agencyID, accountID).Scan(&ws)
	if err != nil {
		return ignoreNoRows(err)
	}
	s.markStale(ctx, tx, accountsScope(agencyID, ws))
	return nil
}

// touchingPost wraps an event's write to a post so that the post lists of
// its workspace go stale once it commits.
func (s *Service) touchingPost(ctx context.Context, agencyID, postID string, fn func(tx *store.Tx) error) func(tx *store.Tx) error {
	return func(tx *store.Tx) error {
		if err := s.postStale(ctx, tx, agencyID, postID); err != nil {
			return err
		}
		return fn(tx)
	}
}
