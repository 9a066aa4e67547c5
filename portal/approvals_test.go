package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

// eventLog records the approval events the outbox relays.
type eventLog struct {
	mu   sync.Mutex
	byID map[string]proto.Message
	list map[string][]proto.Message
}

func (b *bundle) approvalEvents(t *testing.T) *eventLog {
	t.Helper()
	l := &eventLog{byID: map[string]proto.Message{}, list: map[string][]proto.Message{}}
	for topic, mk := range map[string]func() proto.Message{
		bus.TopicApprovalRequested: func() proto.Message { return &eventsv1.ApprovalRequested{} },
		bus.TopicApprovalDecided:   func() proto.Message { return &eventsv1.ApprovalDecided{} },
		bus.TopicApprovalCommented: func() proto.Message { return &eventsv1.ApprovalCommented{} },
	} {
		_, err := b.bus.Subscribe(context.Background(), topic, "test", func(_ context.Context, m *bus.Message) error {
			ev := mk()
			if err := proto.Unmarshal(m.Payload, ev); err != nil {
				return err
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if _, seen := l.byID[m.ID]; !seen {
				l.byID[m.ID] = ev
				l.list[m.Topic] = append(l.list[m.Topic], ev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func (l *eventLog) of(topic string) []proto.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]proto.Message(nil), l.list[topic]...)
}

// wait waits until topic has n events and checks no more come shortly.
func (l *eventLog) wait(t *testing.T, b *bundle, topic string, n int) []proto.Message {
	t.Helper()
	waitFor(t, topic+" events", func() bool { return len(l.of(topic)) >= n })
	time.Sleep(50 * time.Millisecond)
	if got := l.of(topic); len(got) != n {
		t.Fatalf("%d %s events, want %d", len(got), topic, n)
	}
	return l.of(topic)
}

func (a *agency) setPolicy(t *testing.T, policy string) {
	t.Helper()
	a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/workspaces/"+a.workspace+"/approval-policy", map[string]string{"approval_policy": policy}))
}

func (c *client) decide(post, verb string, revision float64, comment string) *response {
	c.t.Helper()
	return c.do("POST", "/api/v1/posts/"+post+"/"+verb, map[string]any{"revision": revision, "comment": comment})
}

func TestApprovalPolicySetting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	manager := b.invite(t, a, "max@acme.test", RoleManager)
	path := "/api/v1/workspaces/" + a.workspace + "/approval-policy"

	got := a.owner.must(http.StatusOK, a.owner.do("GET", path, nil)).json(t)
	if got["approval_policy"] != PolicyNone {
		t.Fatalf("default policy %v", got)
	}
	res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PUT", path, map[string]string{"approval_policy": "maybe"}))
	if res.errorFields(t)["approval_policy"] == nil {
		t.Fatalf("no field error: %s", res.Body)
	}
	approver.must(http.StatusForbidden, approver.do("PUT", path, map[string]string{"approval_policy": PolicyNone}))
	other.owner.must(http.StatusNotFound, other.owner.do("PUT", path, map[string]string{"approval_policy": PolicyNone}))
	other.owner.must(http.StatusNotFound, other.owner.do("GET", path, nil))
	manager.must(http.StatusOK, manager.do("PUT", path, map[string]string{"approval_policy": PolicyInternalClient}))
	if got := approver.must(http.StatusOK, approver.do("GET", path, nil)).json(t); got["approval_policy"] != PolicyInternalClient {
		t.Fatalf("policy %v", got)
	}
	// Without the CSRF token a browser session cannot change it.
	csrf := a.owner.csrf
	a.owner.csrf = ""
	a.owner.must(http.StatusForbidden, a.owner.do("PUT", path, map[string]string{"approval_policy": PolicyNone}))
	a.owner.csrf = csrf
	if got := a.owner.must(http.StatusOK, a.owner.do("GET", path, nil)).json(t); got["approval_policy"] != PolicyInternalClient {
		t.Fatalf("a refused change changed the policy: %v", got)
	}
}

func TestInternalApproval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := b.approvalEvents(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	manager := b.invite(t, a, "max@acme.test", RoleManager)

	post := a.createPost(t, "Needs a look")
	id := post["id"].(string)
	if post["status"] != PostPendingApproval {
		t.Fatalf("status %v", post["status"])
	}
	if b.trigger.count() != 0 {
		t.Fatal("a post waiting for approval reached Trigger")
	}
	req := events.wait(t, b, bus.TopicApprovalRequested, 1)[0].(*eventsv1.ApprovalRequested)
	if req.GetPostId() != id || req.GetStage() != StageInternal || req.GetRevision() != 1 || req.GetExcerpt() != "Needs a look" || req.GetTenantId() != a.id {
		t.Fatalf("requested = %v", req)
	}
	// Listed as waiting, for the internal stage.
	list := manager.must(http.StatusOK, manager.do("GET", "/api/v1/workspaces/"+a.workspace+"/approvals?stage=internal", nil)).json(t)["approvals"].([]any)
	if len(list) != 1 {
		t.Fatalf("awaiting = %v", list)
	}
	manager.must(http.StatusUnprocessableEntity, manager.do("GET", "/api/v1/workspaces/"+a.workspace+"/approvals?stage=later", nil))

	// A client approver cannot decide the internal stage, nor edit.
	approver.must(http.StatusForbidden, approver.decide(id, "approve", 1, ""))
	approver.must(http.StatusForbidden, approver.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "mine now"}))
	// Bad input changes nothing.
	res := manager.must(http.StatusUnprocessableEntity, manager.do("POST", "/api/v1/posts/"+id+"/approve", map[string]any{"comment": strings.Repeat("x", maxReviewComment+1)}))
	if f := res.errorFields(t); f["revision"] == nil || f["comment"] == nil {
		t.Fatalf("fields = %v", f)
	}
	manager.must(http.StatusBadRequest, manager.do("POST", "/api/v1/posts/"+id+"/approve", map[string]any{"revision": "one"}))
	manager.must(http.StatusConflict, manager.decide(id, "approve", 7, ""))
	if b.trigger.count() != 0 {
		t.Fatal("a refused approval reached Trigger")
	}

	got := manager.must(http.StatusOK, manager.decide(id, "approve", 1, "Looks good")).json(t)
	if p := got["post"].(map[string]any); p["status"] != PostScheduled {
		t.Fatalf("approved post = %v", p)
	}
	sch := b.trigger.schedule(id)
	if sch == nil || sch.GetRevision() != 1 {
		t.Fatalf("schedule = %v", sch)
	}
	dec := events.wait(t, b, bus.TopicApprovalDecided, 1)[0].(*eventsv1.ApprovalDecided)
	if dec.GetDecision() != "approved" || dec.GetStage() != StageInternal || dec.GetComment() != "Looks good" || dec.GetAuthorId() == "" || dec.GetDecidedByName() != "New manager" {
		t.Fatalf("decided = %v", dec)
	}
	// Decided once: a second approval is refused and emits nothing.
	manager.must(http.StatusConflict, manager.decide(id, "approve", 1, ""))
	events.wait(t, b, bus.TopicApprovalDecided, 1)
	events.wait(t, b, bus.TopicApprovalRequested, 1)

	rev := approver.must(http.StatusOK, approver.do("GET", "/api/v1/posts/"+id+"/review", nil)).json(t)
	hist := rev["history"].([]any)
	if len(hist) != 2 || hist[0].(map[string]any)["kind"] != ReviewSubmitted || hist[1].(map[string]any)["kind"] != ReviewApproved ||
		hist[1].(map[string]any)["body"] != "Looks good" || rev["can_decide"] != false {
		t.Fatalf("review = %v", rev)
	}
}

func TestRejectAndComment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := b.approvalEvents(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	id := a.createPost(t, "Our new colours")["id"].(string)

	// Under the client policy, the agency cannot approve for the client.
	a.owner.must(http.StatusForbidden, a.owner.decide(id, "approve", 1, ""))

	approver.must(http.StatusUnprocessableEntity, approver.do("POST", "/api/v1/posts/"+id+"/comments", map[string]any{"body": "  "}))
	c := approver.must(http.StatusCreated, approver.do("POST", "/api/v1/posts/"+id+"/comments", map[string]any{"body": "Is it teal?"})).json(t)
	a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/posts/"+id+"/comments", map[string]any{"body": "Yes, teal."}))
	com := events.wait(t, b, bus.TopicApprovalCommented, 2)
	if first := com[0].(*eventsv1.ApprovalCommented); first.GetCommentId() != c["id"] || first.GetBody() != "Is it teal?" || first.GetAuthorName() != "New client_approver" {
		t.Fatalf("commented = %v", first)
	}

	res := approver.must(http.StatusUnprocessableEntity, approver.decide(id, "reject", 1, ""))
	if res.errorFields(t)["comment"] == nil {
		t.Fatalf("no reason asked: %s", res.Body)
	}
	got := approver.must(http.StatusOK, approver.decide(id, "reject", 1, "We prefer navy")).json(t)
	if p := got["post"].(map[string]any); p["status"] != PostDraft {
		t.Fatalf("rejected post = %v", p)
	}
	r := got["review"].(map[string]any)
	if cur := r["current"].(map[string]any); cur["status"] != ApprovalRejected || cur["comment"] != "We prefer navy" {
		t.Fatalf("current = %v", cur)
	}
	var kinds []string
	for _, e := range r["history"].([]any) {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	if strings.Join(kinds, ",") != "submitted,commented,commented,rejected" {
		t.Fatalf("history %v", kinds)
	}
	if dec := events.wait(t, b, bus.TopicApprovalDecided, 1)[0].(*eventsv1.ApprovalDecided); dec.GetDecision() != "rejected" {
		t.Fatalf("decided = %v", dec)
	}
	if b.trigger.count() != 0 {
		t.Fatal("a rejected post reached Trigger")
	}
	// Given a time again, it is submitted again.
	again := a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/posts/"+id+"/submit", map[string]any{"scheduled_at": future()})).json(t)
	if again["status"] != PostPendingApproval {
		t.Fatalf("resubmitted = %v", again)
	}
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/posts/"+id+"/submit", map[string]any{}))
	events.wait(t, b, bus.TopicApprovalRequested, 2)
}

// An approval is of the content the approver saw: an edit makes a new
// revision waiting for its own approval, and a decision on the old one is
// refused.
func TestStaleApprovalRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := b.approvalEvents(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	id := a.createPost(t, "Version one")["id"].(string)

	edited := a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Version two"})).json(t)
	if edited["status"] != PostPendingApproval || edited["revision"] != float64(2) {
		t.Fatalf("edited = %v", edited)
	}
	approver.must(http.StatusConflict, approver.decide(id, "approve", 1, ""))
	if b.trigger.count() != 0 {
		t.Fatal("a stale approval reached Trigger")
	}
	reqs := events.wait(t, b, bus.TopicApprovalRequested, 2)
	if reqs[1].(*eventsv1.ApprovalRequested).GetRevision() != 2 {
		t.Fatalf("second request = %v", reqs[1])
	}

	// A change of time only keeps the approval under way.
	moved := a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"scheduled_at": future()})).json(t)
	if moved["status"] != PostPendingApproval || moved["revision"] != float64(3) {
		t.Fatalf("moved = %v", moved)
	}
	events.wait(t, b, bus.TopicApprovalRequested, 2)
	approver.must(http.StatusOK, approver.decide(id, "approve", 3, ""))
	if sch := b.trigger.schedule(id); sch == nil || sch.GetRevision() != 3 {
		t.Fatalf("schedule = %v", sch)
	}

	// Once approved, a change of the content needs approval again and
	// takes the post off Trigger's schedule.
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Version three"}))
	if b.trigger.schedule(id) != nil {
		t.Fatal("an edited approved post stayed scheduled")
	}
	var status string
	b.db.QueryRow(context.Background(), `SELECT status FROM portal_posts WHERE id = ?`, id).Scan(&status)
	if status != PostPendingApproval {
		t.Fatalf("status %s", status)
	}
	// The previous approval no longer counts.
	var approved int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_approvals WHERE post_id = ? AND status = ?`, id, ApprovalApproved).Scan(&approved)
	if approved != 0 {
		t.Fatalf("%d approvals still standing", approved)
	}
}

func TestTwoStageApprovalAndLateTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := b.approvalEvents(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternalClient)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	id := a.createPost(t, "Two stages")["id"].(string)

	approver.must(http.StatusForbidden, approver.decide(id, "approve", 1, ""))
	a.owner.must(http.StatusOK, a.owner.decide(id, "approve", 1, ""))
	if b.trigger.count() != 0 {
		t.Fatal("scheduled before the client approved")
	}
	reqs := events.wait(t, b, bus.TopicApprovalRequested, 2)
	if reqs[1].(*eventsv1.ApprovalRequested).GetStage() != StageClient {
		t.Fatalf("second stage = %v", reqs[1])
	}
	a.owner.must(http.StatusForbidden, a.owner.decide(id, "approve", 1, ""))

	// The client takes too long: the post's time passes.
	if _, err := b.db.Exec(context.Background(), `UPDATE portal_posts SET scheduled_at = ? WHERE id = ?`,
		time.Now().Add(-time.Hour).UnixMicro(), id); err != nil {
		t.Fatal(err)
	}
	got := approver.must(http.StatusOK, approver.decide(id, "approve", 1, "")).json(t)["post"].(map[string]any)
	if got["status"] != PostApproved || b.trigger.count() != 0 {
		t.Fatalf("late approval = %v, %d schedules", got, b.trigger.count())
	}
	// It needs a new time, and then goes without another approval.
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "x"}))
	moved := a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/posts/"+id+"/submit", map[string]any{"scheduled_at": future()})).json(t)
	if moved["status"] != PostScheduled || b.trigger.schedule(id) == nil {
		t.Fatalf("rescheduled = %v", moved)
	}
	events.wait(t, b, bus.TopicApprovalDecided, 2)
}

func TestApprovedPublishNowPublishesAtApproval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Breaking", "account_ids": []string{a.account}, "publish_now": true})).json(t)
	id := post["id"].(string)
	// A change of text while it waits keeps "publish now".
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Breaking news"}))
	time.Sleep(1100 * time.Millisecond)
	before := time.Now().Truncate(time.Second)
	a.owner.must(http.StatusOK, a.owner.decide(id, "approve", 2, ""))
	sch := b.trigger.schedule(id)
	if sch == nil || sch.GetDueAt().AsTime().Before(before) {
		t.Fatalf("schedule = %v, want due at approval (%v)", sch, before)
	}
}

func TestApprovalTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	id := a.createPost(t, "Private")["id"].(string)
	link := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "Client"})).json(t)
	other := b.otherAgency(t, "beta")
	eve := other.owner
	for _, tt := range []struct{ method, path string }{
		{"GET", "/api/v1/posts/" + id + "/review"},
		{"POST", "/api/v1/posts/" + id + "/approve"},
		{"POST", "/api/v1/posts/" + id + "/reject"},
		{"POST", "/api/v1/posts/" + id + "/comments"},
		{"POST", "/api/v1/posts/" + id + "/submit"},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/approvals"},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/review-links"},
		{"POST", "/api/v1/workspaces/" + a.workspace + "/review-links"},
		{"DELETE", "/api/v1/review-links/" + link["id"].(string)},
	} {
		var body any
		if tt.method == "POST" {
			body = map[string]any{"revision": 1, "comment": "x", "body": "x", "label": "x", "scheduled_at": future()}
			if strings.HasSuffix(tt.path, "/approve") || strings.HasSuffix(tt.path, "/reject") {
				body = map[string]any{"revision": 1, "comment": "x"}
			} else if strings.HasSuffix(tt.path, "/comments") {
				body = map[string]any{"body": "x"}
			} else if strings.HasSuffix(tt.path, "/submit") {
				body = map[string]any{"scheduled_at": future()}
			} else {
				body = map[string]any{"label": "x"}
			}
		}
		if res := eve.do(tt.method, tt.path, body); res.Status != http.StatusNotFound {
			t.Errorf("%s %s by another agency: %d %s", tt.method, tt.path, res.Status, res.Body)
		}
	}
	var status string
	b.db.QueryRow(context.Background(), `SELECT status FROM portal_posts WHERE id = ?`, id).Scan(&status)
	if status != PostPendingApproval {
		t.Fatalf("status %s", status)
	}
}

// reviewPrincipal signs in by a review link's token as name.
func (b *bundle) reviewPrincipal(t *testing.T, token, name string) *Principal {
	t.Helper()
	sess, err := b.svc.StartReviewSession(context.Background(), token, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.svc.ReviewSessionPrincipal(context.Background(), sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReviewLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	events := b.approvalEvents(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	ws := "/api/v1/workspaces/" + a.workspace + "/review-links"

	res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", ws, map[string]any{"label": "", "expires_in_days": 400}))
	if f := res.errorFields(t); f["label"] == nil || f["expires_in_days"] == nil {
		t.Fatalf("fields %v", f)
	}
	approver.must(http.StatusForbidden, approver.do("POST", ws, map[string]any{"label": "Me"}))
	link := a.owner.must(http.StatusCreated, a.owner.do("POST", ws, map[string]any{"label": "Client team"})).json(t)
	token := link["token"].(string)
	if !strings.HasPrefix(link["url"].(string), "https://herald.test/review/link/hrv_") || len(token) < 40 {
		t.Fatalf("link = %v", link)
	}
	exp, _ := time.Parse(time.RFC3339, link["expires_at"].(string))
	if d := time.Until(exp); d < 13*24*time.Hour || d > 14*24*time.Hour+time.Minute {
		t.Fatalf("expires in %v", d)
	}
	var clear int
	b.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_review_links WHERE token_hash = ?`, token).Scan(&clear)
	if clear != 0 {
		t.Fatal("review token stored in clear")
	}
	listed := a.owner.must(http.StatusOK, a.owner.do("GET", ws, nil)).json(t)["review_links"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["token"] != nil {
		t.Fatalf("listed = %v", listed)
	}

	// Posts: one waiting for the client here, one in another workspace of
	// the agency, one draft here.
	waiting := a.createPost(t, "For the client")["id"].(string)
	ws2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Two", "timezone": "UTC"})).json(t)["id"].(string)
	a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/workspaces/"+ws2+"/approval-policy", map[string]string{"approval_policy": PolicyClient}))
	acct2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+ws2+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-ada"})).json(t)["id"].(string)
	elsewhere := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+ws2+"/posts", map[string]any{
		"text": "Other brand", "account_ids": []string{acct2}, "scheduled_at": future()})).json(t)["id"].(string)
	draft := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Not yet", "account_ids": []string{a.account}, "draft": true})).json(t)["id"].(string)
	other := b.otherAgency(t, "beta")
	other.setPolicy(t, PolicyClient)
	foreign := other.createPost(t, "Beta's")["id"].(string)

	p := b.reviewPrincipal(t, token, "Clara Client")
	if _, err := b.svc.StartReviewSession(ctx, token, " "); err == nil {
		t.Fatal("a review session without a name")
	}
	if _, err := b.svc.StartReviewSession(ctx, "hrv_nope", "Clara"); err == nil {
		t.Fatal("a review session from a made-up token")
	}
	posts, _, err := b.svc.ListAwaitingApproval(ctx, p, a.workspace, "")
	if err != nil || len(posts) != 1 || posts[0].ID != waiting {
		t.Fatalf("link sees %v, %v", posts, err)
	}
	for _, id := range []string{elsewhere, draft, foreign} {
		if _, err := b.svc.GetReview(ctx, p, id); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("link reads post %s: %v", id, err)
		}
		if _, err := b.svc.ApprovePost(ctx, p, id, Decision{Revision: 1}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("link approves post %s: %v", id, err)
		}
	}
	if _, _, err := b.svc.ListAwaitingApproval(ctx, p, ws2, ""); err == nil {
		t.Fatal("link lists another workspace")
	}
	// The general domain methods refuse the link outright.
	if _, err := b.svc.GetPost(ctx, p, waiting); err == nil {
		t.Fatal("link reads a post through GetPost")
	}
	if _, err := b.svc.ListPosts(ctx, p, a.workspace, 0); err == nil {
		t.Fatal("link lists posts")
	}
	if _, err := b.svc.UpdatePost(ctx, p, waiting, PostUpdate{Draft: true}); err == nil {
		t.Fatal("link edits a post")
	}

	if _, err := b.svc.CommentOnPost(ctx, p, waiting, "Lovely"); err != nil {
		t.Fatal(err)
	}
	post, err := b.svc.ApprovePost(ctx, p, waiting, Decision{Revision: 1, Comment: "Go"})
	if err != nil || post.Status != PostScheduled {
		t.Fatalf("approve by link: %v, %v", post.Status, err)
	}
	if sch := b.trigger.schedule(waiting); sch == nil || sch.GetRevision() != 1 {
		t.Fatalf("schedule = %v", sch)
	}
	dec := events.wait(t, b, bus.TopicApprovalDecided, 1)[0].(*eventsv1.ApprovalDecided)
	if dec.GetDecidedByName() != "Clara Client" || !strings.HasPrefix(dec.GetDecidedBy(), "link:") {
		t.Fatalf("decided = %v", dec)
	}
	// Once approved it is no longer the link's to see.
	if _, err := b.svc.GetReview(ctx, p, waiting); err == nil {
		t.Fatal("link still reads an approved post")
	}

	// Revoked, the link and its sessions are over.
	sess, _ := b.svc.StartReviewSession(ctx, token, "Clara")
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/review-links/"+link["id"].(string), nil))
	if _, err := b.svc.ReviewSessionPrincipal(ctx, sess.Token); err == nil {
		t.Fatal("a session of a revoked link still works")
	}
	if _, err := b.svc.StartReviewSession(ctx, token, "Clara"); err == nil {
		t.Fatal("a revoked link still signs in")
	}
	// Expired links do not sign in.
	l2 := a.owner.must(http.StatusCreated, a.owner.do("POST", ws, map[string]any{"label": "Short", "expires_in_days": 1})).json(t)
	b.db.Exec(ctx, `UPDATE portal_review_links SET expires_at = ? WHERE id = ?`, time.Now().Add(-time.Minute).UnixMicro(), l2["id"])
	if _, err := b.svc.StartReviewSession(ctx, l2["token"].(string), "Clara"); err == nil {
		t.Fatal("an expired link still signs in")
	}
}

// With the real Trigger: a publish-now post approved by a review link
// fires at once, and Publisher then gets the approved revision; before the
// approval, GetPublishJob refuses it.
func TestApprovalByLinkFiresWithRealTrigger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := setupRealTrigger(t)
	due := make(chan *eventsv1.PostDue, 4)
	if _, err := b.bus.Subscribe(ctx, bus.TopicPostDue, "test", func(_ context.Context, m *bus.Message) error {
		ev := &eventsv1.PostDue{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			return err
		}
		due <- ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Now, once approved", "account_ids": []string{a.account}, "publish_now": true})).json(t)
	id := post["id"].(string)
	res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
	if err != nil || res.GetPublishable() {
		t.Fatalf("a post waiting for approval is publishable: %v, %v", res, err)
	}
	select {
	case ev := <-due:
		t.Fatalf("fired before approval: %v", ev)
	case <-time.After(300 * time.Millisecond):
	}

	link := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "Client"})).json(t)
	p := b.reviewPrincipal(t, link["token"].(string), "Clara")
	if _, err := b.svc.ApprovePost(ctx, p, id, Decision{Revision: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-due:
		if ev.GetPostId() != id || ev.GetRevision() != 1 {
			t.Fatalf("due = %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the approved post never fired")
	}
	res, err = b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
	if err != nil || !res.GetPublishable() || res.GetJob().GetText() != "Now, once approved" {
		t.Fatalf("job after approval = %v, %v", res, err)
	}
}

// An approval stands even when Trigger cannot be reached at that moment:
// the post is left unsynced and the resync loop hands it over.
func TestApprovalWhileTriggerIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	id := a.createPost(t, "Patience")["id"].(string)
	b.trigger.setFail(errors.New("connection refused"))
	got := a.owner.must(http.StatusOK, a.owner.decide(id, "approve", 1, "")).json(t)["post"].(map[string]any)
	if got["status"] != PostScheduled {
		t.Fatalf("approved = %v", got)
	}
	b.trigger.setFail(nil)
	if b.trigger.schedule(id) != nil {
		t.Fatal("scheduled while Trigger was down")
	}
	b.svc.resync(ctx, time.Now().Add(time.Minute))
	if sch := b.trigger.schedule(id); sch == nil || sch.GetRevision() != 1 {
		t.Fatalf("schedule after resync = %v", sch)
	}
}

// A client approver with an account reviews on the same pages as a link.
func TestClientApproverUserReviews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyClient)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	id := a.createPost(t, "For the approver")["id"].(string)

	c := b.browser(t)
	c.cookies["herald_session"] = approver.cookie
	wantText(t, c.must(http.StatusOK, c.get("/review")).Body, "For the approver")
	page := c.must(http.StatusOK, c.get("/review/posts/"+id)).Body
	c.must(http.StatusSeeOther, c.post("/review/posts/"+id+"/approve", url.Values{"csrf_token": {pageCSRF(t, page)}, "revision": {"1"}}), "/review")
	if b.trigger.schedule(id) == nil {
		t.Fatal("not scheduled after the approver's approval")
	}
	// An approver cannot create links or set the policy.
	approver.must(http.StatusForbidden, approver.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "x"}))
	approver.must(http.StatusForbidden, approver.do("GET", "/api/v1/workspaces/"+a.workspace+"/review-links", nil))
}

// The access matrix of the approval endpoints: each role gets what it may
// do and nothing else; a workspace one is no member of is not found.
func TestApprovalAccessMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	manager := b.invite(t, a, "max@acme.test", RoleManager)
	id := a.createPost(t, "Matrix")["id"].(string)
	link := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links", map[string]any{"label": "L"})).json(t)["id"].(string)
	// A workspace of the same agency neither invitee is a member of.
	ws2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Two", "timezone": "UTC"})).json(t)["id"].(string)

	ws := "/api/v1/workspaces/" + a.workspace
	tests := []struct {
		who    string
		c      *client
		method string
		path   string
		body   any
		status int
	}{
		{"approver", approver, "PUT", ws + "/approval-policy", map[string]string{"approval_policy": PolicyNone}, 403},
		{"approver", approver, "POST", ws + "/review-links", map[string]any{"label": "x"}, 403},
		{"approver", approver, "GET", ws + "/review-links", nil, 403},
		{"approver", approver, "DELETE", "/api/v1/review-links/" + link, nil, 403},
		{"approver", approver, "POST", "/api/v1/posts/" + id + "/submit", map[string]any{"scheduled_at": future()}, 403},
		{"approver", approver, "POST", "/api/v1/posts/" + id + "/approve", map[string]any{"revision": 1}, 403},
		{"approver", approver, "POST", "/api/v1/posts/" + id + "/reject", map[string]any{"revision": 1, "comment": "no"}, 403},
		{"approver", approver, "GET", "/api/v1/posts/" + id + "/review", nil, 200},
		{"approver", approver, "GET", ws + "/approvals", nil, 200},
		{"approver", approver, "GET", ws + "/approval-policy", nil, 200},
		{"manager", manager, "GET", ws + "/review-links", nil, 200},
		{"approver", approver, "GET", "/api/v1/workspaces/" + ws2 + "/approvals", nil, 404},
		{"manager", manager, "PUT", "/api/v1/workspaces/" + ws2 + "/approval-policy", map[string]string{"approval_policy": PolicyNone}, 404},
		{"manager", manager, "POST", "/api/v1/workspaces/" + ws2 + "/review-links", map[string]any{"label": "x"}, 404},
		{"manager", manager, "GET", "/api/v1/workspaces/" + ws2 + "/approvals", nil, 404},
	}
	for _, tt := range tests {
		if res := tt.c.do(tt.method, tt.path, tt.body); res.Status != tt.status {
			t.Errorf("%s %s %s: %d, want %d: %s", tt.who, tt.method, tt.path, res.Status, tt.status, res.Body)
		}
	}
	// Nothing changed: the post still waits, the link still works.
	var status string
	var revoked int64
	b.db.QueryRow(context.Background(), `SELECT status FROM portal_posts WHERE id = ?`, id).Scan(&status)
	b.db.QueryRow(context.Background(), `SELECT revoked_at FROM portal_review_links WHERE id = ?`, link).Scan(&revoked)
	if status != PostPendingApproval || revoked != 0 || b.trigger.count() != 0 {
		t.Fatalf("refused requests changed things: status %s, revoked %d", status, revoked)
	}
	// An API token acts as its user: the manager's token approves.
	tok := manager.must(http.StatusCreated, manager.do("POST", "/api/v1/tokens", map[string]string{"name": "ci"})).json(t)["token"].(string)
	script := b.client(t)
	script.bearer = tok
	script.must(http.StatusOK, script.decide(id, "approve", 1, ""))
}

// A queued post waits for approval outside its queue, then takes the
// queue's next free slot.
func TestApprovedQueuedPostTakesASlot(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	a.setPolicy(t, PolicyInternal)
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Tips", "slots": []map[string]any{{"weekday": 1, "time": "09:00"}}, "account_ids": []string{a.account}})).json(t)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Tip one", "queue_id": q["id"]})).json(t)
	id := post["id"].(string)
	if post["status"] != PostPendingApproval || post["scheduled_at"] != "" {
		t.Fatalf("queued post under review = %v", post)
	}
	got := a.owner.must(http.StatusOK, a.owner.decide(id, "approve", 1, "")).json(t)["post"].(map[string]any)
	if got["status"] != PostScheduled || got["scheduled_at"] == "" || got["queue_id"] != q["id"] {
		t.Fatalf("approved queued post = %v", got)
	}
	slot, err := time.Parse(time.RFC3339, got["scheduled_at_utc"].(string))
	if err != nil || slot.Before(time.Now()) {
		t.Fatalf("slot %v, %v", got["scheduled_at_utc"], err)
	}
}
