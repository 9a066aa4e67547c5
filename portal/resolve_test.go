package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

// TestSettleAFailedTarget: a publish that failed as unknown on one account
// is for the user to settle: publishing it again makes a new revision that
// goes to that account only; marking it published records where it went.
func TestSettleAFailedTarget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	b.prov.addToken("token-second", "remote-second", "second")
	second := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-second"})).json(t)["id"].(string)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Both", "account_ids": []string{a.account, second}, "scheduled_at": future()})).json(t)
	id := post["id"].(string)
	retry := "/api/v1/posts/" + id + "/targets/" + a.account + "/retry"

	// Not failed yet: nothing to settle.
	if kind := a.owner.must(http.StatusConflict, a.owner.do("POST", retry, nil)).errorKind(t); kind != "conflict" {
		t.Fatalf("retrying a pending target: %s", kind)
	}
	b.publish(t, "evt_p", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, PostId: id, Revision: 1,
		AccountId: second, Network: "mastodon", RemoteId: "7", RemoteUrl: "https://social.example/@second/7"}))
	b.publish(t, "evt_f", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 1,
		AccountId: a.account, Kind: "unknown", Reason: "the network did not answer"}))

	// Another agency cannot touch it.
	other := b.otherAgency(t, "other")
	other.owner.must(http.StatusNotFound, other.owner.do("POST", retry, nil))

	got := a.owner.must(http.StatusOK, a.owner.do("POST", retry, nil)).json(t)
	if got["status"] != PostPublishing || got["revision"] != float64(2) {
		t.Fatalf("after retry: %v", got)
	}
	b.trigger.mu.Lock()
	req := b.trigger.schedules[id]
	b.trigger.mu.Unlock()
	if req.GetRevision() != 2 {
		t.Fatalf("Trigger holds revision %d, want 2", req.GetRevision())
	}
	job, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 2})
	if err != nil || !job.GetPublishable() || len(job.GetJob().GetTargets()) != 1 || job.GetJob().GetTargets()[0].GetAccountId() != a.account {
		t.Fatalf("the new revision's job = %v, %v; want the failed account only", job, err)
	}

	// It fails again; the user finds it did go out and says so.
	b.publish(t, "evt_f2", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 2,
		AccountId: a.account, Kind: "unknown", Reason: "the network did not answer"}))
	published := "/api/v1/posts/" + id + "/targets/" + a.account + "/published"
	if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", published, map[string]string{"remote_url": "javascript:alert(1)"})).errorFields(t); f["remote_url"] == nil {
		t.Errorf("a bad remote_url: %v", f)
	}
	got = a.owner.must(http.StatusOK, a.owner.do("POST", published, map[string]string{"remote_url": "https://social.example/@ada/9"})).json(t)
	if got["status"] != PostPublished {
		t.Fatalf("after marking published: %v", got["status"])
	}
	for _, tg := range got["targets"].([]any) {
		if m := tg.(map[string]any); m["account_id"] == a.account && m["remote_url"] != "https://social.example/@ada/9" {
			t.Errorf("target %v, want the given remote_url", m)
		}
	}
}

// TestUISettleAFailedTarget: the post list offers both choices on a failed
// account of a one-shot post.
func TestUISettleAFailedTarget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	path := "/workspaces/" + a.workspace
	id := a.createPost(t, "Hello")["id"].(string)
	b.publish(t, "evt_f", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 1,
		AccountId: a.account, Kind: "unknown", Reason: "the network did not answer"}))
	page := c.must(http.StatusOK, c.get(path)).Body
	action := path + "/posts/" + id + "/targets/" + a.account + "/published"
	if !strings.Contains(page, action) || !strings.Contains(page, "Publish again") {
		t.Fatalf("the failed account has no settle actions:\n%s", excerpt(page))
	}
	c.must(http.StatusSeeOther, c.post(action, url.Values{"csrf_token": {c.csrf()}}), path+"#posts")
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "The post is marked as published to the account.")
}
