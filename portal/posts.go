package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Post statuses. A post is stored as scheduled while any target is still
// pending; it is shown as publishing once its time has come, and settles
// as published, failed or partially_failed when every target has an
// outcome.
const (
	// PostDraft: saved without a schedule; it goes nowhere until scheduled.
	PostDraft           = "draft"
	PostScheduled       = "scheduled"
	PostPublishing      = "publishing"
	PostPublished       = "published"
	PostFailed          = "failed"
	PostPartiallyFailed = "partially_failed"
	// PostSkipped: a one-shot post that fell due during an outage and
	// would have gone out later than its late limit; it can be given a
	// new time.
	PostSkipped = "skipped"
)

// Target statuses.
const (
	TargetPending   = "pending"
	TargetPublished = "published"
	TargetFailed    = "failed"
	TargetSkipped   = "skipped"
)

// Limits of one post's input.
const (
	maxTextBytes   = 100_000
	maxPostTargets = 50
	maxPostMedia   = 20
	// maxScheduleAhead refuses typos like year 3026.
	maxScheduleAhead = 10 * 366 * 24 * time.Hour
)

// Post is a post with its targets.
type Post struct {
	ID          string
	WorkspaceID string
	Text        string
	Revision    int64
	// Status is one of the Post* constants.
	Status string
	// ScheduledAt is the instant (UTC); LocalTime the wall time in Zone.
	ScheduledAt time.Time
	LocalTime   string
	Zone        string
	AccountIDs  []string
	MediaIDs    []string
	Targets     []Target
	// Thread are the texts published after Text, each a reply to the one
	// before; FirstComment is published as a comment on the post. Both
	// only on networks that take them.
	Thread       []string
	FirstComment string
	// Variants replace parts of the content on one network each, by
	// network name; UTM tags the links at publish time.
	Variants map[string]Variant
	UTM      UTM

	// Kind is one of the Kind* constants. For a recurring or queued post
	// ScheduledAt is its next firing (zero while a queued post waits for
	// Trigger to name its slot).
	Kind string
	// The recurrence of a recurring post, in Zone.
	RRule      string
	StartLocal string
	Exceptions []string
	SkipLate   time.Duration
	// The queue of a queued post; Held while the queue holds its slots.
	QueueID   string
	Evergreen bool
	Held      bool
	// Finished: a recurring or queued post's last firing has come.
	Finished   bool
	LastDueAt  time.Time
	FiredCount int64
	// Firings are the latest firings of a recurring or queued post, newest
	// first (GetPost only).
	Firings []Firing

	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time

	// Labels file the post for the calendar's filter (lower-case, sorted).
	Labels []string
}

// Target is a post's outcome on one account.
type Target struct {
	AccountID string
	Network   string
	// Status is one of the Target* constants.
	Status    string
	RemoteID  string
	RemoteURL string
	Error     string
	UpdatedAt time.Time
}

// Firing is one firing of a recurring or queued post: its outcome on each
// target account.
type Firing struct {
	DueAt   time.Time
	Targets []Target
}

// PostInput creates a post. Exactly one of ScheduledAt (a wall time in the
// workspace's zone, "2026-12-01T09:30"), PublishNow, Repeat, QueueID and
// Draft is given.
type PostInput struct {
	Text         string
	Thread       []string
	FirstComment string
	AccountIDs   []string
	MediaIDs     []string
	// Variants are the post's content per network where it differs.
	Variants    map[string]Variant
	UTM         UTM
	ScheduledAt string
	PublishNow  bool
	Repeat      *RepeatInput
	// QueueID adds the post to a queue; Evergreen asks the queue to
	// recycle it.
	QueueID   string
	Evergreen bool
	// Draft saves the post without a schedule.
	Draft bool
	// SkipIfLaterThan ("2h", with ScheduledAt): after an outage, the post
	// is skipped rather than published later than this.
	SkipIfLaterThan string

	// Labels file the post for the calendar (see calendar_labels.go).
	Labels []string
}

func (in PostInput) when() When {
	w := When{PublishNow: in.PublishNow, Repeat: in.Repeat, Evergreen: in.Evergreen, Draft: in.Draft}
	if in.ScheduledAt != "" {
		w.ScheduledAt = &in.ScheduledAt
	}
	if in.SkipIfLaterThan != "" {
		w.SkipIfLaterThan = &in.SkipIfLaterThan
	}
	if in.QueueID != "" {
		w.QueueID = &in.QueueID
	}
	return w
}

// PostUpdate edits a scheduled post or a draft; nil fields stay as they
// are. Giving any part of When replaces how the post is scheduled.
type PostUpdate struct {
	Text *string
	// Thread replaces the thread's parts (an empty list removes them);
	// FirstComment the first comment ("" removes it).
	Thread       *[]string
	FirstComment *string
	// Variants replaces every variant (an empty map removes them); UTM the
	// link tagging.
	Variants    *map[string]Variant
	UTM         *UTM
	AccountIDs  []string
	ScheduledAt *string
	PublishNow  bool
	Repeat      *RepeatInput
	QueueID     *string
	Evergreen   bool
	// Draft takes the post off its schedule, back to a draft.
	Draft bool
	// SkipIfLaterThan goes with ScheduledAt, as in PostInput.
	SkipIfLaterThan *string

	// Labels replaces the labels (an empty list removes them).
	Labels *[]string
}

func (up PostUpdate) when() When {
	return When{ScheduledAt: up.ScheduledAt, PublishNow: up.PublishNow, Repeat: up.Repeat, QueueID: up.QueueID,
		Evergreen: up.Evergreen, Draft: up.Draft, SkipIfLaterThan: up.SkipIfLaterThan}
}

// checkText validates a post's text.
// maxThreadParts bounds a thread, its first post included.
const maxThreadParts = 25

// checkParts checks a thread's parts and a first comment.
func checkParts(v *errs.Fields, thread []string, firstComment string) {
	if len(thread)+1 > maxThreadParts {
		v.Add("thread", "may have at most %d parts after the post", maxThreadParts-1)
		return
	}
	for i, t := range thread {
		switch {
		case strings.TrimSpace(t) == "":
			v.Add(fmt.Sprintf("thread[%d]", i), "must not be empty")
		case len(t) > maxTextBytes:
			v.Add(fmt.Sprintf("thread[%d]", i), "is too long")
		}
	}
	if len(firstComment) > maxTextBytes {
		v.Add("first_comment", "is too long")
	}
}

// encodeThread stores a thread's parts (” for none).
func encodeThread(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

func decodeThread(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

func checkText(v *errs.Fields, text string) {
	switch {
	case strings.TrimSpace(text) == "":
		v.Add("text", "must not be empty")
	case len(text) > maxTextBytes:
		v.Add("text", "is too long")
	}
}

// scheduleTime resolves the requested time of a post in loc.
func scheduleTime(v *errs.Fields, scheduledAt *string, publishNow bool, loc *time.Location, now time.Time) (time.Time, bool) {
	switch {
	case scheduledAt != nil && publishNow:
		v.Add("publish_now", "cannot be combined with scheduled_at")
		return time.Time{}, false
	case publishNow:
		return now.In(loc).Truncate(time.Second), true
	case scheduledAt == nil || strings.TrimSpace(*scheduledAt) == "":
		v.Add("scheduled_at", "is required unless publish_now is true")
		return time.Time{}, false
	}
	wall, err := parseWall(strings.TrimSpace(*scheduledAt))
	if err == nil {
		var at time.Time
		if at, err = resolveLocal(wall, loc); err == nil {
			switch {
			case at.Before(now):
				v.Add("scheduled_at", "%s in %s is in the past", formatWall(at), loc)
				return time.Time{}, false
			case at.After(now.Add(maxScheduleAhead)):
				v.Add("scheduled_at", "is more than ten years ahead")
				return time.Time{}, false
			}
			return at, true
		}
	}
	v.Add("scheduled_at", "%s", err.Error())
	return time.Time{}, false
}

type targetAccount struct {
	id, network string
}

// checkAccounts loads the post's target accounts, all of which must belong
// to the workspace.
func (s *Service) checkAccounts(ctx context.Context, v *errs.Fields, agencyID, workspaceID string, ids []string) []targetAccount {
	if len(ids) == 0 {
		v.Add("account_ids", "choose at least one account")
		return nil
	}
	if len(ids) > maxPostTargets {
		v.Add("account_ids", "at most %d accounts", maxPostTargets)
		return nil
	}
	out := make([]targetAccount, 0, len(ids))
	seen := map[string]bool{}
	for i, aid := range ids {
		field := "account_ids[" + strconv.Itoa(i) + "]"
		if seen[aid] {
			v.Add(field, "is listed twice")
			continue
		}
		seen[aid] = true
		var network string
		err := s.db.QueryRow(ctx, `SELECT network FROM portal_accounts WHERE agency_id = ? AND workspace_id = ? AND id = ?`,
			agencyID, workspaceID, aid).Scan(&network)
		if errors.Is(err, store.ErrNoRows) {
			v.Add(field, "is not an account of this workspace")
			continue
		}
		if err != nil {
			v.Add(field, "could not be checked")
			s.log.Error("checking post account", "account_id", aid, "err", err)
			continue
		}
		out = append(out, targetAccount{id: aid, network: network})
	}
	return out
}

// checkMedia loads the post's media, all of which must belong to the
// workspace.
func (s *Service) checkMedia(ctx context.Context, v *errs.Fields, agencyID, workspaceID string, ids []string) []Media {
	if len(ids) > maxPostMedia {
		v.Add("media_ids", "at most %d media", maxPostMedia)
		return nil
	}
	out := make([]Media, 0, len(ids))
	seen := map[string]bool{}
	for i, mid := range ids {
		field := "media_ids[" + strconv.Itoa(i) + "]"
		if seen[mid] {
			v.Add(field, "is listed twice")
			continue
		}
		seen[mid] = true
		m, err := scanMedia(s.db.QueryRow(ctx, `SELECT `+mediaColumns+` FROM portal_media WHERE agency_id = ? AND workspace_id = ? AND id = ?`,
			agencyID, workspaceID, mid))
		if errors.Is(err, store.ErrNoRows) {
			v.Add(field, "is not a media file of this workspace")
			continue
		}
		if err != nil {
			v.Add(field, "could not be checked")
			s.log.Error("checking post media", "media_id", mid, "err", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// validateContent asks Publisher whether each target network takes the
// content, adding its violations as field errors ("media[0]" becomes
// "media_ids[0]", the input field the user gave).
func (s *Service) validateContent(ctx context.Context, v *errs.Fields, text string, accounts []targetAccount, media []Media) error {
	return s.validateOn(ctx, v, text, networkNames(accounts), media)
}

// validateOn is validateContent for the networks names.
func (s *Service) validateOn(ctx context.Context, v *errs.Fields, text string, names []string, media []Media) error {
	pm := make([]*publisherv1.Media, len(media))
	for i, m := range media {
		pm[i] = &publisherv1.Media{MimeType: m.MimeType, SizeBytes: m.SizeBytes, Description: m.Description}
	}
	for _, n := range names {
		res, err := s.publisher.Validate(ctx, &publisherv1.ValidateRequest{Network: n, Text: text, Media: pm})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errs.Wrap(err, errs.Unavailable, "the post could not be checked right now; try again shortly")
		}
		for _, viol := range res.GetViolations() {
			field := viol.GetField()
			if rest, ok := strings.CutPrefix(field, "media"); ok {
				field = "media_ids" + rest
			}
			if field == "" {
				field = "text"
			}
			msg := viol.GetMessage()
			if len(names) > 1 {
				msg = n + ": " + msg
			}
			v.Add(field, "%s", msg)
		}
	}
	return nil
}

// validateParts checks a thread's parts and first comment against the
// networks of accounts: that each takes them, and each part's text.
func (s *Service) validateParts(ctx context.Context, v *errs.Fields, thread []string, firstComment string, accounts []targetAccount) error {
	return s.validatePartsOn(ctx, v, thread, firstComment, networkNames(accounts))
}

// validatePartsOn is validateParts for the networks names.
func (s *Service) validatePartsOn(ctx context.Context, v *errs.Fields, thread []string, firstComment string, names []string) error {
	if len(thread) == 0 && firstComment == "" || len(names) == 0 {
		return nil
	}
	for _, n := range names {
		res, err := s.publisher.Validate(ctx, &publisherv1.ValidateRequest{Network: n, Text: "-"})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errs.Wrap(err, errs.Unavailable, "the post could not be checked right now; try again shortly")
		}
		if len(thread) > 0 && !res.GetLimits().GetThreads() {
			v.Add("thread", "%s does not take threads", n)
		}
		if firstComment != "" && !res.GetLimits().GetFirstComment() {
			v.Add("first_comment", "%s does not take a first comment", n)
		}
	}
	check := func(field, text string) error {
		var sub errs.Fields
		if err := s.validateOn(ctx, &sub, text, names, nil); err != nil {
			return err
		}
		for _, msg := range sub {
			v.Add(field, "%s", msg)
		}
		return nil
	}
	for i, t := range thread {
		if err := check(fmt.Sprintf("thread[%d]", i), t); err != nil {
			return err
		}
	}
	if firstComment != "" {
		return check("first_comment", firstComment)
	}
	return nil
}

// doCreatePost validates a post, stores it and schedules it with Trigger. If
// Trigger refuses the schedule (a bad rule, an unknown queue) the error
// names the input's fields; if it cannot be reached the error is
// Unavailable. Either way the post is not kept. A draft is only stored.
func (s *Service) doCreatePost(ctx context.Context, p *Principal, workspaceID string, in PostInput) (Post, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	if err != nil {
		return Post{}, err
	}
	c, err := s.checkNewPost(ctx, p, ws, in, nil)
	if err != nil {
		return Post{}, err
	}
	return s.createChecked(ctx, p, ws, c)
}

// checkedPost is a new post's input found sound, with what it refers to.
type checkedPost struct {
	in       PostInput
	accounts []targetAccount
	media    []Media
	plan     plan
}

// checkNewPost checks a new post's input field by field and changes
// nothing. unstored are media not in the library yet (an import's files
// fetched by URL), checked as if the post had them after in.MediaIDs.
func (s *Service) checkNewPost(ctx context.Context, p *Principal, ws Workspace, in PostInput, unstored []Media) (checkedPost, error) {
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return checkedPost{}, fmt.Errorf("portal: workspace %s zone %q: %w", ws.ID, ws.Timezone, err)
	}
	if in.QueueID != "" && len(in.AccountIDs) == 0 {
		// A post added to a queue goes, unless told otherwise, to the
		// accounts the queue posts to.
		if q, err := s.workspaceQueue(ctx, p.AgencyID, ws.ID, in.QueueID); err == nil {
			in.AccountIDs = q.GetAccountIds()
		}
	}
	var v errs.Fields
	in.Labels = checkLabels(&v, in.Labels)
	checkText(&v, in.Text)
	checkParts(&v, in.Thread, in.FirstComment)
	checkUTM(&v, in.UTM)
	accounts := s.checkAccounts(ctx, &v, p.AgencyID, ws.ID, in.AccountIDs)
	media := s.checkMedia(ctx, &v, p.AgencyID, ws.ID, in.MediaIDs)
	if n := len(in.MediaIDs) + len(unstored); len(unstored) > 0 && n > maxPostMedia {
		v.Add("media_ids", "at most %d media", maxPostMedia)
	}
	pl, _ := s.planWhen(ctx, &v, p.AgencyID, ws, in.when(), loc, time.Now())
	// Publisher is asked only about content that is otherwise sound: its
	// answers about an unknown account's network would be noise.
	// A network's variant is checked instead of the post's own content
	// there.
	own := Post{Text: in.Text, Thread: in.Thread, FirstComment: in.FirstComment, UTM: in.UTM}
	allMedia := append(slices.Clip(media), unstored...)
	contentDone, partsDone, err := s.checkVariants(ctx, &v, p.AgencyID, ws.ID, own, allMedia, in.Variants, accounts)
	if err != nil {
		return checkedPost{}, err
	}
	if len(v) == 0 {
		nets := networkNames(accounts)
		if err := s.validateTagged(ctx, &v, in.Text, others(nets, contentDone), allMedia, in.UTM); err != nil {
			return checkedPost{}, err
		}
		if err := s.validatePartsOn(ctx, &v, in.Thread, in.FirstComment, others(nets, partsDone)); err != nil {
			return checkedPost{}, err
		}
	}
	if err := v.Err(); err != nil {
		return checkedPost{}, err
	}
	return checkedPost{in: in, accounts: accounts, media: media, plan: pl}, nil
}

// createChecked writes a checked post and hands it to its approvers or to
// Trigger.
func (s *Service) createChecked(ctx context.Context, p *Principal, ws Workspace, c checkedPost) (Post, error) {
	in, accounts, media, pl, workspaceID := c.in, c.accounts, c.media, c.plan, ws.ID
	now := time.Now().UTC()
	post := Post{ID: id.New("post"), WorkspaceID: workspaceID, Text: in.Text, Thread: in.Thread, FirstComment: in.FirstComment,
		Variants: in.Variants, UTM: in.UTM, Revision: 1, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	pl.apply(&post)
	post.Labels = in.Labels
	policy, err := approvalPolicy(ctx, s.db, p.AgencyID, workspaceID)
	if err != nil {
		return Post{}, err
	}
	review := post.Kind != KindDraft && policy != PolicyNone
	if review {
		// Under an approval policy the post waits for its approvers;
		// Trigger hears of it only once it is approved.
		post.Status = PostPendingApproval
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		s.markStale(ctx, tx, postsScope(p.AgencyID, post.WorkspaceID))
		if err := insertPost(ctx, tx, p.AgencyID, post, accounts, media); err != nil {
			return err
		}
		if len(post.Labels) > 0 {
			if err := setLabels(ctx, tx, p.AgencyID, post.ID, post.Labels); err != nil {
				return err
			}
		}
		if review {
			return s.submitForApproval(ctx, tx, p, post, policy, in.PublishNow, now)
		}
		return nil
	})
	if err != nil {
		return Post{}, err
	}
	if post.Kind == KindDraft || review {
		return s.GetPost(ctx, p, post.ID)
	}

	sch, err := s.schedule(ctx, p.AgencyID, post)
	if err != nil {
		s.log.Warn("trigger refused a new post; removing it", "post_id", post.ID, "err", err)
		// The post was committed first because Trigger may fire at once and
		// Publisher then asks for it. Now it goes, and in case Trigger did
		// take the schedule and only the answer was lost, it is cancelled:
		// were that to fail too, the firing finds no post and is dropped.
		bg := context.WithoutCancel(ctx)
		if _, derr := s.db.Exec(bg, `DELETE FROM portal_posts WHERE agency_id = ? AND id = ?`, p.AgencyID, post.ID); derr != nil {
			s.log.Error("removing a post Trigger did not schedule", "post_id", post.ID, "err", derr)
		}
		s.invalidate(bg, postsScope(p.AgencyID, post.WorkspaceID))
		s.cancelSchedule(bg, p.AgencyID, post.ID)
		return Post{}, describeTriggerError(err, post.Kind, "scheduling is unavailable right now; the post was not saved, try again shortly")
	}
	s.markSynced(ctx, p.AgencyID, post, sch)
	return s.GetPost(ctx, p, post.ID)
}

// insertPost writes a new post with its targets and media, unsynced
// unless it is a draft.
func insertPost(ctx context.Context, tx *store.Tx, agencyID string, post Post, accounts []targetAccount, media []Media) error {
	if _, err := tx.Exec(ctx, `INSERT INTO portal_posts (id, agency_id, workspace_id, text, revision, status, scheduled_at, local_time, zone,
			schedule_synced, created_by, created_at, updated_at, kind, rrule, start_local, exdates, skip_late_s, queue_id, evergreen,
			thread, first_comment, utm)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		post.ID, agencyID, post.WorkspaceID, post.Text, post.Revision, post.Status, toMicrosOrZero(post.ScheduledAt), post.LocalTime,
		post.Zone, post.Kind == KindDraft, post.CreatedBy, store.ToMicros(post.CreatedAt), store.ToMicros(post.UpdatedAt),
		post.Kind, post.RRule, post.StartLocal, joinLines(post.Exceptions), int64(post.SkipLate/time.Second), post.QueueID, post.Evergreen,
		encodeThread(post.Thread), post.FirstComment, encodeUTM(post.UTM)); err != nil {
		return err
	}
	if err := writeVariants(ctx, tx, post.ID, post.Variants); err != nil {
		return err
	}
	return insertTargets(ctx, tx, agencyID, post.ID, accounts, media, post.CreatedAt)
}

// insertTargets writes a post's target accounts (pending) and media.
func insertTargets(ctx context.Context, tx *store.Tx, agencyID, postID string, accounts []targetAccount, media []Media, now time.Time) error {
	for _, a := range accounts {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_post_targets (post_id, account_id, agency_id, network, status, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, postID, a.id, agencyID, a.network, TargetPending, store.ToMicros(now)); err != nil {
			return err
		}
	}
	for i, m := range media {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_post_media (post_id, position, media_id) VALUES (?, ?, ?)`, postID, i, m.ID); err != nil {
			return err
		}
	}
	return nil
}

// toMicrosOrZero stores the zero time as 0 (a draft, a queued post before
// its slot is known).
func toMicrosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.ToMicros(t)
}

func fromMicrosOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

// schedule asks Trigger to fire the post's current revision as its kind
// says.
func (s *Service) schedule(ctx context.Context, agencyID string, p Post) (*triggerv1.Schedule, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TriggerTimeout)
	defer cancel()
	res, err := s.trigger.Schedule(ctx, scheduleRequest(agencyID, p))
	if err != nil {
		return nil, err
	}
	return res.GetSchedule(), nil
}

func (s *Service) cancelSchedule(ctx context.Context, agencyID, postID string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TriggerTimeout)
	defer cancel()
	if _, err := s.trigger.Cancel(ctx, &triggerv1.CancelRequest{TenantId: agencyID, ScheduleId: postID}); err != nil {
		s.log.Warn("cancelling schedule", "post_id", postID, "err", err)
	}
}

// markSynced records that Trigger holds the schedule of this revision and,
// for a recurring or queued post, the next firing Trigger gave it. A
// failure only means the resync loop sends it again.
func (s *Service) markSynced(ctx context.Context, agencyID string, p Post, sch *triggerv1.Schedule) {
	q := `UPDATE portal_posts SET schedule_synced = ? WHERE agency_id = ? AND id = ? AND revision = ?`
	args := []any{true, agencyID, p.ID, p.Revision}
	if at, local, zone, ok := nextFromSchedule(p, sch); ok {
		q = `UPDATE portal_posts SET schedule_synced = ?, scheduled_at = ?, local_time = ?, zone = ?, held = ?
			WHERE agency_id = ? AND id = ? AND revision = ?`
		args = []any{true, store.ToMicros(at), local, zone, sch.GetState() == triggerv1.ScheduleState_SCHEDULE_STATE_HELD,
			agencyID, p.ID, p.Revision}
	}
	if _, err := s.db.Exec(context.WithoutCancel(ctx), q, args...); err != nil {
		s.log.Warn("marking schedule synced", "post_id", p.ID, "err", err)
	}
	s.invalidate(ctx, postsScope(agencyID, p.WorkspaceID))
}

const postColumns = `id, workspace_id, text, revision, status, scheduled_at, local_time, zone, created_by, created_at, updated_at,
	kind, rrule, start_local, exdates, skip_late_s, queue_id, evergreen, held, finished, last_due_at, fired_count,
	thread, first_comment, utm`

func scanPost(sc interface{ Scan(...any) error }) (Post, error) {
	var p Post
	var at, c, u, skip, last int64
	var exdates, thread, utm string
	err := sc.Scan(&p.ID, &p.WorkspaceID, &p.Text, &p.Revision, &p.Status, &at, &p.LocalTime, &p.Zone, &p.CreatedBy, &c, &u,
		&p.Kind, &p.RRule, &p.StartLocal, &exdates, &skip, &p.QueueID, &p.Evergreen, &p.Held, &p.Finished, &last, &p.FiredCount,
		&thread, &p.FirstComment, &utm)
	p.Thread, p.UTM = decodeThread(thread), decodeUTM(utm)
	p.ScheduledAt, p.CreatedAt, p.UpdatedAt = fromMicrosOrZero(at), store.FromMicros(c), store.FromMicros(u)
	p.Exceptions, p.SkipLate, p.LastDueAt = splitLines(exdates), time.Duration(skip)*time.Second, fromMicrosOrZero(last)
	return p, err
}

// shownStatus is the status a reader sees: a scheduled post whose time has
// come is being published. A held or unplaced queued post waits.
func shownStatus(p Post, now time.Time) string {
	if p.Status == PostScheduled && !p.ScheduledAt.IsZero() && !p.Held && !p.ScheduledAt.After(now) {
		return PostPublishing
	}
	return p.Status
}

// loadPost reads a post of the agency without access checks.
func (s *Service) loadPost(ctx context.Context, q store.Querier, agencyID, postID string) (Post, error) {
	p, err := scanPost(q.QueryRow(ctx, `SELECT `+postColumns+` FROM portal_posts WHERE agency_id = ? AND id = ?`, agencyID, postID))
	if err != nil {
		return Post{}, store.NotFound(err, "post")
	}
	return p, nil
}

// postsIn is what a query of several posts' rows needs: each post's index
// by id, the arguments (agencyID, then the ids) and the "(?, ?, ...)" of
// an IN clause.
func postsIn(agencyID string, posts []Post) (idx map[string]int, args []any, in string) {
	idx = make(map[string]int, len(posts))
	args = []any{agencyID}
	marks := make([]string, len(posts))
	for i := range posts {
		idx[posts[i].ID] = i
		args = append(args, posts[i].ID)
		marks[i] = "?"
	}
	return idx, args, "(" + strings.Join(marks, ", ") + ")"
}

// fillPosts loads the targets and media of posts.
func (s *Service) fillPosts(ctx context.Context, q store.Querier, agencyID string, posts []Post) error {
	if len(posts) == 0 {
		return nil
	}
	if err := fillLabels(ctx, q, agencyID, posts); err != nil {
		return err
	}
	idx, args, in := postsIn(agencyID, posts)
	for i := range posts {
		posts[i].AccountIDs, posts[i].MediaIDs, posts[i].Targets = []string{}, []string{}, []Target{}
	}
	rows, err := q.Query(ctx, `SELECT post_id, account_id, network, status, remote_id, remote_url, error, updated_at FROM portal_post_targets
		WHERE agency_id = ? AND post_id IN `+in+` ORDER BY post_id, account_id`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pid string
		var t Target
		var u int64
		if err := rows.Scan(&pid, &t.AccountID, &t.Network, &t.Status, &t.RemoteID, &t.RemoteURL, &t.Error, &u); err != nil {
			rows.Close()
			return err
		}
		t.UpdatedAt = store.FromMicros(u)
		p := &posts[idx[pid]]
		p.Targets = append(p.Targets, t)
		p.AccountIDs = append(p.AccountIDs, t.AccountID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// portal_post_media has no agency_id: the post ids are already the agency's.
	rows, err = q.Query(ctx, `SELECT post_id, media_id FROM portal_post_media WHERE post_id IN `+in+` ORDER BY post_id, position`, args[1:]...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pid, mid string
		if err := rows.Scan(&pid, &mid); err != nil {
			rows.Close()
			return err
		}
		p := &posts[idx[pid]]
		p.MediaIDs = append(p.MediaIDs, mid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ids := make([]string, len(posts))
	for i := range posts {
		ids[i] = posts[i].ID
	}
	vars, err := loadVariants(ctx, q, ids)
	if err != nil {
		return err
	}
	for pid, vs := range vars {
		posts[idx[pid]].Variants = vs
	}
	return nil
}

// GetPost returns a post with its targets.
func (s *Service) GetPost(ctx context.Context, p *Principal, postID string) (Post, error) {
	post, err := s.loadPost(ctx, s.db, p.AgencyID, postID)
	if err != nil {
		return Post{}, err
	}
	if _, err := s.authorize(ctx, s.db, p, post.WorkspaceID, actReadPosts); err != nil {
		return Post{}, err
	}
	posts := []Post{post}
	if err := s.fillPosts(ctx, s.db, p.AgencyID, posts); err != nil {
		return Post{}, err
	}
	posts[0].Status = shownStatus(posts[0], time.Now())
	if repeating(posts[0].Kind) {
		if posts[0].Firings, err = s.firings(ctx, s.db, p.AgencyID, postID, shownFirings); err != nil {
			return Post{}, err
		}
	}
	return posts[0], nil
}

// ListPosts lists a workspace's posts, latest scheduled first, at most limit
// (1 to 500; 0 means 100).
// Drafts come first.
func (s *Service) ListPosts(ctx context.Context, p *Principal, workspaceID string, limit int) ([]Post, error) {
	return s.ListPostsByStatus(ctx, p, workspaceID, "", limit)
}

// postStatuses are the stored statuses a list can be narrowed to.
var postStatuses = []string{PostDraft, PostPendingApproval, PostApproved, PostScheduled, PostPublished, PostFailed, PostPartiallyFailed, PostSkipped}

// ListPostsByStatus is ListPosts narrowed to one stored status ("" for
// all).
func (s *Service) ListPostsByStatus(ctx context.Context, p *Principal, workspaceID, status string, limit int) ([]Post, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts); err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 500:
		return nil, errs.Fields{"limit": "must be between 1 and 500"}.Err()
	}
	if !validPostStatus(status) {
		return nil, errs.Fields{"status": "must be one of " + strings.Join(postStatuses, ", ")}.Err()
	}
	return s.readPosts(ctx, p, workspaceID, status, nil, ` ORDER BY CASE WHEN status = ? THEN 0 ELSE 1 END, scheduled_at DESC, id DESC LIMIT ?`,
		[]any{PostDraft, limit}, fmt.Sprintf("%s:%d", status, limit))
}

// PagePosts returns a page of a workspace's posts narrowed to one stored
// status ("" for all), newest created first: unlike ListPosts's order by
// schedule, creation never changes, so pages hold still while posts are
// edited and added (docs/decisions/0037).
func (s *Service) PagePosts(ctx context.Context, p *Principal, workspaceID, status string, req PageRequest) ([]Post, string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts); err != nil {
		return nil, "", err
	}
	var v errs.Fields
	if !validPostStatus(status) {
		v.Add("status", "must be one of %s", strings.Join(postStatuses, ", "))
	}
	pg := s.checkPage(&v, "posts:"+p.AgencyID+":"+workspaceID+":"+status, req)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	cond, condArgs := pg.where("created_at", "id", true)
	// Every page has its own entry; the workspace's generation drops them
	// all at once, as for the lists above.
	key := fmt.Sprintf("page:%s:%d", status, pg.limit)
	if pg.after != nil {
		key += fmt.Sprintf(":%d:%s", pg.after.At, pg.after.ID)
	}
	posts, err := s.readPosts(ctx, p, workspaceID, status, condArgs, cond+` ORDER BY created_at DESC, id DESC LIMIT ?`, []any{pg.limit + 1}, key)
	if err != nil {
		return nil, "", err
	}
	posts, next := pageNext(s, pg, posts, func(post Post) pagePlace { return pagePlace{At: store.ToMicros(post.CreatedAt), ID: post.ID} })
	return posts, next, nil
}

func validPostStatus(status string) bool {
	return status == "" || slices.Contains(postStatuses, status)
}

// readPosts reads a workspace's posts (of status, if not "") through the
// cache: tail is the query's end (condition, order, limit) with its
// arguments split around the status filter, and key names the list
// within the workspace's generation.
func (s *Service) readPosts(ctx context.Context, p *Principal, workspaceID, status string, condArgs []any, tail string, tailArgs []any, key string) ([]Post, error) {
	q := `SELECT ` + postColumns + ` FROM portal_posts WHERE agency_id = ? AND workspace_id = ?`
	args := []any{p.AgencyID, workspaceID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	args = append(append(args, condArgs...), tailArgs...)
	// Cached as stored: the status shown depends on the time of the read.
	scope := postsScope(p.AgencyID, workspaceID)
	posts, err := s.reads.posts.Get(ctx, scope+":"+s.reads.c.Generation(ctx, scope)+":"+key, func(ctx context.Context) ([]Post, error) {
		rows, err := s.db.Query(ctx, q+tail, args...)
		if err != nil {
			return nil, err
		}
		posts := []Post{}
		for rows.Next() {
			post, err := scanPost(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			posts = append(posts, post)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return posts, s.fillPosts(ctx, s.db, p.AgencyID, posts)
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range posts {
		posts[i].Status = shownStatus(posts[i], now)
	}
	return posts, nil
}

var errNotEditable = errs.E(errs.Conflict, "only a draft, or a scheduled post whose time has not come yet, can be changed")

// doUpdatePost edits a post's text, accounts or schedule while it is a draft
// or scheduled and not yet due. Every edit makes a new revision and, unless
// the post is (or becomes) a draft, schedules it again with Trigger; if
// Trigger refuses or cannot take it, the post is left as it was.
func (s *Service) doUpdatePost(ctx context.Context, p *Principal, postID string, up PostUpdate) (Post, error) {
	old, err := s.GetPost(ctx, p, postID)
	if err != nil {
		return Post{}, err
	}
	ws, err := s.authorize(ctx, s.db, p, old.WorkspaceID, actWritePosts)
	if err != nil {
		return Post{}, err
	}
	switch old.Status {
	case PostScheduled, PostDraft, PostSkipped, PostPendingApproval, PostApproved:
	default:
		return Post{}, errNotEditable
	}
	if old.Finished {
		return Post{}, errNotEditable
	}
	w := up.when()
	if old.Status == PostSkipped && !w.given() {
		return Post{}, errs.Fields{"scheduled_at": "is required: the post was skipped, so it needs a new time (or publish_now, a queue or draft)"}.Err()
	}
	if old.Status == PostApproved && !w.given() {
		return Post{}, errs.Fields{"scheduled_at": "is required: the post was approved after its time had passed, so it needs a new time (or publish_now, a queue or draft)"}.Err()
	}
	if up.Text == nil && up.Thread == nil && up.FirstComment == nil && up.AccountIDs == nil && up.Labels == nil && up.Variants == nil && up.UTM == nil && !w.given() {
		return Post{}, errs.E(errs.Invalid, "nothing to change: give text, thread, first_comment, variants, utm, account_ids, labels or a schedule (scheduled_at, publish_now, repeat, queue_id or draft)")
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return Post{}, fmt.Errorf("portal: workspace %s zone %q: %w", ws.ID, ws.Timezone, err)
	}
	next := old
	var v errs.Fields
	if up.Labels != nil {
		next.Labels = checkLabels(&v, *up.Labels)
	}
	if up.Text != nil {
		checkText(&v, *up.Text)
		next.Text = *up.Text
	}
	if up.Thread != nil {
		next.Thread = *up.Thread
	}
	if up.FirstComment != nil {
		next.FirstComment = *up.FirstComment
	}
	if up.Thread != nil || up.FirstComment != nil {
		checkParts(&v, next.Thread, next.FirstComment)
	}
	if up.Variants != nil {
		next.Variants = *up.Variants
	}
	if up.UTM != nil {
		checkUTM(&v, *up.UTM)
		next.UTM = *up.UTM
	}
	accounts := make([]targetAccount, 0, len(old.Targets))
	for _, t := range old.Targets {
		accounts = append(accounts, targetAccount{id: t.AccountID, network: t.Network})
	}
	if up.AccountIDs != nil {
		if repeating(old.Kind) && old.FiredCount > 0 {
			v.Add("account_ids", "cannot change once the post has gone out; make a new post instead")
		} else {
			accounts = s.checkAccounts(ctx, &v, p.AgencyID, old.WorkspaceID, up.AccountIDs)
		}
	}
	if w.given() {
		if pl, ok := s.planWhen(ctx, &v, p.AgencyID, ws, w, loc, time.Now()); ok {
			pl.apply(&next)
		}
	}
	textChanged := up.Text != nil || up.AccountIDs != nil || up.Variants != nil || up.UTM != nil
	partsChanged := up.Thread != nil || up.FirstComment != nil || up.AccountIDs != nil || up.Variants != nil
	if len(v) == 0 && (textChanged || partsChanged) {
		media := s.checkMedia(ctx, &v, p.AgencyID, old.WorkspaceID, old.MediaIDs)
		// A network's variant is checked instead of the post's own
		// content there.
		contentDone, partsDone, err := s.checkVariants(ctx, &v, p.AgencyID, old.WorkspaceID, next, media, next.Variants, accounts)
		if err != nil {
			return Post{}, err
		}
		nets := networkNames(accounts)
		if len(v) == 0 && textChanged {
			if err := s.validateTagged(ctx, &v, next.Text, others(nets, contentDone), media, next.UTM); err != nil {
				return Post{}, err
			}
		}
		if len(v) == 0 && partsChanged {
			if err := s.validatePartsOn(ctx, &v, next.Thread, next.FirstComment, others(nets, partsDone)); err != nil {
				return Post{}, err
			}
		}
	}
	if err := v.Err(); err != nil {
		return Post{}, err
	}

	next.Revision = old.Revision + 1
	policy, err := approvalPolicy(ctx, s.db, p.AgencyID, old.WorkspaceID)
	if err != nil {
		return Post{}, err
	}
	// What changed, not what was sent: the web form sends the text with
	// every save, and an unchanged text keeps its approval.
	contentChanged := next.Text != old.Text || encodeThread(next.Thread) != encodeThread(old.Thread) ||
		next.FirstComment != old.FirstComment || !sameVariants(next.Variants, old.Variants) || next.UTM != old.UTM ||
		(up.AccountIDs != nil && !sameSet(up.AccountIDs, old.AccountIDs))
	var review, unreview func(tx *store.Tx) error
	next.Status, review, unreview = s.reviewOnEdit(ctx, p, old, next, policy, contentChanged, w, up.PublishNow)
	stored := func(p Post) string {
		if p.Kind == KindDraft {
			return PostDraft
		}
		return p.Status
	}
	write := func(ctx context.Context, from, to Post, targets []targetAccount, hook func(tx *store.Tx) error) error {
		return s.db.Tx(ctx, func(tx *store.Tx) error {
			s.markStale(ctx, tx, postsScope(p.AgencyID, from.WorkspaceID))
			res, err := tx.Exec(ctx, `UPDATE portal_posts SET text = ?, thread = ?, first_comment = ?, utm = ?, revision = ?, status = ?,
					scheduled_at = ?, local_time = ?, zone = ?,
					kind = ?, rrule = ?, start_local = ?, exdates = ?, skip_late_s = ?, queue_id = ?, evergreen = ?, held = ?,
					schedule_synced = ?, updated_at = ?
				WHERE agency_id = ? AND id = ? AND revision = ? AND status = ?`,
				to.Text, encodeThread(to.Thread), to.FirstComment, encodeUTM(to.UTM), to.Revision, stored(to), toMicrosOrZero(to.ScheduledAt), to.LocalTime, to.Zone,
				to.Kind, to.RRule, to.StartLocal, joinLines(to.Exceptions), int64(to.SkipLate/time.Second), to.QueueID, to.Evergreen, to.Held,
				to.Kind == KindDraft, store.ToMicros(time.Now()),
				p.AgencyID, postID, from.Revision, stored(from))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.E(errs.Conflict, "the post changed meanwhile; reload it and try again")
			}
			if !sameVariants(from.Variants, to.Variants) {
				if err := writeVariants(ctx, tx, postID, to.Variants); err != nil {
					return err
				}
			}
			if hook != nil {
				if err := hook(tx); err != nil {
					return err
				}
			}
			if up.Labels != nil {
				if err := setLabels(ctx, tx, p.AgencyID, postID, to.Labels); err != nil {
					return err
				}
			}
			if targets == nil && from.Status == PostSkipped {
				// A new time for a skipped post: its targets wait again.
				_, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = '', updated_at = ?
					WHERE agency_id = ? AND post_id = ? AND status = ?`,
					TargetPending, store.ToMicros(time.Now()), p.AgencyID, postID, TargetSkipped)
				return err
			}
			if targets == nil {
				return nil
			}
			if _, err := tx.Exec(ctx, `DELETE FROM portal_post_targets WHERE agency_id = ? AND post_id = ?`, p.AgencyID, postID); err != nil {
				return err
			}
			return insertTargets(ctx, tx, p.AgencyID, postID, targets, nil, time.Now())
		})
	}
	var newTargets, oldTargets []targetAccount
	if up.AccountIDs != nil {
		newTargets = accounts
		for _, t := range old.Targets {
			oldTargets = append(oldTargets, targetAccount{id: t.AccountID, network: t.Network})
		}
	}
	if err := write(ctx, old, next, newTargets, review); err != nil {
		return Post{}, err
	}
	if next.Kind == KindDraft {
		if old.Kind != KindDraft {
			// Off the schedule: a failed cancel leaves a firing that finds
			// the post a draft, which is not publishable.
			s.cancelSchedule(ctx, p.AgencyID, postID)
		}
		return s.GetPost(ctx, p, postID)
	}
	if next.Status == PostPendingApproval || next.Status == PostApproved {
		if old.Status == PostScheduled {
			// Trigger held the old revision: it goes off the schedule until
			// approved (a firing that slips through finds the post pending,
			// which GetPublishJob refuses).
			s.cancelSchedule(ctx, p.AgencyID, postID)
		}
		return s.GetPost(ctx, p, postID)
	}
	sch, err := s.schedule(ctx, p.AgencyID, next)
	if err != nil {
		s.log.Warn("trigger refused an edited post; restoring it", "post_id", postID, "err", err)
		// The old content comes back, still unsynced: if Trigger did take
		// the new revision, the resync loop gives it the old one again.
		if rerr := write(context.WithoutCancel(ctx), next, old, oldTargets, unreview); rerr != nil {
			s.log.Error("restoring a post Trigger did not reschedule", "post_id", postID, "err", rerr)
		}
		return Post{}, describeTriggerError(err, next.Kind, "scheduling is unavailable right now; the post was not changed, try again shortly")
	}
	s.markSynced(ctx, p.AgencyID, next, sch)
	return s.GetPost(ctx, p, postID)
}

// doDeletePost cancels a post's schedule with Trigger, then deletes it. If
// Trigger cannot be reached, nothing is deleted and the error is
// Unavailable.
func (s *Service) doDeletePost(ctx context.Context, p *Principal, postID string) error {
	post, err := s.loadPost(ctx, s.db, p.AgencyID, postID)
	if err != nil {
		return err
	}
	if _, err := s.authorize(ctx, s.db, p, post.WorkspaceID, actWritePosts); err != nil {
		return err
	}
	if post.Kind == KindDraft {
		// A draft is not publishable even should an old schedule fire, so
		// the cancel may fail without keeping the draft.
		s.cancelSchedule(ctx, p.AgencyID, postID)
	} else {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.TriggerTimeout)
		defer cancel()
		if _, err := s.trigger.Cancel(cctx, &triggerv1.CancelRequest{TenantId: p.AgencyID, ScheduleId: postID}); err != nil {
			return errs.Wrap(err, errs.Unavailable, "scheduling is unavailable right now; the post was not deleted, try again shortly")
		}
	}
	_, err = s.db.Exec(ctx, `DELETE FROM portal_posts WHERE agency_id = ? AND id = ?`, p.AgencyID, postID)
	s.invalidate(ctx, postsScope(p.AgencyID, post.WorkspaceID))
	return err
}

// recomputePostStatus settles a post's status from its targets: scheduled
// while any is pending, then published, failed or partially_failed.
//
// A recurring or queued post stays scheduled until its last firing came
// (finished); its targets then hold that firing's outcomes.
func recomputePostStatus(ctx context.Context, tx *store.Tx, agencyID, postID string) error {
	var kind, stored string
	var finished bool
	err := tx.QueryRow(ctx, `SELECT kind, status, finished FROM portal_posts WHERE agency_id = ? AND id = ?`, agencyID, postID).
		Scan(&kind, &stored, &finished)
	if errors.Is(err, store.ErrNoRows) || stored == PostDraft || (repeating(kind) && !finished) {
		return nil
	}
	if err != nil {
		return err
	}
	var pending, published, failed, skipped int
	err = tx.QueryRow(ctx, `SELECT
			COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0)
		FROM portal_post_targets WHERE agency_id = ? AND post_id = ?`,
		TargetPending, TargetPublished, TargetFailed, TargetSkipped, agencyID, postID).Scan(&pending, &published, &failed, &skipped)
	if err != nil {
		return err
	}
	status := PostScheduled
	switch {
	case pending > 0:
	case failed == 0 && skipped == 0:
		status = PostPublished
	case published == 0 && failed == 0:
		status = PostSkipped
	case published == 0:
		status = PostFailed
	default:
		status = PostPartiallyFailed
	}
	_, err = tx.Exec(ctx, `UPDATE portal_posts SET status = ?, updated_at = ? WHERE agency_id = ? AND id = ? AND status <> ?`,
		status, store.ToMicros(time.Now()), agencyID, postID, status)
	return err
}

// sameVariants: a and b are the same content, compared as the API shows
// them (an empty thread is one whether stored or just sent).
func sameVariants(a, b map[string]Variant) bool {
	ja, _ := json.Marshal(variantsView(a))
	jb, _ := json.Marshal(variantsView(b))
	return string(ja) == string(jb)
}
