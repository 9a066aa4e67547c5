package portal

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Approval policies of a workspace (docs/decisions/0021-approvals.md).
const (
	// PolicyNone: posts are scheduled as soon as they are saved.
	PolicyNone = "none"
	// PolicyInternal: an owner or manager of the workspace approves.
	PolicyInternal = "internal"
	// PolicyClient: a client approver (or a review link holder) approves.
	PolicyClient = "client"
	// PolicyInternalClient: an owner or manager approves, then the client.
	PolicyInternalClient = "internal_client"
)

var approvalPolicies = []string{PolicyNone, PolicyInternal, PolicyClient, PolicyInternalClient}

// Stages of approval.
const (
	StageInternal = "internal"
	StageClient   = "client"
)

// Post statuses of the approval flow.
const (
	// PostPendingApproval: the post waits for a decision; Trigger does not
	// hold it, and GetPublishJob refuses it.
	PostPendingApproval = "pending_approval"
	// PostApproved: approved after its time had passed; it waits for a new
	// time rather than being published late.
	PostApproved = "approved"
)

// Approval statuses.
const (
	ApprovalPending    = "pending"
	ApprovalApproved   = "approved"
	ApprovalRejected   = "rejected"
	ApprovalSuperseded = "superseded"
)

// Kinds of review history entries.
const (
	ReviewSubmitted = "submitted"
	ReviewApproved  = "approved"
	ReviewRejected  = "rejected"
	ReviewWithdrawn = "withdrawn"
	ReviewCommented = "commented"
)

const (
	maxReviewComment = 5000
	excerptRunes     = 140
)

// stagesOf are the stages a policy asks for, in order.
func stagesOf(policy string) []string {
	switch policy {
	case PolicyInternal:
		return []string{StageInternal}
	case PolicyClient:
		return []string{StageClient}
	case PolicyInternalClient:
		return []string{StageInternal, StageClient}
	}
	return nil
}

// Approval is one stage of approval of one revision of a post.
type Approval struct {
	ID            string
	PostID        string
	WorkspaceID   string
	Revision      int64
	Stage         string
	Stages        []string
	Status        string
	PublishNow    bool
	RequestedBy   string
	RequestedAt   time.Time
	DecidedBy     string
	DecidedByName string
	DecidedAt     time.Time
	Comment       string
}

// ReviewEntry is one line of a post's review history.
type ReviewEntry struct {
	ID         string
	ApprovalID string
	Revision   int64
	Stage      string
	// Kind is one of the Review* constants.
	Kind      string
	ActorID   string
	ActorName string
	Body      string
	At        time.Time
}

// Review is the approval state of a post: its latest approval (nil if it
// was never submitted) and its history, oldest first.
type Review struct {
	PostID  string
	Current *Approval
	History []ReviewEntry
	// CanDecide: the principal may approve or reject the pending stage.
	CanDecide bool
	// CanComment: the principal may comment.
	CanComment bool
}

// approvalPolicy reads a workspace's policy.
func approvalPolicy(ctx context.Context, q store.Querier, agencyID, workspaceID string) (string, error) {
	var policy string
	err := q.QueryRow(ctx, `SELECT approval_policy FROM portal_workspaces WHERE agency_id = ? AND id = ?`, agencyID, workspaceID).Scan(&policy)
	return policy, store.NotFound(err, "workspace")
}

// GetApprovalPolicy returns a workspace's approval policy.
func (s *Service) GetApprovalPolicy(ctx context.Context, p *Principal, workspaceID string) (string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts); err != nil {
		return "", err
	}
	return approvalPolicy(ctx, s.db, p.AgencyID, workspaceID)
}

// doSetApprovalPolicy sets a workspace's approval policy (owners and
// managers). Posts already under review keep the stages they were
// submitted with; the policy applies from the next submission.
func (s *Service) doSetApprovalPolicy(ctx context.Context, p *Principal, workspaceID, policy string) (string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actApprovalPolicy); err != nil {
		return "", err
	}
	policy = strings.TrimSpace(policy)
	known := false
	for _, pol := range approvalPolicies {
		known = known || pol == policy
	}
	if !known {
		return "", errs.Fields{"approval_policy": "must be one of " + strings.Join(approvalPolicies, ", ")}.Err()
	}
	_, err := s.db.Exec(ctx, `UPDATE portal_workspaces SET approval_policy = ? WHERE agency_id = ? AND id = ?`, policy, p.AgencyID, workspaceID)
	return policy, err
}

// actorOf is who acts, as kept in the history: a user, or a review link's
// holder by the name they gave.
func actorOf(p *Principal) (actorID, name string) {
	if p.review != nil {
		return "link:" + p.review.linkID, p.Name
	}
	name = p.Name
	if name == "" {
		name = p.Email
	}
	return p.UserID, name
}

func postExcerpt(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= excerptRunes {
		return text
	}
	r := []rune(text)
	return string(r[:excerptRunes-1]) + "…"
}

// addHistory writes one history entry and returns its id.
func addHistory(ctx context.Context, tx *store.Tx, agencyID string, a Approval, kind, actorID, actorName, body string, at time.Time) (string, error) {
	hid := id.New("rev")
	_, err := tx.Exec(ctx, `INSERT INTO portal_approval_history (id, agency_id, workspace_id, post_id, approval_id, revision, stage, kind,
			actor_id, actor_name, body, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		hid, agencyID, a.WorkspaceID, a.PostID, a.ID, a.Revision, a.Stage, kind, actorID, actorName, body, store.ToMicros(at))
	return hid, err
}

// requestApproval opens a stage of approval of a post's revision within tx
// and emits ApprovalRequested with it.
func (s *Service) requestApproval(ctx context.Context, tx *store.Tx, agencyID string, post Post, stages []string, stage string,
	publishNow bool, requestedBy, actorID, actorName string, now time.Time) (Approval, error) {
	a := Approval{ID: id.New("appr"), PostID: post.ID, WorkspaceID: post.WorkspaceID, Revision: post.Revision, Stage: stage,
		Stages: stages, Status: ApprovalPending, PublishNow: publishNow, RequestedBy: requestedBy, RequestedAt: now}
	if _, err := tx.Exec(ctx, `INSERT INTO portal_approvals (id, agency_id, workspace_id, post_id, revision, stage, stages, status,
			publish_now, requested_by, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, agencyID, a.WorkspaceID, a.PostID, a.Revision, a.Stage, strings.Join(stages, ","), a.Status, a.PublishNow,
		a.RequestedBy, store.ToMicros(now)); err != nil {
		return Approval{}, err
	}
	if stage == stages[0] {
		if _, err := addHistory(ctx, tx, agencyID, a, ReviewSubmitted, actorID, actorName, "", now); err != nil {
			return Approval{}, err
		}
	}
	_, err := s.outbox.Add(ctx, tx, bus.TopicApprovalRequested, &eventsv1.ApprovalRequested{
		TenantId: agencyID, WorkspaceId: a.WorkspaceID, PostId: a.PostID, Revision: a.Revision, ApprovalId: a.ID,
		Stage: stage, RequestedBy: requestedBy, Excerpt: postExcerpt(post.Text), RequestedAt: timestamppb.New(now)})
	return a, err
}

// submitForApproval supersedes what is pending for a post and opens the
// first stage of its workspace's policy, within tx.
func (s *Service) submitForApproval(ctx context.Context, tx *store.Tx, p *Principal, post Post, policy string, publishNow bool, now time.Time) error {
	actorID, name := actorOf(p)
	if err := withdrawApproval(ctx, tx, p.AgencyID, post.ID, actorID, name, now); err != nil {
		return err
	}
	stages := stagesOf(policy)
	_, err := s.requestApproval(ctx, tx, p.AgencyID, post, stages, stages[0], publishNow, p.UserID, actorID, name, now)
	return err
}

// withdrawApproval marks what is pending or approved of a post as
// superseded: its content changed or it went back to a draft, so no
// earlier decision may let it publish. A review under way is recorded as
// withdrawn. (Ties of time in the history are broken by id: ids grow.)
func withdrawApproval(ctx context.Context, tx *store.Tx, agencyID, postID, actorID, actorName string, now time.Time) error {
	a, err := latestApproval(ctx, tx, agencyID, postID)
	if errors.Is(err, store.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := tx.Exec(ctx, `UPDATE portal_approvals SET status = ? WHERE agency_id = ? AND post_id = ? AND status IN (?, ?)`,
		ApprovalSuperseded, agencyID, postID, ApprovalPending, ApprovalApproved)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 && a.Status == ApprovalPending {
		_, err = addHistory(ctx, tx, agencyID, a, ReviewWithdrawn, actorID, actorName, "", now)
	}
	return err
}

// carryApproval moves the approvals of a post's revision to its next one:
// the post's schedule changed but not its content, so the decisions taken
// still hold.
func carryApproval(ctx context.Context, tx *store.Tx, agencyID, postID string, from, to int64) error {
	_, err := tx.Exec(ctx, `UPDATE portal_approvals SET revision = ? WHERE agency_id = ? AND post_id = ? AND revision = ? AND status IN (?, ?)`,
		to, agencyID, postID, from, ApprovalPending, ApprovalApproved)
	return err
}

const approvalColumns = `id, post_id, workspace_id, revision, stage, stages, status, publish_now, requested_by, requested_at, decided_by, decided_by_name, decided_at, comment`

func scanApproval(sc interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	var stages string
	var req, dec int64
	err := sc.Scan(&a.ID, &a.PostID, &a.WorkspaceID, &a.Revision, &a.Stage, &stages, &a.Status, &a.PublishNow, &a.RequestedBy, &req,
		&a.DecidedBy, &a.DecidedByName, &dec, &a.Comment)
	a.Stages = strings.Split(stages, ",")
	a.RequestedAt, a.DecidedAt = store.FromMicros(req), fromMicrosOrZero(dec)
	return a, err
}

// latestApproval is a post's most recent approval stage.
func latestApproval(ctx context.Context, q store.Querier, agencyID, postID string) (Approval, error) {
	return scanApproval(q.QueryRow(ctx, `SELECT `+approvalColumns+` FROM portal_approvals WHERE agency_id = ? AND post_id = ?
		ORDER BY requested_at DESC, id DESC LIMIT 1`, agencyID, postID))
}

// mayDecide reports whether a role may decide a stage. The client stage is
// the client's: an owner or manager cannot approve in their name.
func mayDecide(role Role, stage string) bool {
	switch stage {
	case StageInternal:
		return role.can(actApproveInternal)
	case StageClient:
		return role == RoleClientApprover || role == roleReviewLink
	}
	return false
}

// reviewAccess loads a post and the principal's role for its review. A
// review link sees only the posts of its workspace waiting for the client:
// anything else is not found.
func (s *Service) reviewAccess(ctx context.Context, q store.Querier, p *Principal, postID string) (Post, Role, *Approval, error) {
	post, err := s.loadPost(ctx, q, p.AgencyID, postID)
	if err != nil {
		return Post{}, "", nil, err
	}
	ws, err := s.workspaceRole(ctx, q, p, post.WorkspaceID)
	if errs.Is(err, errs.NotFound) {
		return Post{}, "", nil, store.NotFound(store.ErrNoRows, "post")
	}
	if err != nil {
		return Post{}, "", nil, err
	}
	var cur *Approval
	if a, err := latestApproval(ctx, q, p.AgencyID, postID); err == nil {
		cur = &a
	} else if !errors.Is(err, store.ErrNoRows) {
		return Post{}, "", nil, err
	}
	if ws.Role == roleReviewLink && !awaitingClient(post, cur) {
		return Post{}, "", nil, store.NotFound(store.ErrNoRows, "post")
	}
	if ws.Role != roleReviewLink && !ws.Role.can(actReadPosts) {
		return Post{}, "", nil, errs.E(errs.Forbidden, "your role in this workspace does not allow this")
	}
	return post, ws.Role, cur, nil
}

func awaitingClient(post Post, a *Approval) bool {
	return post.Status == PostPendingApproval && a != nil && a.Status == ApprovalPending && a.Stage == StageClient && a.Revision == post.Revision
}

// GetReview returns a post's approval state and history.
func (s *Service) GetReview(ctx context.Context, p *Principal, postID string) (Review, error) {
	post, role, cur, err := s.reviewAccess(ctx, s.db, p, postID)
	if err != nil {
		return Review{}, err
	}
	r := Review{PostID: postID, Current: cur, History: []ReviewEntry{}}
	if cur != nil {
		pending := cur.Status == ApprovalPending && post.Status == PostPendingApproval && cur.Revision == post.Revision
		r.CanDecide = pending && mayDecide(role, cur.Stage)
		r.CanComment = true
	}
	rows, err := s.db.Query(ctx, `SELECT id, approval_id, revision, stage, kind, actor_id, actor_name, body, at FROM portal_approval_history
		WHERE agency_id = ? AND post_id = ? ORDER BY at, id`, p.AgencyID, postID)
	if err != nil {
		return Review{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var e ReviewEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.ApprovalID, &e.Revision, &e.Stage, &e.Kind, &e.ActorID, &e.ActorName, &e.Body, &at); err != nil {
			return Review{}, err
		}
		e.At = store.FromMicros(at)
		r.History = append(r.History, e)
	}
	return r, rows.Err()
}

// Decision approves or rejects the revision of a post the approver saw.
type Decision struct {
	// Revision is the post's revision as shown to the approver: if the
	// post changed since, the decision is refused.
	Revision int64
	// Comment is optional when approving, the reason when rejecting.
	Comment string
}

func checkDecision(v *errs.Fields, d *Decision, reject bool) {
	if d.Revision <= 0 {
		v.Add("revision", "is required: the revision of the post you reviewed")
	}
	d.Comment = strings.TrimSpace(d.Comment)
	switch {
	case reject && d.Comment == "":
		v.Add("comment", "is required: say what should change")
	case utf8.RuneCountInString(d.Comment) > maxReviewComment:
		v.Add("comment", "must be at most %d characters", maxReviewComment)
	}
}

var errReviewChanged = errs.E(errs.Conflict, "the post changed since you opened it; reload it and review the current version")

// doApprovePost approves the pending stage of a post. At the last stage the
// post schedules itself as its author asked (its time, its queue, its
// recurrence, or now for publish-now); a one-shot post whose time passed
// during review is kept as approved, waiting for a new time, rather than
// published late.
func (s *Service) doApprovePost(ctx context.Context, p *Principal, postID string, d Decision) (Post, error) {
	return s.decide(ctx, p, postID, d, false)
}

// doRejectPost rejects the pending stage of a post: it goes back to a draft,
// with the reason in its history.
func (s *Service) doRejectPost(ctx context.Context, p *Principal, postID string, d Decision) (Post, error) {
	return s.decide(ctx, p, postID, d, true)
}

func (s *Service) decide(ctx context.Context, p *Principal, postID string, d Decision, reject bool) (Post, error) {
	post, role, cur, err := s.reviewAccess(ctx, s.db, p, postID)
	if err != nil {
		return Post{}, err
	}
	if cur == nil || cur.Status != ApprovalPending || post.Status != PostPendingApproval {
		return Post{}, errs.E(errs.Conflict, "the post is not waiting for approval")
	}
	if !mayDecide(role, cur.Stage) {
		if cur.Stage == StageClient {
			return Post{}, errs.E(errs.Forbidden, "this post waits for the client's approval")
		}
		return Post{}, errs.E(errs.Forbidden, "only an owner or manager of the workspace may approve at this stage")
	}
	var v errs.Fields
	checkDecision(&v, &d, reject)
	if err := v.Err(); err != nil {
		return Post{}, err
	}
	if d.Revision != post.Revision || cur.Revision != post.Revision {
		return Post{}, errReviewChanged
	}
	posts := []Post{post}
	if err := s.fillPosts(ctx, s.db, p.AgencyID, posts); err != nil {
		return Post{}, err
	}
	post = posts[0]
	now := time.Now().UTC()
	actorID, name := actorOf(p)
	decision, kind, status := "approved", ReviewApproved, ApprovalApproved
	if reject {
		decision, kind, status = "rejected", ReviewRejected, ApprovalRejected
	}
	next := ""
	if !reject {
		for i, st := range cur.Stages {
			if st == cur.Stage && i+1 < len(cur.Stages) {
				next = cur.Stages[i+1]
			}
		}
	}
	final := !reject && next == ""
	if final {
		switch {
		case cur.PublishNow:
			loc, err := time.LoadLocation(post.Zone)
			if err != nil {
				loc = time.UTC
			}
			post.ScheduledAt = now.Truncate(time.Second)
			post.LocalTime = formatWall(post.ScheduledAt.In(loc))
			post.Status = PostScheduled
		case post.Kind == KindOnce && post.ScheduledAt.Before(now):
			post.Status = PostApproved
		default:
			post.Status = PostScheduled
		}
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE portal_approvals SET status = ?, decided_by = ?, decided_by_name = ?, decided_at = ?, comment = ?
			WHERE agency_id = ? AND id = ? AND status = ? AND revision = ?`,
			status, actorID, name, store.ToMicros(now), d.Comment, p.AgencyID, cur.ID, ApprovalPending, d.Revision)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errReviewChanged
		}
		if _, err := addHistory(ctx, tx, p.AgencyID, *cur, kind, actorID, name, d.Comment, now); err != nil {
			return err
		}
		if _, err := s.outbox.Add(ctx, tx, bus.TopicApprovalDecided, &eventsv1.ApprovalDecided{
			TenantId: p.AgencyID, WorkspaceId: post.WorkspaceID, PostId: postID, Revision: post.Revision, ApprovalId: cur.ID,
			Stage: cur.Stage, Decision: decision, DecidedBy: actorID, DecidedByName: name, Comment: d.Comment,
			AuthorId: cur.RequestedBy, DecidedAt: timestamppb.New(now)}); err != nil {
			return err
		}
		s.markStale(ctx, tx, postsScope(p.AgencyID, post.WorkspaceID))
		switch {
		case reject:
			// Back to a draft: the plan is dropped, the reason stays in the history.
			res, err = tx.Exec(ctx, `UPDATE portal_posts SET status = ?, kind = ?, scheduled_at = 0, local_time = '', rrule = '',
					start_local = '', exdates = '', queue_id = '', evergreen = ?, held = ?, schedule_synced = ?, updated_at = ?
				WHERE agency_id = ? AND id = ? AND revision = ? AND status = ?`,
				PostDraft, KindDraft, false, false, true, store.ToMicros(now), p.AgencyID, postID, post.Revision, PostPendingApproval)
		case next != "":
			_, err = s.requestApproval(ctx, tx, p.AgencyID, post, cur.Stages, next, cur.PublishNow, cur.RequestedBy, actorID, name, now)
			return err
		default:
			res, err = tx.Exec(ctx, `UPDATE portal_posts SET status = ?, scheduled_at = ?, local_time = ?, schedule_synced = ?, updated_at = ?
				WHERE agency_id = ? AND id = ? AND revision = ? AND status = ?`,
				post.Status, toMicrosOrZero(post.ScheduledAt), post.LocalTime, post.Status != PostScheduled, store.ToMicros(now),
				p.AgencyID, postID, post.Revision, PostPendingApproval)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errReviewChanged
		}
		return nil
	})
	if err != nil {
		return Post{}, err
	}
	if final && post.Status == PostScheduled {
		// The approval is taken: were Trigger unreachable now, the post
		// stays unsynced and the resync loop hands it over.
		if sch, err := s.schedule(ctx, p.AgencyID, post); err != nil {
			s.log.Warn("trigger did not take an approved post; the resync loop will retry", "post_id", postID, "err", err)
		} else {
			s.markSynced(ctx, p.AgencyID, post, sch)
		}
	}
	return s.reviewedPost(ctx, p, postID)
}

// reviewedPost reads a post back after a review action. A link holder
// cannot read posts in general: they get what reviewAccess would show.
func (s *Service) reviewedPost(ctx context.Context, p *Principal, postID string) (Post, error) {
	post, err := s.loadPost(ctx, s.db, p.AgencyID, postID)
	if err != nil {
		return Post{}, err
	}
	posts := []Post{post}
	if err := s.fillPosts(ctx, s.db, p.AgencyID, posts); err != nil {
		return Post{}, err
	}
	posts[0].Status = shownStatus(posts[0], time.Now())
	return posts[0], nil
}

// doCommentOnPost adds a comment to a post's review. Anyone who may read the
// post may comment once it has been submitted; a review link holder only
// while it waits for the client.
func (s *Service) doCommentOnPost(ctx context.Context, p *Principal, postID, body string) (ReviewEntry, error) {
	post, _, cur, err := s.reviewAccess(ctx, s.db, p, postID)
	if err != nil {
		return ReviewEntry{}, err
	}
	var v errs.Fields
	body = strings.TrimSpace(body)
	switch {
	case body == "":
		v.Add("body", "must not be empty")
	case utf8.RuneCountInString(body) > maxReviewComment:
		v.Add("body", "must be at most %d characters", maxReviewComment)
	}
	if err := v.Err(); err != nil {
		return ReviewEntry{}, err
	}
	if cur == nil {
		return ReviewEntry{}, errs.E(errs.Conflict, "the post has not been submitted for approval; there is no review to comment on")
	}
	now := time.Now().UTC()
	actorID, name := actorOf(p)
	e := ReviewEntry{ApprovalID: cur.ID, Revision: post.Revision, Stage: cur.Stage, Kind: ReviewCommented, ActorID: actorID,
		ActorName: name, Body: body, At: now}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		a := *cur
		a.Revision = post.Revision
		var err error
		if e.ID, err = addHistory(ctx, tx, p.AgencyID, a, ReviewCommented, actorID, name, body, now); err != nil {
			return err
		}
		_, err = s.outbox.Add(ctx, tx, bus.TopicApprovalCommented, &eventsv1.ApprovalCommented{
			TenantId: p.AgencyID, WorkspaceId: post.WorkspaceID, PostId: postID, ApprovalId: cur.ID, CommentId: e.ID,
			AuthorId: actorID, AuthorName: name, Body: body, CommentedAt: timestamppb.New(now)})
		return err
	})
	if err != nil {
		return ReviewEntry{}, err
	}
	return e, nil
}

// ListAwaitingApproval lists a workspace's posts waiting for approval,
// soonest first, with the stage each waits at ("" for any stage).
func (s *Service) ListAwaitingApproval(ctx context.Context, p *Principal, workspaceID, stage string) ([]Post, []Approval, error) {
	ws, err := s.workspaceRole(ctx, s.db, p, workspaceID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case ws.Role == roleReviewLink:
		stage = StageClient
	case !ws.Role.can(actReadPosts):
		return nil, nil, errs.E(errs.Forbidden, "your role in this workspace does not allow this")
	}
	if stage != "" && stage != StageInternal && stage != StageClient {
		return nil, nil, errs.Fields{"stage": "must be internal or client"}.Err()
	}
	q := `SELECT ` + "a." + strings.ReplaceAll(approvalColumns, ", ", ", a.") + ` FROM portal_approvals a
		JOIN portal_posts p ON p.agency_id = a.agency_id AND p.id = a.post_id AND p.revision = a.revision AND p.status = ?
		WHERE a.agency_id = ? AND a.workspace_id = ? AND a.status = ?`
	args := []any{PostPendingApproval, p.AgencyID, workspaceID, ApprovalPending}
	if stage != "" {
		q += ` AND a.stage = ?`
		args = append(args, stage)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY a.requested_at, a.id LIMIT 200`, args...)
	if err != nil {
		return nil, nil, err
	}
	approvals := []Approval{}
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		approvals = append(approvals, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	posts := make([]Post, 0, len(approvals))
	for _, a := range approvals {
		post, err := s.loadPost(ctx, s.db, p.AgencyID, a.PostID)
		if err != nil {
			return nil, nil, err
		}
		posts = append(posts, post)
	}
	if err := s.fillPosts(ctx, s.db, p.AgencyID, posts); err != nil {
		return nil, nil, err
	}
	return posts, approvals, nil
}

// reviewOnEdit decides what an edit does to a post's approval: the stored
// status the edited post takes, what to do in the edit's transaction, and
// what undoes that should Trigger refuse the edit.
//
//   - back to a draft: every decision is void;
//   - the schedule changed but not the content (text, thread, first
//     comment, accounts): decisions taken hold, moved to the new revision,
//     so a pending post stays pending and an approved one is scheduled;
//   - the content changed, or a draft is scheduled: the post is submitted
//     afresh under the workspace's current policy, and nothing decided
//     about the old content can let the new one publish.
func (s *Service) reviewOnEdit(ctx context.Context, p *Principal, old, next Post, policy string, contentChanged bool, w When,
	publishNow bool) (string, func(*store.Tx) error, func(*store.Tx) error) {
	now := time.Now().UTC()
	actorID, name := actorOf(p)
	withdraw := func(tx *store.Tx) error {
		return withdrawApproval(ctx, tx, p.AgencyID, old.ID, actorID, name, now)
	}
	carry := func(tx *store.Tx) error {
		return carryApproval(ctx, tx, p.AgencyID, old.ID, old.Revision, next.Revision)
	}
	uncarry := func(tx *store.Tx) error {
		return carryApproval(ctx, tx, p.AgencyID, old.ID, next.Revision, old.Revision)
	}
	switch {
	case next.Kind == KindDraft:
		return PostDraft, withdraw, nil
	case !contentChanged && old.Status == PostPendingApproval:
		return PostPendingApproval, carry, uncarry
	case !contentChanged && (old.Status == PostScheduled || old.Status == PostApproved || old.Status == PostSkipped):
		// A scheduled post that predates the policy was accepted under
		// the policy of its time: a new time does not change that.
		return PostScheduled, carry, uncarry
	case policy == PolicyNone:
		return PostScheduled, withdraw, nil
	}
	submit := func(tx *store.Tx) error {
		atOnce := publishNow
		if !w.given() && old.Status == PostPendingApproval {
			// Content edited, schedule untouched: a publish-now post
			// still publishes at its approval.
			if a, err := latestApproval(ctx, tx, p.AgencyID, old.ID); err == nil {
				atOnce = a.PublishNow
			}
		}
		return s.submitForApproval(ctx, tx, p, next, policy, atOnce, now)
	}
	return PostPendingApproval, submit, nil
}
