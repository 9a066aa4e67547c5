package portal

import (
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/errs"
)

// --- response shapes ---

type approvalJSON struct {
	ID            string   `json:"id"`
	PostID        string   `json:"post_id"`
	WorkspaceID   string   `json:"workspace_id"`
	Revision      int64    `json:"revision"`
	Stage         string   `json:"stage"`
	Stages        []string `json:"stages"`
	Status        string   `json:"status"`
	PublishNow    bool     `json:"publish_now"`
	RequestedBy   string   `json:"requested_by"`
	RequestedAt   string   `json:"requested_at"`
	DecidedBy     string   `json:"decided_by,omitempty"`
	DecidedByName string   `json:"decided_by_name,omitempty"`
	DecidedAt     string   `json:"decided_at,omitempty"`
	Comment       string   `json:"comment,omitempty"`
}

func approvalView(a Approval) approvalJSON {
	return approvalJSON{ID: a.ID, PostID: a.PostID, WorkspaceID: a.WorkspaceID, Revision: a.Revision, Stage: a.Stage, Stages: a.Stages,
		Status: a.Status, PublishNow: a.PublishNow, RequestedBy: a.RequestedBy, RequestedAt: ts(a.RequestedAt), DecidedBy: a.DecidedBy,
		DecidedByName: a.DecidedByName, DecidedAt: ts(a.DecidedAt), Comment: a.Comment}
}

type reviewEntryJSON struct {
	ID         string `json:"id"`
	ApprovalID string `json:"approval_id"`
	Revision   int64  `json:"revision"`
	Stage      string `json:"stage"`
	Kind       string `json:"kind"`
	ActorID    string `json:"actor_id"`
	ActorName  string `json:"actor_name"`
	Body       string `json:"body,omitempty"`
	At         string `json:"at"`
}

func reviewEntryView(e ReviewEntry) reviewEntryJSON {
	return reviewEntryJSON{ID: e.ID, ApprovalID: e.ApprovalID, Revision: e.Revision, Stage: e.Stage, Kind: e.Kind, ActorID: e.ActorID,
		ActorName: e.ActorName, Body: e.Body, At: ts(e.At)}
}

type reviewJSON struct {
	PostID     string            `json:"post_id"`
	Current    *approvalJSON     `json:"current"`
	History    []reviewEntryJSON `json:"history"`
	CanDecide  bool              `json:"can_decide"`
	CanComment bool              `json:"can_comment"`
}

func reviewView(r Review) reviewJSON {
	out := reviewJSON{PostID: r.PostID, History: []reviewEntryJSON{}, CanDecide: r.CanDecide, CanComment: r.CanComment}
	if r.Current != nil {
		a := approvalView(*r.Current)
		out.Current = &a
	}
	for _, e := range r.History {
		out.History = append(out.History, reviewEntryView(e))
	}
	return out
}

type reviewLinkJSON struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Label       string `json:"label"`
	CreatedBy   string `json:"created_by"`
	CreatedAt   string `json:"created_at"`
	ExpiresAt   string `json:"expires_at"`
	RevokedAt   string `json:"revoked_at,omitempty"`
	Active      bool   `json:"active"`
	// Token and URL only in the answer to the creation.
	Token string `json:"token,omitempty"`
	URL   string `json:"url,omitempty"`
}

func (s *Service) reviewLinkView(l ReviewLink) reviewLinkJSON {
	out := reviewLinkJSON{ID: l.ID, WorkspaceID: l.WorkspaceID, Label: l.Label, CreatedBy: l.CreatedBy, CreatedAt: ts(l.CreatedAt),
		ExpiresAt: ts(l.ExpiresAt), RevokedAt: ts(l.RevokedAt), Active: l.Active(time.Now()), Token: l.Token}
	if l.Token != "" {
		out.URL = s.reviewLinkURL(l.Token)
	}
	return out
}

// reviewLinkURL is the address a review link's holder opens.
func (s *Service) reviewLinkURL(token string) string {
	return s.cfg.BaseURL + "/review/link/" + url.PathEscape(token)
}

// --- handlers ---

type policyRequest struct {
	ApprovalPolicy string `json:"approval_policy"`
}

// GET /api/v1/workspaces/{id}/approval-policy -> {approval_policy}
func (s *Service) apiGetApprovalPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	policy, err := s.GetApprovalPolicy(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, policyRequest{ApprovalPolicy: policy})
}

// PUT /api/v1/workspaces/{id}/approval-policy {approval_policy} -> {approval_policy}
func (s *Service) apiSetApprovalPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req policyRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	policy, err := s.SetApprovalPolicy(r.Context(), p, r.PathValue("id"), req.ApprovalPolicy)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, policyRequest{ApprovalPolicy: policy})
}

// GET /api/v1/workspaces/{id}/approvals?stage=internal|client ->
// {approvals: [{approval, post}]}: the posts waiting for approval.
func (s *Service) apiListAwaiting(w http.ResponseWriter, r *http.Request, p *Principal) error {
	posts, approvals, err := s.ListAwaitingApproval(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("stage"))
	if err != nil {
		return err
	}
	type item struct {
		Approval approvalJSON `json:"approval"`
		Post     postJSON     `json:"post"`
	}
	out := []item{}
	for i := range posts {
		out = append(out, item{Approval: approvalView(approvals[i]), Post: postView(posts[i])})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

type submitRequest struct {
	ScheduledAt     *string        `json:"scheduled_at"`
	PublishNow      bool           `json:"publish_now"`
	Repeat          *repeatRequest `json:"repeat"`
	QueueID         *string        `json:"queue_id"`
	Evergreen       bool           `json:"evergreen"`
	SkipIfLaterThan *string        `json:"skip_if_later_than"`
}

// POST /api/v1/posts/{id}/submit {scheduled_at | publish_now | repeat |
// queue_id} -> post: schedules a draft (or gives a post a new time); under
// an approval policy the post goes to pending_approval.
func (s *Service) apiSubmitPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req submitRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	up := PostUpdate{ScheduledAt: req.ScheduledAt, PublishNow: req.PublishNow, Repeat: req.Repeat.input(), QueueID: req.QueueID,
		Evergreen: req.Evergreen, SkipIfLaterThan: req.SkipIfLaterThan}
	if !up.when().given() {
		return errs.Fields{"scheduled_at": "is required unless publish_now, repeat or queue_id is given"}.Err()
	}
	post, err := s.UpdatePost(r.Context(), p, r.PathValue("id"), up)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, postView(post))
}

type decisionRequest struct {
	Revision int64  `json:"revision"`
	Comment  string `json:"comment"`
}

// POST /api/v1/posts/{id}/approve {revision, comment?} -> {post, review}
func (s *Service) apiApprovePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return s.apiDecide(w, r, p, false)
}

// POST /api/v1/posts/{id}/reject {revision, comment} -> {post, review}
func (s *Service) apiRejectPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return s.apiDecide(w, r, p, true)
}

func (s *Service) apiDecide(w http.ResponseWriter, r *http.Request, p *Principal, reject bool) error {
	var req decisionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	d := Decision{Revision: req.Revision, Comment: req.Comment}
	decide := s.ApprovePost
	if reject {
		decide = s.RejectPost
	}
	post, err := decide(r.Context(), p, r.PathValue("id"), d)
	if err != nil {
		return err
	}
	rev, err := s.GetReview(r.Context(), p, post.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"post": postView(post), "review": reviewView(rev)})
}

type commentRequest struct {
	Body string `json:"body"`
}

// POST /api/v1/posts/{id}/comments {body} -> 201 history entry
func (s *Service) apiCommentPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req commentRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	e, err := s.CommentOnPost(r.Context(), p, r.PathValue("id"), req.Body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, reviewEntryView(e))
}

// GET /api/v1/posts/{id}/review -> {current, history, can_decide, can_comment}
func (s *Service) apiGetReview(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := s.GetReview(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, reviewView(rev))
}

type reviewLinkRequest struct {
	Label         string `json:"label"`
	ExpiresInDays int    `json:"expires_in_days"`
}

// POST /api/v1/workspaces/{id}/review-links {label, expires_in_days?} ->
// 201 link with its token and url (shown this once)
func (s *Service) apiCreateReviewLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req reviewLinkRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	l, err := s.CreateReviewLink(r.Context(), p, r.PathValue("id"), ReviewLinkInput{Label: req.Label, ExpiresInDays: req.ExpiresInDays})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.reviewLinkView(l))
}

// GET /api/v1/workspaces/{id}/review-links -> {review_links: [...]} (no tokens)
func (s *Service) apiListReviewLinks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.ListReviewLinks(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := []reviewLinkJSON{}
	for _, l := range list {
		out = append(out, s.reviewLinkView(l))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"review_links": out})
}

// DELETE /api/v1/review-links/{id} -> 204: revokes the link and signs out
// every browser it signed in.
func (s *Service) apiRevokeReviewLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.RevokeReviewLink(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// routesApprovals registers the approval endpoints.
func (s *Service) routesApprovals(mux *routeMux, json int64) {
	mux.Handle("GET /api/v1/workspaces/{id}/approval-policy", s.authed(json, s.apiGetApprovalPolicy))
	mux.Handle("PUT /api/v1/workspaces/{id}/approval-policy", s.authed(json, s.apiSetApprovalPolicy))
	mux.Handle("GET /api/v1/workspaces/{id}/approvals", s.authed(json, s.apiListAwaiting))
	mux.Handle("POST /api/v1/workspaces/{id}/review-links", s.authed(json, s.apiCreateReviewLink))
	mux.Handle("GET /api/v1/workspaces/{id}/review-links", s.authed(json, s.apiListReviewLinks))
	mux.Handle("DELETE /api/v1/review-links/{id}", s.authed(json, s.apiRevokeReviewLink))
	mux.Handle("POST /api/v1/posts/{id}/submit", s.authed(json, s.apiSubmitPost))
	mux.Handle("POST /api/v1/posts/{id}/approve", s.authed(json, s.apiApprovePost))
	mux.Handle("POST /api/v1/posts/{id}/reject", s.authed(json, s.apiRejectPost))
	mux.Handle("POST /api/v1/posts/{id}/comments", s.authed(json, s.apiCommentPost))
	mux.Handle("GET /api/v1/posts/{id}/review", s.authed(json, s.apiGetReview))
}
