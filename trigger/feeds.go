package trigger

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/store"
)

// Limits of a feed's settings.
const (
	minFeedInterval     = 5 * time.Minute
	maxFeedInterval     = 7 * 24 * time.Hour
	defaultFeedInterval = 15 * time.Minute
	maxBackfill         = 20
	maxFeedURLLen       = 2048
)

// feed is one row of trigger_feeds.
type feed struct {
	tenantID, id, workspaceID, url string
	interval                       int64 // microseconds
	paused                         bool
	backfill                       int
	primed                         bool
	shard                          int
	etag, lastModified             string
	errors                         int
	lastError                      string
	lastPolled, nextPoll           int64
	seen, emitted                  int64
	version                        int64
	createdAt, updatedAt           int64
}

const feedColumns = `tenant_id, id, workspace_id, url, interval_us, paused, backfill, primed, shard, etag, last_modified,
	consecutive_errors, last_error, last_polled_at, next_poll_at, items_seen, items_emitted, version, created_at, updated_at`

func scanFeed(sc scanner) (feed, error) {
	var f feed
	err := sc.Scan(&f.tenantID, &f.id, &f.workspaceID, &f.url, &f.interval, &f.paused, &f.backfill, &f.primed, &f.shard,
		&f.etag, &f.lastModified, &f.errors, &f.lastError, &f.lastPolled, &f.nextPoll, &f.seen, &f.emitted,
		&f.version, &f.createdAt, &f.updatedAt)
	return f, err
}

func scanFeeds(rows rowsScanner) ([]feed, error) {
	defer rows.Close()
	var out []feed
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (f feed) key() string { return scheduleKey(f.tenantID, f.id) }

func (f feed) proto() *triggerv1.Feed {
	out := &triggerv1.Feed{
		FeedId: f.id, TenantId: f.tenantID, WorkspaceId: f.workspaceID, Url: f.url,
		Interval:          durationpb.New(time.Duration(f.interval) * time.Microsecond),
		Paused:            f.paused,
		Health:            triggerv1.FeedHealth_FEED_HEALTH_OK,
		LastError:         f.lastError,
		ConsecutiveErrors: int32(f.errors),
		NextPollAt:        timestamppb.New(store.FromMicros(f.nextPoll)),
		ItemsSeen:         f.seen,
		ItemsEmitted:      f.emitted,
		CreatedAt:         timestamppb.New(store.FromMicros(f.createdAt)),
		UpdatedAt:         timestamppb.New(store.FromMicros(f.updatedAt)),
	}
	if f.errors > 0 {
		out.Health = triggerv1.FeedHealth_FEED_HEALTH_FAILING
	}
	if f.lastPolled != 0 {
		out.LastPolledAt = timestamppb.New(store.FromMicros(f.lastPolled))
	}
	return out
}

func loadFeed(ctx context.Context, q store.Querier, tenantID, feedID string) (feed, error) {
	return scanFeed(q.QueryRow(ctx, `SELECT `+feedColumns+` FROM trigger_feeds WHERE tenant_id = ? AND id = ?`, tenantID, feedID))
}

// lockFeed takes the feed's row lock (by bumping its version, which works
// in both dialects) and returns the row as locked. A poll in flight that
// read the older version will not commit.
func lockFeed(ctx context.Context, tx *store.Tx, tenantID, feedID string) (feed, error) {
	return scanFeed(tx.QueryRow(ctx, `UPDATE trigger_feeds SET version = version + 1 WHERE tenant_id = ? AND id = ?
		RETURNING `+feedColumns, tenantID, feedID))
}

// validateFeed checks a PutFeedRequest field by field.
func validateFeed(req *triggerv1.PutFeedRequest) (feed, error) {
	var v errs.Fields
	f := feed{
		tenantID: req.GetTenantId(), id: req.GetFeedId(), workspaceID: req.GetWorkspaceId(),
		url: strings.TrimSpace(req.GetUrl()), paused: req.GetPaused(), backfill: int(req.GetBackfill()),
		interval: defaultFeedInterval.Microseconds(),
	}
	checkID(&v, "tenant_id", f.tenantID)
	checkID(&v, "feed_id", f.id)
	checkID(&v, "workspace_id", f.workspaceID)
	if msg := checkFeedURL(f.url); msg != "" {
		v.Add("url", "%s", msg)
	}
	if d := req.GetInterval(); d != nil {
		switch {
		case d.CheckValid() != nil:
			v.Add("interval", "is not a valid duration")
		case d.AsDuration() < minFeedInterval || d.AsDuration() > maxFeedInterval:
			v.Add("interval", "must be from 5 minutes to 1 week (unset: 15 minutes)")
		default:
			f.interval = d.AsDuration().Microseconds()
		}
	}
	if f.backfill < 0 || f.backfill > maxBackfill {
		v.Add("backfill", "must be from 0 to %d", maxBackfill)
	}
	return f, v.Err()
}

// checkFeedURL says what is wrong with a feed URL, or "". Where it points
// is checked when it is fetched (outbound), since what a name resolves to
// can change.
func checkFeedURL(raw string) string {
	switch {
	case raw == "":
		return "is required"
	case len(raw) > maxFeedURLLen:
		return "must be at most 2048 bytes"
	case !utf8.ValidString(raw) || strings.ContainsAny(raw, " \t\r\n"):
		return "is not a well-formed URL"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a well-formed URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not carry a user name or password"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	return ""
}

// same reports whether f already is what in asks for.
func (f feed) same(in feed) bool {
	return f.workspaceID == in.workspaceID && f.url == in.url && f.interval == in.interval &&
		f.paused == in.paused && f.backfill == in.backfill
}

func checkFeedRef(tenantID, feedID string) error {
	var v errs.Fields
	checkID(&v, "tenant_id", tenantID)
	checkID(&v, "feed_id", feedID)
	return v.Err()
}

// PutFeed creates or replaces a feed. A new feed, a new URL or a feed
// taken out of pause is polled at once (but never sooner than its interval
// after the last poll, and not before a backoff ends). A new URL is polled
// as a new feed: its first poll emits only the backfill; items seen before
// are never emitted again. Repeating a request changes nothing.
func (s *Service) PutFeed(ctx context.Context, req *triggerv1.PutFeedRequest) (*triggerv1.PutFeedResponse, error) {
	in, err := validateFeed(req)
	if err != nil {
		return nil, err
	}
	var out feed
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		now := store.ToMicros(s.clock.Now())
		cur, err := loadFeed(ctx, tx, in.tenantID, in.id)
		if err == nil && cur.same(in) {
			out = cur
			return nil
		}
		if err == nil {
			cur, err = lockFeed(ctx, tx, in.tenantID, in.id)
		}
		if errors.Is(err, store.ErrNoRows) {
			f := in
			f.shard = shardOf(in.tenantID, in.id, s.cfg.Shards)
			f.nextPoll, f.version, f.createdAt, f.updatedAt = now, 1, now, now
			res, err := tx.Exec(ctx, `INSERT INTO trigger_feeds
				(tenant_id, id, workspace_id, url, interval_us, paused, backfill, shard, next_poll_at, version, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING`,
				f.tenantID, f.id, f.workspaceID, f.url, f.interval, f.paused, f.backfill, f.shard, f.nextPoll, f.version, f.createdAt, f.updatedAt)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return errs.E(errs.Conflict, "the feed is being created by another request; try again")
			}
			out = f
			return nil
		}
		if err != nil {
			return err
		}
		f := cur
		f.workspaceID, f.url, f.interval, f.paused, f.backfill = in.workspaceID, in.url, in.interval, in.paused, in.backfill
		if f.url != cur.url {
			// Another feed, as far as polling goes: its validators, health
			// and first-poll state start afresh; the items seen stay seen.
			f.etag, f.lastModified, f.errors, f.lastError, f.primed = "", "", 0, "", false
			f.nextPoll = now
		} else if !f.paused && (cur.paused || f.interval != cur.interval) {
			f.nextPoll = max(now, f.lastPolled+f.interval)
			if f.errors > 0 {
				f.nextPoll = max(f.nextPoll, cur.nextPoll)
			}
		}
		f.updatedAt = now
		_, err = tx.Exec(ctx, `UPDATE trigger_feeds SET workspace_id = ?, url = ?, interval_us = ?, paused = ?, backfill = ?,
			primed = ?, etag = ?, last_modified = ?, consecutive_errors = ?, last_error = ?, next_poll_at = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ?`,
			f.workspaceID, f.url, f.interval, f.paused, f.backfill, f.primed, f.etag, f.lastModified, f.errors, f.lastError,
			f.nextPoll, f.updatedAt, f.tenantID, f.id)
		out = f
		return err
	})
	if err != nil {
		return nil, err
	}
	s.engine.feeds.changed(out.key())
	return &triggerv1.PutFeedResponse{Feed: out.proto()}, nil
}

// GetFeed returns a feed of the tenant; NotFound for an unknown id or
// another tenant's.
func (s *Service) GetFeed(ctx context.Context, req *triggerv1.GetFeedRequest) (*triggerv1.GetFeedResponse, error) {
	if err := checkFeedRef(req.GetTenantId(), req.GetFeedId()); err != nil {
		return nil, err
	}
	f, err := loadFeed(ctx, s.db, req.GetTenantId(), req.GetFeedId())
	if err != nil {
		return nil, store.NotFound(err, "feed")
	}
	return &triggerv1.GetFeedResponse{Feed: f.proto()}, nil
}

// ListFeeds returns a tenant's feeds (of one workspace when asked), by id.
func (s *Service) ListFeeds(ctx context.Context, req *triggerv1.ListFeedsRequest) (*triggerv1.ListFeedsResponse, error) {
	rows, err := s.listTenantRows(ctx, req, feedColumns, "trigger_feeds")
	if err != nil {
		return nil, err
	}
	feeds, err := scanFeeds(rows)
	if err != nil {
		return nil, err
	}
	out := &triggerv1.ListFeedsResponse{}
	for _, f := range feeds {
		out.Feeds = append(out.Feeds, f.proto())
	}
	return out, nil
}

// DeleteFeed stops polling a feed and forgets its items; a poll in flight
// commits nothing. Deleting a feed that does not exist (for this tenant) is
// not an error, so a retry is harmless.
func (s *Service) DeleteFeed(ctx context.Context, req *triggerv1.DeleteFeedRequest) (*triggerv1.DeleteFeedResponse, error) {
	if err := checkFeedRef(req.GetTenantId(), req.GetFeedId()); err != nil {
		return nil, err
	}
	deleted := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM trigger_feeds WHERE tenant_id = ? AND id = ?`, req.GetTenantId(), req.GetFeedId())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		deleted = n > 0
		_, err = tx.Exec(ctx, `DELETE FROM trigger_feed_items WHERE tenant_id = ? AND feed_id = ?`, req.GetTenantId(), req.GetFeedId())
		return err
	})
	if err != nil {
		return nil, err
	}
	s.engine.feeds.changed(scheduleKey(req.GetTenantId(), req.GetFeedId()))
	return &triggerv1.DeleteFeedResponse{Deleted: deleted}, nil
}
