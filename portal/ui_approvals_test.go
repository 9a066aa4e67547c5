package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pageCSRF reads the CSRF token from a page's forms.
func pageCSRF(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the page:\n%s", excerpt(page))
	}
	return html.UnescapeString(m[1])
}

// The client's path: a post waits for the client, who opens the review
// link, gives a name, reads the post and approves it; it is then
// scheduled with Trigger. The link's sign-in reaches nothing else.
func TestUIClientReviewByLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	owner := a.browser(t, b)
	csrf := owner.csrf()

	// The owner sets the policy and makes a link through the pages.
	owner.must(http.StatusSeeOther, owner.post("/workspaces/"+a.workspace+"/approval-policy", url.Values{
		"csrf_token": {csrf}, "approval_policy": {PolicyClient}}), "/workspaces/"+a.workspace+"/approvals")
	page := owner.must(http.StatusOK, owner.get("/workspaces/"+a.workspace+"/approvals")).Body
	wantText(t, page, "Client: a client approver approves", "Nothing waits for approval.", "No review links yet.")
	res := owner.must(http.StatusUnprocessableEntity, owner.post("/workspaces/"+a.workspace+"/review-links", url.Values{
		"csrf_token": {csrf}, "label": {""}, "expires_in_days": {"x"}}))
	wantText(t, res.Body, "whole number of days")
	owner.must(http.StatusSeeOther, owner.post("/workspaces/"+a.workspace+"/review-links", url.Values{
		"csrf_token": {csrf}, "label": {"Client team"}}))
	if n := b.count(t, "portal_review_links"); n != 1 {
		t.Fatalf("%d links", n)
	}
	// The token is shown once, in the flash; the test takes a link of its
	// own through the API to know it.
	link := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "Test"})).json(t)
	linkPath := strings.TrimPrefix(link["url"].(string), "https://herald.test")

	post := a.createPost(t, "Spring collection is here")
	id := post["id"].(string)
	wantText(t, owner.must(http.StatusOK, owner.get("/workspaces/"+a.workspace+"/approvals")).Body, "Spring collection is here", "Waiting for the client")
	// The agency sees it under review but cannot approve for the client.
	page = owner.must(http.StatusOK, owner.get("/workspaces/"+a.workspace+"/posts/"+id+"/review")).Body
	wantText(t, page, "Waiting for approval", "submitted it for approval")
	if strings.Contains(page, `id="approve-form"`) {
		t.Fatal("the agency is offered the client's decision")
	}

	client := b.browser(t)
	page = client.must(http.StatusOK, client.get(linkPath)).Body
	wantText(t, page, "Acme", "Review posts for ada brand")
	if strings.Contains(page, "Herald") {
		t.Fatalf("the review page shows Herald's frame:\n%s", excerpt(page))
	}
	client.must(http.StatusUnprocessableEntity, client.post(linkPath, url.Values{"name": {" "}}))
	// From another site, the sign-in is refused.
	client.site = "cross-site"
	client.must(http.StatusForbidden, client.post(linkPath, url.Values{"name": {"Clara"}}))
	client.site = "same-origin"
	client.must(http.StatusSeeOther, client.post(linkPath, url.Values{"name": {"Clara Client"}}), "/review")
	if client.cookies["herald_review"] == "" || client.cookies["herald_session"] != "" {
		t.Fatalf("cookies %v", client.cookies)
	}
	wantText(t, client.must(http.StatusOK, client.get("/review")).Body, "Posts to review", "Spring collection is here")
	page = client.must(http.StatusOK, client.get("/review/posts/"+id)).Body
	wantText(t, page, "Spring collection is here", "Approve", "Ask for changes")
	token := pageCSRF(t, page)

	// Nothing else is reachable with the link's sign-in.
	client.must(http.StatusSeeOther, client.get("/workspaces/"+a.workspace))
	client.must(http.StatusSeeOther, client.get("/"))
	for _, path := range []string{"/api/v1/posts/" + id, "/api/v1/workspaces/" + a.workspace + "/posts", "/api/v1/posts/" + id + "/review"} {
		if res := client.get(path); res.Status != http.StatusUnauthorized {
			t.Errorf("GET %s with a review link: %d", path, res.Status)
		}
	}
	client.must(http.StatusSeeOther, client.post("/workspaces/"+a.workspace+"/posts/"+id+"/approve", url.Values{"csrf_token": {token}, "revision": {"1"}}))

	// The forms need the CSRF token; bad input changes nothing.
	client.must(http.StatusForbidden, client.post("/review/posts/"+id+"/approve", url.Values{"revision": {"1"}}))
	client.must(http.StatusForbidden, client.post("/review/posts/"+id+"/comment", url.Values{"csrf_token": {"forged"}, "body": {"hi"}}))
	res = client.must(http.StatusUnprocessableEntity, client.post("/review/posts/"+id+"/reject", url.Values{"csrf_token": {token}, "revision": {"1"}}))
	wantText(t, res.Body, "What should change")
	if b.trigger.count() != 0 {
		t.Fatal("a refused form reached Trigger")
	}
	client.must(http.StatusSeeOther, client.post("/review/posts/"+id+"/comment", url.Values{"csrf_token": {token}, "body": {"Love it"}}))
	client.must(http.StatusSeeOther, client.post("/review/posts/"+id+"/approve", url.Values{"csrf_token": {token}, "revision": {"1"}}), "/review")
	if sch := b.trigger.schedule(id); sch == nil || sch.GetRevision() != 1 {
		t.Fatalf("schedule after the client's approval = %v", sch)
	}
	wantText(t, client.must(http.StatusOK, client.get("/review")).Body, "Approved. It is scheduled for", "Nothing waits for your review.")
	// The approved post is no longer the link's to open.
	client.must(http.StatusNotFound, client.get("/review/posts/"+id))

	page = owner.must(http.StatusOK, owner.get("/workspaces/"+a.workspace+"/posts/"+id+"/review")).Body
	wantText(t, page, "Scheduled", "Clara Client commented", "Love it", "Clara Client approved")

	// Signing out ends the link's session.
	client.must(http.StatusOK, client.post("/review/signout", url.Values{"csrf_token": {token}}))
	client.must(http.StatusUnauthorized, client.get("/review"))

	client.must(http.StatusSeeOther, client.post(linkPath, url.Values{"name": {"Clara"}}), "/review")
	// Revoking needs the token too; with it, the link's sign-in ends.
	revoke := "/workspaces/" + a.workspace + "/review-links/" + link["id"].(string) + "/revoke"
	owner.must(http.StatusForbidden, owner.post(revoke, url.Values{}))
	client.must(http.StatusOK, client.get("/review"))
	owner.must(http.StatusSeeOther, owner.post(revoke, url.Values{"csrf_token": {csrf}}))
	client.must(http.StatusUnauthorized, client.get("/review"))
	client.must(http.StatusUnauthorized, client.get(linkPath))
	client.must(http.StatusUnauthorized, client.post(linkPath, url.Values{"name": {"Clara"}}))
}

func TestUIMemberReview(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	owner := a.browser(t, b)
	csrf := owner.csrf()
	id := a.createPost(t, "Internal look")["id"].(string)
	base := "/workspaces/" + a.workspace + "/posts/" + id

	// Forms without the token are refused and change nothing.
	owner.must(http.StatusForbidden, owner.post("/workspaces/"+a.workspace+"/approval-policy", url.Values{"approval_policy": {PolicyNone}}))
	owner.must(http.StatusForbidden, owner.post("/workspaces/"+a.workspace+"/review-links", url.Values{"label": {"X"}}))
	owner.must(http.StatusForbidden, owner.post(base+"/approve", url.Values{"revision": {"1"}}))
	owner.must(http.StatusForbidden, owner.post(base+"/reject", url.Values{"revision": {"1"}, "comment": {"no"}}))
	owner.must(http.StatusForbidden, owner.post(base+"/comment", url.Values{"body": {"x"}}))
	var policy string
	b.db.QueryRow(context.Background(), `SELECT approval_policy FROM portal_workspaces WHERE id = ?`, a.workspace).Scan(&policy)
	if policy != PolicyInternal || b.count(t, "portal_review_links") != 0 || b.count(t, "portal_approval_history") != 1 {
		t.Fatalf("a refused form changed something: policy %s", policy)
	}
	other := b.otherAgency(t, "beta")
	eve := other.browser(t, b)
	eveCSRF := eve.csrf()
	eve.must(http.StatusNotFound, eve.get(base+"/review"))
	eve.must(http.StatusNotFound, eve.post(base+"/approve", url.Values{"csrf_token": {eveCSRF}, "revision": {"1"}}))
	eve.must(http.StatusNotFound, eve.post("/workspaces/"+a.workspace+"/approval-policy", url.Values{"csrf_token": {eveCSRF}, "approval_policy": {PolicyNone}}))

	page := owner.must(http.StatusOK, owner.get("/workspaces/"+a.workspace+"/posts/"+id+"/edit")).Body
	wantText(t, page, "Approval and comments", "Waiting for approval")
	page = owner.must(http.StatusOK, owner.get(base+"/review")).Body
	wantText(t, page, "Waiting for the agency", "Approve")
	// A decision on another revision than the one shown is refused.
	res := owner.must(http.StatusConflict, owner.post(base+"/approve", url.Values{"csrf_token": {csrf}, "revision": {"2"}}))
	wantText(t, res.Body, "changed since you opened it")
	owner.must(http.StatusSeeOther, owner.post(base+"/reject", url.Values{"csrf_token": {csrf}, "revision": {"1"}, "comment": {"Shorter, please"}}), base+"/review")
	page = owner.must(http.StatusOK, owner.get(base+"/review")).Body
	wantText(t, page, "Sent back for changes", "Draft", "asked for changes", "Shorter, please")
}

// Composing on the workspace page under a policy sends the post for
// approval and says so; an edit of its text on the edit page starts the
// approval again, and the old revision cannot be approved.
func TestUIComposeForApproval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace
	at := future()
	c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{"csrf_token": {token}, "text": {"Composed"}, "account_ids": {a.account},
		"when": {"schedule"}, "scheduled_at": {at}}))
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "Sent for approval. It is scheduled once approved")
	if b.trigger.count() != 0 {
		t.Fatal("a composed post reached Trigger before approval")
	}
	var id string
	b.db.QueryRow(context.Background(), `SELECT id FROM portal_posts`).Scan(&id)
	c.must(http.StatusSeeOther, c.post(path+"/posts/"+id, url.Values{"csrf_token": {token}, "text": {"Composed, better"}, "when": {"schedule"}, "scheduled_at": {at}}))
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "Sent for approval")
	c.must(http.StatusConflict, c.post(path+"/posts/"+id+"/approve", url.Values{"csrf_token": {token}, "revision": {"1"}}))
	// Saving the same text again with the same time is no change of content.
	c.must(http.StatusSeeOther, c.post(path+"/posts/"+id, url.Values{"csrf_token": {token}, "text": {"Composed, better"}, "when": {"schedule"}, "scheduled_at": {at}}))
	c.must(http.StatusSeeOther, c.post(path+"/posts/"+id+"/approve", url.Values{"csrf_token": {token}, "revision": {"3"}}))
	if sch := b.trigger.schedule(id); sch == nil || sch.GetRevision() != 3 {
		t.Fatalf("schedule = %v", sch)
	}
	var requested int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_approvals WHERE post_id = ?`, id).Scan(&requested)
	if requested != 2 {
		t.Fatalf("%d approval records, want 2 (one per content)", requested)
	}
}

// A link holder sees the post's media and where it goes, and the media of
// no other post.
func TestUIClientReviewMedia(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "pic.png", pngBytes(t), "A red square")).json(t)["id"].(string)
	other := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "other.png", pngBytes(t), "")).json(t)["id"].(string)
	id := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "With a picture", "account_ids": []string{a.account}, "media_ids": []string{media}, "scheduled_at": future()})).json(t)["id"].(string)
	draft := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Draft", "account_ids": []string{a.account}, "media_ids": []string{other}, "draft": true})).json(t)["id"].(string)
	link := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "C"})).json(t)
	c := b.browser(t)
	linkPath := strings.TrimPrefix(link["url"].(string), "https://herald.test")
	c.must(http.StatusSeeOther, c.post(linkPath, url.Values{"name": {"Clara"}}))

	page := c.must(http.StatusOK, c.get("/review/posts/"+id)).Body
	mediaURL := "/review/posts/" + id + "/media/" + media
	if !strings.Contains(page, `src="`+mediaURL+`"`) || !strings.Contains(page, `alt="A red square"`) {
		t.Fatalf("no media in the review page:\n%s", excerpt(page))
	}
	wantText(t, page, "Where it goes", "Mastodon", "@ada@social.example")
	res := c.must(http.StatusOK, c.get(mediaURL))
	if res.Header.Get("Content-Type") != "image/png" || res.Body != string(pngBytes(t)) {
		t.Fatalf("media answer %v", res.Header)
	}
	c.must(http.StatusNotFound, c.get("/review/posts/"+id+"/media/"+other))
	c.must(http.StatusNotFound, c.get("/review/posts/"+draft+"/media/"+other))
	c.must(http.StatusUnauthorized, c.get("/api/v1/media/"+media+"/content"))
}

// The workspace's post list offers a waiting post's review.
func TestUIPostListLinksToReview(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	id := a.createPost(t, "Listed")["id"].(string)
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace)).Body
	if !strings.Contains(page, `href="/workspaces/`+a.workspace+`/posts/`+id+`/review"`) {
		t.Fatalf("no review link in the post list:\n%s", excerpt(page))
	}
	// The nav leads to the workspace's approvals.
	if !strings.Contains(page, `href="/workspaces/`+a.workspace+`/approvals"`) {
		t.Fatal("no approvals link in the navigation")
	}
}
