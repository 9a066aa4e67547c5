package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

func TestThreadAndFirstCommentReachThePublishJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"

	post := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{
		"text": "one", "thread": []string{"two", "three"}, "first_comment": "links below",
		"account_ids": []string{a.account}, "scheduled_at": future()})).json(t)
	if th, _ := post["thread"].([]any); len(th) != 2 || post["first_comment"] != "links below" {
		t.Fatalf("post = %v", post)
	}
	id := post["id"].(string)
	job := func(revision int64) *portalv1.PublishJob {
		t.Helper()
		res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: revision})
		if err != nil || !res.GetPublishable() {
			t.Fatalf("GetPublishJob: %v, %v", res, err)
		}
		return res.GetJob()
	}
	j := job(1)
	if len(j.GetThread()) != 2 || j.GetThread()[0].GetText() != "two" || j.GetThread()[1].GetText() != "three" ||
		j.GetFirstComment().GetText() != "links below" {
		t.Fatalf("job = %v", j)
	}

	// Editing replaces them; an empty list and "" remove them.
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"thread": []string{"only"}}))
	if j := job(2); len(j.GetThread()) != 1 || j.GetThread()[0].GetText() != "only" || j.GetFirstComment().GetText() != "links below" {
		t.Fatalf("edited job = %v", j)
	}
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"thread": []string{}, "first_comment": ""}))
	if j := job(3); len(j.GetThread()) != 0 || j.GetFirstComment() != nil {
		t.Fatalf("job without thread = %v", j)
	}

	// Each part is checked like the post's text, first by Portal, then
	// against the networks by Publisher.
	bad := func(thread []string) map[string]any {
		t.Helper()
		return a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", posts, map[string]any{"text": "one", "thread": thread,
			"account_ids": []string{a.account}, "scheduled_at": future()})).errorFields(t)
	}
	if f := bad([]string{"fine", " "}); f["thread[1]"] == nil || f["thread[0]"] != nil {
		t.Errorf("errors = %v, want thread[1] (empty)", f)
	}
	if f := bad([]string{"fine", strings.Repeat("x", 501)}); f["thread[1]"] == nil || f["thread[0]"] != nil || f["text"] != nil {
		t.Errorf("errors = %v, want thread[1] (over the network's limit)", f)
	}
}
