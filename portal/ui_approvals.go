package portal

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// The approval pages: a workspace's approvals (policy, posts waiting,
// review links), a post's review (history, decisions, comments) for
// members, and the client review under /review/, reached by a review link
// or by a signed-in client approver. The review pages show the agency's
// name and nothing else of Herald's frame.

func (u *webUI) routesApprovals(mux *routeMux, form int64) {
	mux.Handle("GET /workspaces/{id}/approvals", u.signedIn(form, u.approvalsPage))
	mux.Handle("POST /workspaces/{id}/approval-policy", u.signedIn(form, u.setPolicy))
	mux.Handle("POST /workspaces/{id}/review-links", u.signedIn(form, u.createReviewLink))
	mux.Handle("POST /workspaces/{id}/review-links/{link}/revoke", u.signedIn(form, u.revokeReviewLink))
	mux.Handle("GET /workspaces/{id}/posts/{post}/review", u.signedIn(form, u.postReview))
	mux.Handle("POST /workspaces/{id}/posts/{post}/approve", u.signedIn(form, u.memberDecide(false)))
	mux.Handle("POST /workspaces/{id}/posts/{post}/reject", u.signedIn(form, u.memberDecide(true)))
	mux.Handle("POST /workspaces/{id}/posts/{post}/comment", u.signedIn(form, u.memberComment))

	mux.Handle("GET /review/link/{token}", u.public(form, u.reviewSignInPage))
	mux.Handle("POST /review/link/{token}", u.public(form, u.reviewSignIn))
	mux.Handle("GET /review", u.reviewer(form, u.reviewList))
	mux.Handle("GET /review/posts/{post}", u.reviewer(form, u.reviewPost))
	mux.Handle("GET /review/posts/{post}/media/{media}", u.reviewer(form, u.reviewMedia))
	mux.Handle("POST /review/posts/{post}/approve", u.reviewer(form, u.reviewDecide(false)))
	mux.Handle("POST /review/posts/{post}/reject", u.reviewer(form, u.reviewDecide(true)))
	mux.Handle("POST /review/posts/{post}/comment", u.reviewer(form, u.reviewComment))
	mux.Handle("POST /review/signout", u.reviewer(form, u.reviewSignOut))
}

// --- labels ---

func approvalStatusLabel(post Post) string { return statusLabel(post.Status) }

func policyLabel(policy string) string {
	switch policy {
	case PolicyNone:
		return "No approval: posts are scheduled when saved"
	case PolicyInternal:
		return "Internal: an owner or manager approves"
	case PolicyClient:
		return "Client: a client approver approves"
	case PolicyInternalClient:
		return "Internal, then client"
	}
	return policy
}

func stageLabel(stage string) string {
	if stage == StageClient {
		return "the client"
	}
	return "the agency"
}

func historyLabel(kind string) string {
	switch kind {
	case ReviewSubmitted:
		return "submitted it for approval"
	case ReviewApproved:
		return "approved"
	case ReviewRejected:
		return "asked for changes"
	case ReviewWithdrawn:
		return "changed it, so the review started again"
	case ReviewCommented:
		return "commented"
	}
	return kind
}

// --- views ---

type policyOption struct {
	Value, Label string
	Selected     bool
}

type awaitingItem struct {
	Post     Post
	Approval Approval
	Excerpt  string
	Stage    string
}

type historyItem struct {
	ReviewEntry
	What string
}

type approvalsView struct {
	chrome
	WS        Workspace
	CanManage bool
	Policy    string
	// PolicyLabel says the policy in words.
	PolicyLabel string
	Policies    []policyOption
	Awaiting    []awaitingItem
	Links       []ReviewLink
	LinkForm    *form
	Now         time.Time
}

type reviewPostView struct {
	chrome
	// Agency and workspace names on the client review page.
	AgencyName string
	WS         Workspace
	Post       Post
	Status     string
	Review     Review
	Waiting    string // who the post waits for, "" when not pending
	History    []historyItem
	Decision   *form
	Comment    *form
	// Base is where the page's forms go: /review/posts/{id} or
	// /workspaces/{ws}/posts/{id}.
	Base   string
	Client bool
	// CanEdit: the member may open the post's edit page.
	CanEdit bool
	// Previews show the text as each account would get it; Media are the
	// post's files.
	Previews []reviewPreview
	Media    []reviewMedia
}

// reviewPreview is the post as one account publishes it.
type reviewPreview struct {
	Network, Account string
	Chars, Limit     int
	Over             bool
}

type reviewMedia struct {
	URL, Description string
	Video            bool
}

// reviewErrorView is a message on the client review's frame.
type reviewErrorView struct {
	chrome
	AgencyName string
	Message    string
}

func historyView(r Review) []historyItem {
	out := make([]historyItem, 0, len(r.History))
	for _, e := range r.History {
		out = append(out, historyItem{ReviewEntry: e, What: historyLabel(e.Kind)})
	}
	return out
}

func awaitingView(posts []Post, approvals []Approval) []awaitingItem {
	out := make([]awaitingItem, 0, len(posts))
	for i := range posts {
		out = append(out, awaitingItem{Post: posts[i], Approval: approvals[i], Excerpt: postExcerpt(posts[i].Text), Stage: stageLabel(approvals[i].Stage)})
	}
	return out
}

// --- a workspace's approvals ---

func (u *webUI) approvalsPageWith(w http.ResponseWriter, r *http.Request, p *Principal, linkForm *form, status int) error {
	ctx := r.Context()
	id := r.PathValue("id")
	ws, err := u.s.GetWorkspace(ctx, p, id)
	if err != nil {
		return err
	}
	policy, err := u.s.GetApprovalPolicy(ctx, p, id)
	if err != nil {
		return err
	}
	posts, approvals, err := u.s.ListAwaitingApproval(ctx, p, id, "")
	if err != nil {
		return err
	}
	v := approvalsView{WS: ws, CanManage: ws.Role.can(actApprovalPolicy), Policy: policy, PolicyLabel: policyLabel(policy),
		Awaiting: awaitingView(posts, approvals),
		LinkForm: linkForm, Now: time.Now()}
	for _, pol := range approvalPolicies {
		v.Policies = append(v.Policies, policyOption{Value: pol, Label: policyLabel(pol), Selected: pol == policy})
	}
	if v.CanManage {
		if v.Links, err = u.s.ListReviewLinks(ctx, p, id); err != nil {
			return err
		}
	}
	v.chrome = u.chrome(w, r, p, "Approvals · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "approvals", v)
	return nil
}

// GET /workspaces/{id}/approvals
func (u *webUI) approvalsPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.approvalsPageWith(w, r, p, nil, http.StatusOK)
}

// POST /workspaces/{id}/approval-policy
func (u *webUI) setPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	policy, err := u.s.SetApprovalPolicy(r.Context(), p, id, r.PostFormValue("approval_policy"))
	if err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Approval policy saved: " + policyLabel(policy) + "."})
	redirect(w, r, workspacePath(id)+"/approvals")
	return nil
}

// POST /workspaces/{id}/review-links
func (u *webUI) createReviewLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	in := ReviewLinkInput{Label: r.PostFormValue("label")}
	var err error
	if d := strings.TrimSpace(r.PostFormValue("expires_in_days")); d != "" {
		if in.ExpiresInDays, err = strconv.Atoi(d); err != nil {
			err = errs.Fields{"expires_in_days": "must be a whole number of days"}.Err()
		}
	}
	var l ReviewLink
	if err == nil {
		l, err = u.s.CreateReviewLink(r.Context(), p, id, in)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "label", "expires_in_days"); err != nil {
			return err
		}
		return u.approvalsPageWith(w, r, p, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Secret: u.s.reviewLinkURL(l.Token),
		Message: "Review link for " + l.Label + " created. Send it to your client: it works until " + l.ExpiresAt.Format("2 Jan 2006") +
			" unless you revoke it, and is shown only now."})
	redirect(w, r, workspacePath(id)+"/approvals")
	return nil
}

// POST /workspaces/{id}/review-links/{link}/revoke
func (u *webUI) revokeReviewLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := u.s.RevokeReviewLink(r.Context(), p, r.PathValue("link")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Review link revoked; anyone signed in with it is signed out."})
	redirect(w, r, workspacePath(r.PathValue("id"))+"/approvals")
	return nil
}

// --- a post's review ---

// reviewPage shows a post under review to a member (client=false) or on
// the client review (client=true).
func (u *webUI) reviewPage(w http.ResponseWriter, r *http.Request, p *Principal, postID string, client bool, decision, comment *form, status int) error {
	ctx := r.Context()
	post, _, _, err := u.s.reviewAccess(ctx, u.s.db, p, postID)
	if err != nil {
		return err
	}
	if !client && post.WorkspaceID != r.PathValue("id") {
		return errs.E(errs.NotFound, "post not found")
	}
	rev, err := u.s.GetReview(ctx, p, postID)
	if err != nil {
		return err
	}
	full, err := u.s.reviewedPost(ctx, p, postID)
	if err != nil {
		return err
	}
	ws, err := u.s.workspaceRole(ctx, u.s.db, p, post.WorkspaceID)
	if err != nil {
		return err
	}
	v := reviewPostView{WS: ws, Post: full, Status: approvalStatusLabel(full), Review: rev, History: historyView(rev),
		Decision: decision, Comment: comment, Client: client}
	if rev.Current != nil && rev.Current.Status == ApprovalPending && full.Status == PostPendingApproval {
		v.Waiting = stageLabel(rev.Current.Stage)
	}
	mat, err := u.s.GetReviewMaterial(ctx, p, postID)
	if err != nil {
		return err
	}
	for _, a := range mat.Accounts {
		// Counted as the account publishes it: its network's variant, links
		// tagged, in the network's own unit, like the composer's counts.
		text := tagLinks(full.Variants[a.Network].resolve(full).text, full.UTM, a.Network)
		pv := reviewPreview{Network: networkLabel(a.Network), Account: accountName(a), Chars: countText(a.Network, text), Limit: u.networkTextLimit(ctx, a.Network)}
		pv.Over = pv.Limit > 0 && pv.Chars > pv.Limit
		v.Previews = append(v.Previews, pv)
	}
	for _, m := range mat.Media {
		mu := "/review/posts/" + url.PathEscape(postID) + "/media/" + url.PathEscape(m.ID)
		if !client {
			mu = "/api/v1/media/" + url.PathEscape(m.ID) + "/content"
		}
		v.Media = append(v.Media, reviewMedia{URL: mu, Description: m.Description, Video: strings.HasPrefix(m.MimeType, "video/")})
	}
	if client {
		v.Base = "/review/posts/" + url.PathEscape(postID)
		v.chrome = chrome{Title: "Review", User: p, CSRF: p.CSRFToken, Flash: u.takeFlash(w, r)}
		v.AgencyName = u.agencyName(ctx, p)
		u.render(w, r, status, "review_post", v)
		return nil
	}
	v.Base = workspacePath(ws.ID) + "/posts/" + url.PathEscape(postID)
	switch full.Status {
	case PostDraft, PostPendingApproval, PostApproved, PostScheduled, PostSkipped:
		v.CanEdit = ws.Role.can(actWritePosts)
	}
	v.chrome = u.chrome(w, r, p, "Review", "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "post_review", v)
	return nil
}

// GET /workspaces/{id}/posts/{post}/review
func (u *webUI) postReview(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.reviewPage(w, r, p, r.PathValue("post"), false, nil, nil, http.StatusOK)
}

// decide approves or rejects from a review page's form; a refusal shows
// the page again with the form's errors.
func (u *webUI) decide(w http.ResponseWriter, r *http.Request, p *Principal, reject, client bool, back string) error {
	postID := r.PathValue("post")
	rev, err := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	if err != nil {
		rev = 0
	}
	d := Decision{Revision: rev, Comment: r.PostFormValue("comment")}
	var post Post
	if reject {
		post, err = u.s.RejectPost(r.Context(), p, postID, d)
	} else {
		post, err = u.s.ApprovePost(r.Context(), p, postID, d)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "comment"); err != nil {
			return err
		}
		if errs.KindOf(err) == errs.NotFound {
			return err
		}
		return u.reviewPage(w, r, p, postID, client, f, nil, refusedStatus(w, err))
	}
	msg := "Sent back for changes. The author sees your reason."
	if !reject {
		switch post.Status {
		case PostPendingApproval:
			msg = "Approved. It now waits for the client's approval."
		case PostApproved:
			msg = "Approved, but its planned time passed during the review, so it was not published. It needs a new time."
		case PostPublishing:
			msg = "Approved. It is being published now."
		case PostScheduled:
			msg = "Approved. It is scheduled."
			if post.LocalTime != "" && post.Kind == KindOnce {
				msg = "Approved. It is scheduled for " + wallLabel(post.LocalTime) + " (" + post.Zone + ")."
			}
		}
	}
	u.setFlash(w, flash{Kind: "success", Message: msg})
	redirect(w, r, back)
	return nil
}

func (u *webUI) comment(w http.ResponseWriter, r *http.Request, p *Principal, client bool, back string) error {
	postID := r.PathValue("post")
	if _, err := u.s.CommentOnPost(r.Context(), p, postID, r.PostFormValue("body")); err != nil {
		f := newForm(r)
		if err := f.fail(err, "body"); err != nil {
			return err
		}
		if errs.KindOf(err) == errs.NotFound {
			return err
		}
		return u.reviewPage(w, r, p, postID, client, nil, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Comment added."})
	redirect(w, r, back+"#history")
	return nil
}

// POST /workspaces/{id}/posts/{post}/approve|reject
func (u *webUI) memberDecide(reject bool) uiPageFunc {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		post, err := u.s.loadPost(r.Context(), u.s.db, p.AgencyID, r.PathValue("post"))
		if err != nil || post.WorkspaceID != r.PathValue("id") {
			return errs.E(errs.NotFound, "post not found")
		}
		return u.decide(w, r, p, reject, false, workspacePath(post.WorkspaceID)+"/posts/"+url.PathEscape(post.ID)+"/review")
	}
}

// POST /workspaces/{id}/posts/{post}/comment
func (u *webUI) memberComment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	post, err := u.s.loadPost(r.Context(), u.s.db, p.AgencyID, r.PathValue("post"))
	if err != nil || post.WorkspaceID != r.PathValue("id") {
		return errs.E(errs.NotFound, "post not found")
	}
	return u.comment(w, r, p, false, workspacePath(post.WorkspaceID)+"/posts/"+url.PathEscape(post.ID)+"/review")
}

// --- the client review ---

func (u *webUI) reviewCookie() string {
	if u.s.cfg.CookieSecure {
		return "__Host-herald_review"
	}
	return "herald_review"
}

// reviewer wraps a client review page: the browser is signed in by a
// review link (its own cookie, which no other page accepts) or is a
// signed-in user; forms carry the CSRF token of that sign-in.
func (u *webUI) reviewer(maxBody int64, f uiPageFunc) http.Handler {
	return withKind(kindReviewer, func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		var err error = errs.E(errs.Unauthenticated, "no review session")
		if c, cerr := r.Cookie(u.reviewCookie()); cerr == nil && c.Value != "" {
			p, err = u.s.ReviewSessionPrincipal(r.Context(), c.Value)
			if err == nil {
				if ok, after := u.s.apiByUser.allow("link:" + p.review.linkID); !ok {
					err = errRateLimited(after, "too many requests; wait a moment and try again")
				}
			}
		}
		if errs.Is(err, errs.Unauthenticated) {
			// No review session (or one that ended): a signed-in client
			// approver reviews with their own session.
			p, err = u.principal(r)
			if errs.Is(err, errs.Unauthenticated) {
				err = errs.E(errs.Unauthenticated, "open the review link you were sent, or sign in")
			}
		}
		if err != nil {
			u.failReview(w, r, err)
			return
		}
		if isUnsafe(r.Method) {
			if err := u.parseForm(w, r, maxBody); err != nil {
				u.failReview(w, r, err)
				return
			}
			if err := u.s.CheckCSRF(r, p); err != nil {
				u.failReview(w, r, errs.Wrap(err, errs.Forbidden, "this form has expired or came from another site; reload the page and try again"))
				return
			}
		}
		if err := f(w, r, p); err != nil {
			u.failReview(w, r, err)
		}
	})
}

// failReview is the error page of the client review: no Herald frame, no
// links into the rest of the application.
func (u *webUI) failReview(w http.ResponseWriter, r *http.Request, err error) {
	if errs.KindOf(err) == errs.Internal {
		u.s.log.Error("review request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := refusedStatus(w, err)
	msg := errs.PublicMessage(err)
	if errs.KindOf(err) == errs.NotFound {
		msg = "This post is not waiting for your review any more, or does not exist."
	}
	if errs.KindOf(err) == errs.Internal {
		msg = "Something went wrong. Try again in a moment."
	}
	u.render(w, r, status, "review_error", reviewErrorView{chrome: chrome{Title: "Review"}, Message: msg})
}

type reviewSignInView struct {
	chrome
	AgencyName, WorkspaceName string
	Token                     string
	Form                      *form
}

// GET /review/link/{token}: the link's landing page asks for a name; the
// sign-in itself is the form's POST (a GET changes nothing).
func (u *webUI) reviewSignInPage(w http.ResponseWriter, r *http.Request) error {
	return u.reviewSignInWith(w, r, nil, http.StatusOK)
}

func (u *webUI) reviewSignInWith(w http.ResponseWriter, r *http.Request, f *form, status int) error {
	token := r.PathValue("token")
	agency, ws, err := u.s.ReviewLinkInfo(r.Context(), token)
	if err != nil {
		u.failReview(w, r, err)
		return nil
	}
	// The token stays out of the Referer of anything the page loads.
	u.render(w, r, status, "review_signin", reviewSignInView{chrome: chrome{Title: "Review"}, AgencyName: agency, WorkspaceName: ws,
		Token: token, Form: f})
	return nil
}

// POST /review/link/{token} {name}
func (u *webUI) reviewSignIn(w http.ResponseWriter, r *http.Request) error {
	sess, err := u.s.StartReviewSession(r.Context(), r.PathValue("token"), r.PostFormValue("name"))
	if err != nil {
		if errs.KindOf(err) == errs.Invalid {
			f := newForm(r)
			if err := f.fail(err, "name"); err != nil {
				return err
			}
			return u.reviewSignInWith(w, r, f, refusedStatus(w, err))
		}
		u.failReview(w, r, err)
		return nil
	}
	http.SetCookie(w, &http.Cookie{
		Name: u.reviewCookie(), Value: sess.Token, Path: "/", Expires: sess.ExpiresAt, MaxAge: int(time.Until(sess.ExpiresAt).Seconds()),
		HttpOnly: true, Secure: u.s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	})
	redirect(w, r, "/review")
	return nil
}

// POST /review/signout
func (u *webUI) reviewSignOut(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := u.s.EndReviewSession(r.Context(), p); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: u.reviewCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.s.cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode})
	u.render(w, r, http.StatusOK, "review_error", reviewErrorView{chrome: chrome{Title: "Signed out"},
		Message: "You are signed out. Open the review link again to come back."})
	return nil
}

type reviewGroup struct {
	WS       Workspace
	Awaiting []awaitingItem
}

type reviewListView struct {
	chrome
	AgencyName string
	Groups     []reviewGroup
	Linked     bool
}

// GET /review: the posts waiting for the client.
func (u *webUI) reviewList(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	wss, err := u.s.ReviewWorkspaces(ctx, p)
	if err != nil {
		return err
	}
	v := reviewListView{chrome: chrome{Title: "Review", User: p, CSRF: p.CSRFToken, Flash: u.takeFlash(w, r)},
		AgencyName: u.agencyName(ctx, p), Linked: p.review != nil}
	for _, ws := range wss {
		posts, approvals, err := u.s.ListAwaitingApproval(ctx, p, ws.ID, StageClient)
		if err != nil {
			return err
		}
		v.Groups = append(v.Groups, reviewGroup{WS: ws, Awaiting: awaitingView(posts, approvals)})
	}
	u.render(w, r, http.StatusOK, "review_list", v)
	return nil
}

// GET /review/posts/{post}
func (u *webUI) reviewPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.reviewPage(w, r, p, r.PathValue("post"), true, nil, nil, http.StatusOK)
}

// POST /review/posts/{post}/approve|reject
func (u *webUI) reviewDecide(reject bool) uiPageFunc {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		return u.decide(w, r, p, reject, true, "/review")
	}
}

// POST /review/posts/{post}/comment
func (u *webUI) reviewComment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.comment(w, r, p, true, "/review/posts/"+url.PathEscape(r.PathValue("post")))
}

// GET /review/posts/{post}/media/{media}
func (u *webUI) reviewMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	m, rc, err := u.s.OpenReviewMedia(r.Context(), p, r.PathValue("post"), r.PathValue("media"))
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", m.MimeType)
	h.Set("Content-Length", strconv.FormatInt(m.SizeBytes, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": m.FileName}))
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		u.s.log.Warn("streaming review media", "media_id", m.ID, "err", err)
	}
	return nil
}

// pendingMessage tells the author a saved post waits for approval.
func pendingMessage(post Post) string {
	msg := "Sent for approval. It is scheduled once approved"
	if post.Kind == KindOnce && post.LocalTime != "" {
		msg += ", for " + wallLabel(post.LocalTime) + " (" + post.Zone + ")"
	}
	return msg + "."
}
