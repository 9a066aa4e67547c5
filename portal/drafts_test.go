package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

func TestDraftLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"

	if res := a.owner.do("POST", posts, map[string]any{"text": "x", "account_ids": []string{a.account}, "draft": true, "scheduled_at": future()}); res.Status != 422 || res.errorFields(t)["draft"] == nil {
		t.Fatalf("draft with a time: %d %s", res.Status, res.Body)
	}
	if res := a.owner.do("POST", posts, map[string]any{"text": "", "account_ids": []string{a.account}, "draft": true}); res.Status != 422 || res.errorFields(t)["text"] == nil {
		t.Fatalf("empty draft: %d %s", res.Status, res.Body)
	}

	d := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{"text": "Idea", "account_ids": []string{a.account}, "draft": true})).json(t)
	id := d["id"].(string)
	if d["status"] != PostDraft || d["kind"] != KindDraft || d["scheduled_at"] != "" || d["scheduled_at_utc"] != "" || b.trigger.calls != 0 {
		t.Fatalf("draft = %v (trigger calls %d)", d, b.trigger.calls)
	}
	a.createPost(t, "Scheduled one")
	list := a.owner.must(http.StatusOK, a.owner.do("GET", posts+"?status=draft", nil)).json(t)["posts"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Fatalf("drafts = %v", list)
	}
	all := a.owner.must(http.StatusOK, a.owner.do("GET", posts, nil)).json(t)["posts"].([]any)
	// The API lists by creation, newest first (pages hold still while posts
	// change status); ?status=draft above is how a client finds drafts.
	if len(all) != 2 || all[1].(map[string]any)["id"] != id {
		t.Fatalf("posts are not newest created first: %v", all)
	}
	if res := a.owner.do("GET", posts+"?status=lost", nil); res.Status != 422 || res.errorFields(t)["status"] == nil {
		t.Fatalf("unknown status: %d %s", res.Status, res.Body)
	}
	if res, _ := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1}); res.GetPublishable() {
		t.Fatal("a draft is publishable")
	}

	// Edited: a new revision, still a draft, still no schedule.
	d = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Better idea"})).json(t)
	if d["status"] != PostDraft || d["revision"] != float64(2) || d["text"] != "Better idea" || b.trigger.schedule(id) != nil {
		t.Fatalf("edited draft = %v", d)
	}

	// Scheduled: Trigger refuses, the draft stays as it was.
	b.trigger.setFail(errors.New("down"))
	at := future()
	if res := a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"scheduled_at": at}); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("scheduling while Trigger is down: %d %s", res.Status, res.Body)
	}
	if got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t); got["status"] != PostDraft || got["revision"] != float64(2) {
		t.Fatalf("after a refused scheduling: %v", got)
	}
	b.trigger.setFail(nil)
	d = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"scheduled_at": at})).json(t)
	sch := b.trigger.schedule(id)
	if d["status"] != PostScheduled || d["kind"] != KindOnce || d["scheduled_at"] != at || sch == nil || float64(sch.GetRevision()) != d["revision"].(float64) {
		t.Fatalf("scheduled draft = %v, trigger %v", d, sch)
	}
	if res, _ := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: int64(d["revision"].(float64))}); !res.GetPublishable() {
		t.Fatalf("the scheduled draft is not publishable: %v", res)
	}

	// Back to a draft: off Trigger's schedule.
	d = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"draft": true})).json(t)
	if d["status"] != PostDraft || b.trigger.schedule(id) != nil {
		t.Fatalf("unscheduled = %v, trigger %v", d, b.trigger.schedule(id))
	}
	// A draft is deleted even while Trigger is down: it has nothing there.
	b.trigger.setFail(errors.New("down"))
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/posts/"+id, nil))
	if n := b.count(t, "portal_posts"); n != 1 {
		t.Fatalf("%d posts left", n)
	}
}

func TestUIDrafts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace

	res := c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{"csrf_token": {token}, "text": {"Half an idea"},
		"account_ids": {a.account}, "when": {"draft"}, "scheduled_at": {future()}}))
	id := strings.TrimPrefix(res.location(), path+"#post-")
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Draft saved.", "Edit or schedule")
	if !strings.Contains(res.Body, `data-post-id="`+id+`" data-status="draft"`) || b.trigger.count() != 0 {
		t.Fatalf("the draft is not listed as one (schedules %d)", b.trigger.count())
	}

	edit := c.must(http.StatusOK, c.get(path+"/posts/"+id+"/edit"))
	if !strings.Contains(edit.Body, `name="account_ids" value="`+a.account+`" checked`) {
		t.Error("the edit page does not show the draft's account as chosen")
	}
	// Unticking every account is refused beside them.
	res = c.must(http.StatusUnprocessableEntity, c.post(path+"/posts/"+id, url.Values{"csrf_token": {token}, "text": {"Half an idea"},
		"when": {"draft"}, "accounts_shown": {"1"}}))
	wantText(t, res.Body, "Choose at least one account.")
	if !strings.Contains(edit.Body, ">Half an idea</textarea>") || !strings.Contains(edit.Body, `value="draft" checked`) {
		t.Fatalf("edit page:\n%s", excerpt(edit.Body))
	}
	// A refused schedule keeps the edit page with the problem beside the time.
	res = c.must(http.StatusUnprocessableEntity, c.post(path+"/posts/"+id, url.Values{"csrf_token": {token}, "text": {"A whole idea"},
		"when": {"schedule"}, "scheduled_at": {"2020-01-01T09:00"}}))
	wantText(t, res.Body, "in the past")
	if !strings.Contains(res.Body, ">A whole idea</textarea>") {
		t.Error("the edited text was not kept")
	}
	at := future()
	c.must(http.StatusSeeOther, c.post(path+"/posts/"+id, url.Values{"csrf_token": {token}, "text": {"A whole idea"},
		"when": {"schedule"}, "scheduled_at": {at}, "accounts_shown": {"1"}, "account_ids": {a.account}}), path+"#post-"+id)
	if sch := b.trigger.schedule(id); sch == nil || sch.GetRevision() != 2 {
		t.Fatalf("trigger holds %v", sch)
	}
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Saved: scheduled for", "A whole idea")

	// Another workspace's path does not reach the post.
	if res := c.get("/workspaces/ws_other/posts/" + id + "/edit"); res.Status == http.StatusOK {
		t.Fatalf("edit page under another workspace: %d", res.Status)
	}
}

// TestDraftScheduledEveryWay: a draft becomes a recurring post, a draft
// again, then a queued one, each time as Trigger holds it.
func TestDraftScheduledEveryWay(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	id := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Idea", "account_ids": []string{a.account}, "draft": true})).json(t)["id"].(string)
	schedule := func() *triggerv1.Schedule {
		res, err := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
		if errs.Is(err, errs.NotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return res.GetSchedule()
	}
	if s := schedule(); s != nil {
		t.Fatalf("a draft has a schedule: %v", s)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{
		"repeat": map[string]any{"rrule": "FREQ=MONTHLY;COUNT=3", "start_local": tomorrowAt("12:00")}})).json(t)
	if s := schedule(); got["kind"] != KindRecurring || s.GetRrule() != "FREQ=MONTHLY;COUNT=3" || s.GetRevision() != 2 {
		t.Fatalf("as recurring: %v, trigger %v", got, s)
	}
	got = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"draft": true})).json(t)
	if s := schedule(); got["status"] != PostDraft || s.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("back to a draft: %v, trigger %v", got, s)
	}
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Q", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 4, "time": "16:00"}}})).json(t)["id"].(string)
	got = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"queue_id": q})).json(t)
	if s := schedule(); got["kind"] != KindQueue || s.GetQueueId() != q || s.GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING ||
		got["scheduled_at_utc"] != s.GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("queued: %v, trigger %v", got, s)
	}
}
