package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// TestOneShotLateLimit: a one-shot post takes a late limit, Trigger is
// asked for it, bad limits are refused field by field, and when Trigger
// reports the post skipped its targets fail with the reason.
func TestOneShotLateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"not a duration", map[string]any{"scheduled_at": future(), "skip_if_later_than": "soon"}},
		{"negative", map[string]any{"scheduled_at": future(), "skip_if_later_than": "-1h"}},
		{"over a year", map[string]any{"scheduled_at": future(), "skip_if_later_than": "9000h"}},
		{"with publish_now", map[string]any{"publish_now": true, "skip_if_later_than": "1h"}},
		{"with draft", map[string]any{"draft": true, "skip_if_later_than": "1h"}},
	} {
		body := map[string]any{"text": "Late limit", "account_ids": []string{a.account}}
		for k, v := range tc.body {
			body[k] = v
		}
		before := b.count(t, "portal_posts")
		fields := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", posts, body)).errorFields(t)
		if fields["skip_if_later_than"] == nil {
			t.Errorf("%s: error fields %v, want skip_if_later_than", tc.name, fields)
		}
		if after := b.count(t, "portal_posts"); after != before {
			t.Errorf("%s: a refused post was stored", tc.name)
		}
	}

	created := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{
		"text": "Launch", "account_ids": []string{a.account}, "scheduled_at": future(), "skip_if_later_than": "90m"})).json(t)
	id := created["id"].(string)
	if created["skip_if_later_than"] != "1h30m0s" {
		t.Errorf("created post shows skip_if_later_than %v, want 1h30m0s", created["skip_if_later_than"])
	}
	b.trigger.mu.Lock()
	req := b.trigger.schedules[id]
	b.trigger.mu.Unlock()
	if req == nil || req.GetSkipIfLaterThan().AsDuration() != 90*time.Minute {
		t.Fatalf("Trigger was asked for %v, want a 90m late limit", req)
	}

	due := req.GetDueAt().AsTime()
	skipped := mustMarshal(t, &eventsv1.ScheduleSkipped{TenantId: a.id, ScheduleId: id, PostId: id, Revision: 1,
		DueAt: timestamppb.New(due), Count: 1, SkippedAt: timestamppb.New(due.Add(3 * time.Hour)),
		SkipIfLaterThan: durationpb.New(90 * time.Minute)})
	// Another agency's view of the same ids touches nothing.
	b.publish(t, "evt_skip_x", bus.TopicScheduleSkipped, mustMarshal(t, &eventsv1.ScheduleSkipped{TenantId: "agency_other",
		ScheduleId: id, PostId: id, Revision: 1, DueAt: timestamppb.New(due), Count: 1, SkippedAt: timestamppb.New(due.Add(3 * time.Hour))}))
	if got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t); got["status"] != PostScheduled {
		t.Fatalf("another tenant's event changed the post: %v", got["status"])
	}
	b.publish(t, "evt_skip", bus.TopicScheduleSkipped, skipped)
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	target := got["targets"].([]any)[0].(map[string]any)
	reason, _ := target["error"].(string)
	if got["status"] != PostSkipped || target["status"] != TargetSkipped || !strings.Contains(reason, "3h0m0s late") ||
		!strings.Contains(reason, "limit of 1h30m0s") {
		t.Fatalf("after schedule.skipped: status %v, target %v", got["status"], target)
	}

	// A skipped post needs a new time; given one, it is scheduled again,
	// with its targets pending.
	if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Launch!"})).errorFields(t); f["scheduled_at"] == nil {
		t.Errorf("editing a skipped post without a time: fields %v, want scheduled_at", f)
	}
	again := a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"scheduled_at": future()})).json(t)
	if again["status"] != PostScheduled || again["targets"].([]any)[0].(map[string]any)["status"] != TargetPending {
		t.Fatalf("rescheduled skipped post: %v", again)
	}
}

// TestUIOneShotLateLimit: the composer's late limit reaches Trigger for a
// post scheduled at a time, and a skipped post offers a new time.
func TestUIOneShotLateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	path := "/workspaces/" + a.workspace
	c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{"text": {"Launch"}, "account_ids": {a.account},
		"when": {"schedule"}, "scheduled_at": {future()}, "skip_late": {"45m"}, "csrf_token": {c.csrf()}}))
	b.trigger.mu.Lock()
	var req *triggerv1.ScheduleRequest
	for _, r := range b.trigger.schedules {
		req = r
	}
	b.trigger.mu.Unlock()
	if req == nil || req.GetSkipIfLaterThan().AsDuration() != 45*time.Minute {
		t.Fatalf("Trigger was asked for %v, want a 45m late limit", req)
	}
	due := req.GetDueAt().AsTime()
	b.publish(t, "evt_skip_ui", bus.TopicScheduleSkipped, mustMarshal(t, &eventsv1.ScheduleSkipped{TenantId: a.id,
		ScheduleId: req.GetScheduleId(), PostId: req.GetPostId(), Revision: 1, DueAt: timestamppb.New(due), Count: 1,
		SkippedAt: timestamppb.New(due.Add(time.Hour)), SkipIfLaterThan: durationpb.New(45 * time.Minute)}))
	page := c.must(http.StatusOK, c.get(path)).Body
	if !strings.Contains(page, path+"/posts/"+req.GetPostId()+"/edit") || !strings.Contains(page, "Give it a new time") {
		t.Errorf("a skipped post offers no new time:\n%s", excerpt(page))
	}
}
