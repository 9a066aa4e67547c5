package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// The calendar: the posts with a time (one-shot posts, the next firing of
// a repeating or queued post) of one workspace or of every workspace the
// principal may read, laid out by day in the viewer's zone. Days are cut
// at local midnight, so a day across a DST change is 23 or 25 hours long
// and a post lands on the day its wall clock shows. Drafts have no time
// and stay off it.

// maxCalendarDays bounds one calendar query: two months and a little,
// enough for a month grid with its leading and trailing weeks.
const maxCalendarDays = 62

// maxCalendarPosts bounds what one query returns; a range holding more
// says so (Truncated) rather than growing the page without end.
const maxCalendarPosts = 1000

// calendarStatuses are the statuses a calendar can be narrowed to: those
// a reader sees (publishing is a scheduled post whose time has come).
var calendarStatuses = []string{PostPendingApproval, PostApproved, PostScheduled, PostPublishing, PostPublished,
	PostFailed, PostPartiallyFailed, PostSkipped}

// CalendarQuery selects the posts of a calendar. WorkspaceID "" means
// every workspace the principal may read; the filters "" mean any.
type CalendarQuery struct {
	WorkspaceID string
	From, To    time.Time // [From, To)
	AccountID   string
	Status      string
	Label       string
}

// CalendarResult is what a calendar shows.
type CalendarResult struct {
	Posts []Post
	// Workspaces are the workspaces searched, by id.
	Workspaces map[string]Workspace
	// Truncated: the range holds more than maxCalendarPosts posts.
	Truncated bool
}

// check validates a query field by field.
func (q CalendarQuery) check() error {
	var v errs.Fields
	switch {
	case q.From.IsZero():
		v.Add("from", "is required")
	case q.To.IsZero():
		v.Add("to", "is required")
	case !q.To.After(q.From):
		v.Add("to", "must be after from")
	case q.To.Sub(q.From) > maxCalendarDays*24*time.Hour+time.Hour:
		// The hour allows a range of whole local days across a DST change.
		v.Add("to", "must be at most %d days after from", maxCalendarDays)
	}
	if q.Status != "" && !slices.Contains(calendarStatuses, q.Status) {
		v.Add("status", "must be one of %s", strings.Join(calendarStatuses, ", "))
	}
	if len(q.Label) > maxLabelBytes {
		v.Add("label", "is too long")
	}
	return v.Err()
}

// calendarRows are the stored posts of a calendar's range, as cached.
type calendarRows struct {
	Posts     []Post
	Truncated bool
}

// calendarPosts reads the stored posts of q's range in the workspaces,
// through the cache: keyed by every workspace's post-list generation, so a
// write to any of them makes the range stale (docs/decisions/0032). The
// status shown depends on the time of the read, so it is worked out after.
func (s *Service) calendarPosts(ctx context.Context, agencyID string, workspaces map[string]Workspace, q CalendarQuery) (calendarRows, error) {
	ids := slices.Sorted(maps.Keys(workspaces))
	key := sha256.New()
	fmt.Fprintf(key, "%s\x00%d\x00%d\x00%s\x00%s\x00%s", agencyID, store.ToMicros(q.From), store.ToMicros(q.To),
		q.AccountID, normalizeLabel(q.Label), q.Status)
	for _, id := range ids {
		fmt.Fprintf(key, "\x00%s\x00%s", id, s.reads.c.Generation(ctx, postsScope(agencyID, id)))
	}
	return s.reads.calendar.Get(ctx, hex.EncodeToString(key.Sum(nil)), func(ctx context.Context) (calendarRows, error) {
		return s.loadCalendar(ctx, agencyID, ids, q)
	})
}

// loadCalendar is calendarPosts from the database.
func (s *Service) loadCalendar(ctx context.Context, agencyID string, workspaceIDs []string, q CalendarQuery) (calendarRows, error) {
	res := calendarRows{Posts: []Post{}}
	args := []any{agencyID, store.ToMicros(q.From), store.ToMicros(q.To)}
	marks := make([]string, 0, len(workspaceIDs))
	for _, id := range workspaceIDs {
		args = append(args, id)
		marks = append(marks, "?")
	}
	sql := `SELECT ` + postColumns + ` FROM portal_posts WHERE agency_id = ? AND scheduled_at >= ? AND scheduled_at < ?
		AND workspace_id IN (` + strings.Join(marks, ", ") + `) AND status <> ?`
	args = append(args, PostDraft)
	if q.AccountID != "" {
		sql += ` AND id IN (SELECT post_id FROM portal_post_targets WHERE agency_id = ? AND account_id = ?)`
		args = append(args, agencyID, q.AccountID)
	}
	if q.Label != "" {
		sql += ` AND id IN (SELECT post_id FROM portal_post_labels WHERE agency_id = ? AND label = ?)`
		args = append(args, agencyID, normalizeLabel(q.Label))
	}
	switch q.Status {
	case "":
	case PostPublishing:
		// Stored as scheduled; which of them are publishing is decided below.
		sql += ` AND status = ?`
		args = append(args, PostScheduled)
	default:
		sql += ` AND status = ?`
		args = append(args, q.Status)
	}
	rows, err := s.db.Query(ctx, sql+` ORDER BY scheduled_at, id LIMIT ?`, append(args, maxCalendarPosts+1)...)
	if err != nil {
		return calendarRows{}, err
	}
	for rows.Next() {
		post, err := scanPost(rows)
		if err != nil {
			rows.Close()
			return calendarRows{}, err
		}
		res.Posts = append(res.Posts, post)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return calendarRows{}, err
	}
	if len(res.Posts) > maxCalendarPosts {
		res.Posts, res.Truncated = res.Posts[:maxCalendarPosts], true
	}
	if err := s.fillPosts(ctx, s.db, agencyID, res.Posts); err != nil {
		return calendarRows{}, err
	}
	return res, nil
}

// Calendar lists the posts of q's range, earliest first.
func (s *Service) Calendar(ctx context.Context, p *Principal, q CalendarQuery) (CalendarResult, error) {
	if err := q.check(); err != nil {
		return CalendarResult{}, err
	}
	res := CalendarResult{Workspaces: map[string]Workspace{}, Posts: []Post{}}
	if q.WorkspaceID != "" {
		ws, err := s.authorize(ctx, s.db, p, q.WorkspaceID, actReadPosts)
		if err != nil {
			return CalendarResult{}, err
		}
		res.Workspaces[ws.ID] = ws
	} else {
		all, err := s.ListWorkspaces(ctx, p)
		if err != nil {
			return CalendarResult{}, err
		}
		for _, ws := range all {
			if ws.Role.can(actReadPosts) {
				res.Workspaces[ws.ID] = ws
			}
		}
	}
	if len(res.Workspaces) == 0 {
		return res, nil
	}
	stored, err := s.calendarPosts(ctx, p.AgencyID, res.Workspaces, q)
	if err != nil {
		return CalendarResult{}, err
	}
	res.Posts, res.Truncated = stored.Posts, stored.Truncated
	now := time.Now()
	kept := res.Posts[:0]
	for _, post := range res.Posts {
		post.Status = shownStatus(post, now)
		// A scheduled post whose time came is shown as publishing: the
		// status filter is of what the reader sees.
		if q.Status == "" || post.Status == q.Status {
			kept = append(kept, post)
		}
	}
	res.Posts = kept
	return res, nil
}

// RescheduleToDay moves a one-shot post to another day, keeping its wall
// time of day in loc (the zone the calendar is shown in). It goes through
// UpdatePost, so Trigger is told at once and approvals apply as for any
// edit. A published, failed or repeating post, or a day whose time would
// be past, is refused and nothing changes.
func (s *Service) RescheduleToDay(ctx context.Context, p *Principal, postID, day string, loc *time.Location, now time.Time) (Post, error) {
	post, err := s.GetPost(ctx, p, postID)
	if err != nil {
		return Post{}, err
	}
	ws, err := s.authorize(ctx, s.db, p, post.WorkspaceID, actWritePosts)
	if err != nil {
		return Post{}, err
	}
	switch {
	case post.Kind == KindDraft:
		return Post{}, errs.E(errs.Conflict, "a draft has no time to move; schedule it from its edit page")
	case post.Kind != KindOnce:
		return Post{}, errs.E(errs.Conflict, "a repeating or queued post moves by editing its schedule, not by dragging it")
	}
	switch post.Status {
	case PostScheduled, PostPendingApproval, PostApproved, PostSkipped:
	case PostPublished, PostPartiallyFailed:
		return Post{}, errs.E(errs.Conflict, "this post was already published; it cannot be moved")
	case PostPublishing:
		return Post{}, errs.E(errs.Conflict, "this post is being published now; it cannot be moved")
	default:
		return Post{}, errs.E(errs.Conflict, "a %s post cannot be moved", statusLabel(post.Status))
	}
	at, err := moveToDay(post.ScheduledAt, day, loc)
	if err != nil {
		return Post{}, err
	}
	if !at.After(now) {
		return Post{}, errs.Fields{"day": fmt.Sprintf("%s at %s is in the past; a post can only move to a time to come",
			at.In(loc).Format("Mon 2 Jan 2006"), at.In(loc).Format("15:04"))}.Err()
	}
	wsLoc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return Post{}, fmt.Errorf("portal: workspace %s zone %q: %w", ws.ID, ws.Timezone, err)
	}
	wall := formatWall(at.In(wsLoc))
	up := PostUpdate{ScheduledAt: &wall}
	if post.SkipLate > 0 {
		// A new time is a new schedule: the late limit the post had stays.
		skip := post.SkipLate.String()
		up.SkipIfLaterThan = &skip
	}
	return s.UpdatePost(ctx, p, postID, up)
}

// moveToDay is the instant on day (YYYY-MM-DD) at the wall time of day t
// shows in loc. A time of day the clocks skip on that day is refused.
func moveToDay(t time.Time, day string, loc *time.Location) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, errs.Fields{"day": fmt.Sprintf("must be a date like 2026-12-01, not %q", day)}.Err()
	}
	local := t.In(loc)
	wall := time.Date(d.Year(), d.Month(), d.Day(), local.Hour(), local.Minute(), local.Second(), 0, time.UTC)
	at, err := resolveLocal(wall, loc)
	if err != nil {
		return time.Time{}, errs.Fields{"day": err.Error()}.Err()
	}
	return at, nil
}
