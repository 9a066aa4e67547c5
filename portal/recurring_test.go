package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// tomorrowAt is a wall time tomorrow in Europe/Paris (the test workspace's
// zone) at hh:mm.
func tomorrowAt(hhmm string) string {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Now().In(loc).Add(24*time.Hour).Format("2006-01-02") + "T" + hhmm
}

func TestRecurringPostValidation(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	start := tomorrowAt("09:30")
	body := func(repeat map[string]any, extra ...string) map[string]any {
		m := map[string]any{"text": "Weekly special", "account_ids": []string{a.account}, "repeat": repeat}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string
		says  string
	}{
		{"malformed rule", body(map[string]any{"rrule": "FREQ=FORTNIGHTLY", "start_local": start}), "repeat.rrule", ""},
		{"more than once a minute", body(map[string]any{"rrule": "FREQ=SECONDLY;INTERVAL=10", "start_local": start}), "repeat.rrule", ""},
		{"never fires again", body(map[string]any{"rrule": "FREQ=DAILY;COUNT=2", "start_local": "2020-01-01T09:00"}), "repeat.rrule", "no occurrence"},
		{"no rule", body(map[string]any{"start_local": start}), "repeat.rrule", "required"},
		{"unknown zone", body(map[string]any{"rrule": "FREQ=DAILY", "start_local": start, "zone": "Mars/Olympus"}), "repeat.zone", ""},
		{"bad start", body(map[string]any{"rrule": "FREQ=DAILY", "start_local": "tomorrow"}), "repeat.start_local", ""},
		{"no start", body(map[string]any{"rrule": "FREQ=DAILY"}), "repeat.start_local", ""},
		{"bad exception", body(map[string]any{"rrule": "FREQ=DAILY", "start_local": start, "exceptions": []string{start, "xmas"}}), "repeat.exceptions[1]", ""},
		{"bad skip", body(map[string]any{"rrule": "FREQ=DAILY", "start_local": start, "skip_if_later_than": "soon"}), "repeat.skip_if_later_than", ""},
		{"with a time too", body(map[string]any{"rrule": "FREQ=DAILY", "start_local": start}, "scheduled_at", future()), "repeat", "cannot be combined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", tt.body)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if f := res.errorFields(t); f[tt.field] == nil {
				t.Fatalf("no message for %q: %s", tt.field, res.Body)
			}
			if tt.says != "" && !strings.Contains(string(res.Body), tt.says) {
				t.Fatalf("response does not say %q: %s", tt.says, res.Body)
			}
			if n := b.count(t, "portal_posts"); n != 0 {
				t.Fatalf("%d posts kept", n)
			}
			if n := b.count(t, "trigger_schedules"); n != 0 {
				t.Fatalf("%d schedules kept", n)
			}
		})
	}
}

func TestRecurringPostFiresPerOccurrence(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	start := tomorrowAt("09:30")
	created := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Daily special", "account_ids": []string{a.account},
		"repeat": map[string]any{"rrule": "FREQ=DAILY;COUNT=3", "start_local": start, "skip_if_later_than": "1h"}})).json(t)
	id := created["id"].(string)
	rep, _ := created["repeat"].(map[string]any)
	if created["kind"] != KindRecurring || created["status"] != PostScheduled || created["scheduled_at"] != start ||
		created["zone"] != "Europe/Paris" || rep == nil || rep["rrule"] != "FREQ=DAILY;COUNT=3" || rep["skip_if_later_than"] != "1h0m0s" ||
		rep["description"] != "Every day, 3 times" {
		t.Fatalf("created = %v", created)
	}
	sch, err := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if err != nil {
		t.Fatal(err)
	}
	if s := sch.GetSchedule(); s.GetRrule() != "FREQ=DAILY;COUNT=3" || s.GetZone() != "Europe/Paris" || s.GetSkipIfLaterThan().AsDuration() != time.Hour ||
		s.GetRevision() != 1 || created["scheduled_at_utc"] != s.GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("trigger holds %v; post says %v", s, created["scheduled_at_utc"])
	}

	first := sch.GetSchedule().GetDueAt().AsTime()
	second, third := first.Add(24*time.Hour), first.Add(48*time.Hour)
	due := func(evID string, at time.Time, next *time.Time) {
		ev := &eventsv1.PostDue{TenantId: a.id, PostId: id, Revision: 1, ScheduleId: id, DueAt: timestamppb.New(at), FiredAt: timestamppb.New(at)}
		if next != nil {
			ev.NextDueAt = timestamppb.New(*next)
		}
		b.publish(t, evID, bus.TopicPostDue, mustMarshal(t, ev))
	}
	published := func(evID string, at time.Time, remote string) {
		b.publish(t, evID, bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: id,
			Revision: 1, AccountId: a.account, Network: "mastodon", RemoteId: remote, RemoteUrl: "https://social.example/@ada/" + remote,
			DueAt: timestamppb.New(at)}))
	}
	get := func() map[string]any {
		return a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	}
	jobTargets := func() int {
		res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.GetJob().GetTargets())
	}

	// First firing: published. The post stays scheduled, at its next time,
	// and its next firing still has a target to publish to.
	due("due1", first, &second)
	due("due1", first, &second) // redelivered: counted once
	published("pub1", first, "101")
	got := get()
	if got["status"] != PostScheduled || got["fired_count"] != float64(1) || got["scheduled_at_utc"] != second.UTC().Format(time.RFC3339) {
		t.Fatalf("after the first firing: %v", got)
	}
	if n := jobTargets(); n != 1 {
		t.Fatalf("the second firing would publish to %d targets", n)
	}

	// Second firing: Publisher reports the outcome before Portal hears of
	// post.due, and a failure without a due instant belongs to the latest.
	published("pub2", second, "102")
	due("due2", second, &third)
	// Third and last firing fails.
	due("due3", third, nil)
	b.publish(t, "fail3", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, WorkspaceId: a.workspace, PostId: id,
		Revision: 1, AccountId: a.account, Network: "mastodon", Reason: "Server on fire", Kind: "unavailable"}))

	got = get()
	if got["status"] != PostFailed || got["finished"] != true || got["fired_count"] != float64(3) {
		t.Fatalf("after the last firing: %v", got)
	}
	firings := got["firings"].([]any)
	if len(firings) != 3 {
		t.Fatalf("firings = %v", firings)
	}
	wantStatus := []string{TargetFailed, TargetPublished, TargetPublished}
	wantDue := []time.Time{third, second, first}
	for i, f := range firings {
		fm := f.(map[string]any)
		tg := fm["targets"].([]any)[0].(map[string]any)
		if fm["due_at"] != wantDue[i].UTC().Format(time.RFC3339) || tg["status"] != wantStatus[i] {
			t.Fatalf("firing %d = %v", i, fm)
		}
	}
	if tg := firings[1].(map[string]any)["targets"].([]any)[0].(map[string]any); tg["remote_url"] != "https://social.example/@ada/102" {
		t.Fatalf("second firing = %v", tg)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id+"/firings?limit=2", nil)).json(t)["firings"].([]any)
	if len(list) != 2 {
		t.Fatalf("a page of 2 firings holds %d", len(list))
	}
	if res, _ := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1}); res.GetPublishable() {
		t.Fatal("a finished post is still publishable")
	}
	if res := a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "too late"}); res.Status != http.StatusConflict {
		t.Fatalf("editing a finished post: %d %s", res.Status, res.Body)
	}
}

func TestRecurringPostEdit(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	start := tomorrowAt("08:00")
	created := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Monday", "account_ids": []string{a.account},
		"repeat": map[string]any{"rrule": "FREQ=WEEKLY;BYDAY=MO", "start_local": start, "zone": "America/New_York"}})).json(t)
	id := created["id"].(string)
	if created["zone"] != "America/New_York" {
		t.Fatalf("zone = %v", created["zone"])
	}

	// A bad new rule: refused field by field, the post and its schedule as
	// they were.
	res := a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"repeat": map[string]any{"rrule": "FREQ=MINUTELY;INTERVAL=1;BYSECOND=0,30", "start_local": start}})
	if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["repeat.rrule"] == nil {
		t.Fatalf("bad rule: %d %s", res.Status, res.Body)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	if got["revision"] != float64(1) || got["repeat"].(map[string]any)["rrule"] != "FREQ=WEEKLY;BYDAY=MO" {
		t.Fatalf("post changed by a refused edit: %v", got)
	}
	sch, _ := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if sch.GetSchedule().GetRevision() != 1 || sch.GetSchedule().GetRrule() != "FREQ=WEEKLY;BYDAY=MO" {
		t.Fatalf("trigger holds %v", sch.GetSchedule())
	}

	// A good one, with an exception: a new revision, rescheduled at once.
	got = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Weekdays",
		"repeat": map[string]any{"rrule": "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "start_local": start, "exceptions": []string{start}}})).json(t)
	sch, _ = ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	s := sch.GetSchedule()
	if got["revision"] != float64(2) || s.GetRevision() != 2 || s.GetRrule() != "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR" ||
		len(s.GetExdatesLocal()) != 1 || got["zone"] != "Europe/Paris" || got["scheduled_at_utc"] != s.GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("after the edit: post %v, trigger %v", got, s)
	}
	if got["scheduled_at"] == start {
		t.Fatalf("the first occurrence is an exception but the post shows it: %v", got)
	}

	// Turned into a one-shot post.
	at := future()
	got = a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"scheduled_at": at})).json(t)
	sch, _ = ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if got["kind"] != KindOnce || got["repeat"] != nil || got["scheduled_at"] != at || sch.GetSchedule().GetRrule() != "" {
		t.Fatalf("as a one-shot post: %v, trigger %v", got, sch.GetSchedule())
	}
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/posts/"+id, nil))
	sch, _ = ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if sch.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("deleted post's schedule: %v", sch.GetSchedule())
	}
}

// TestRecurringPostJobPerFiring asks for publish jobs the way Publisher
// does, naming the firing: a firing whose outcome is recorded offers no
// target again, the next one does, and an outcome names the firing it is
// recorded against even when a later one has fired since.
func TestRecurringPostJobPerFiring(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	created := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Daily special", "account_ids": []string{a.account},
		"repeat": map[string]any{"rrule": "FREQ=DAILY;COUNT=3", "start_local": tomorrowAt("09:30")}})).json(t)
	id := created["id"].(string)
	sch, err := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if err != nil {
		t.Fatal(err)
	}
	first := sch.GetSchedule().GetDueAt().AsTime()
	second, third := first.Add(24*time.Hour), first.Add(48*time.Hour)

	due := func(evID string, at time.Time, next *time.Time) {
		ev := &eventsv1.PostDue{TenantId: a.id, PostId: id, Revision: 1, ScheduleId: id, DueAt: timestamppb.New(at), FiredAt: timestamppb.New(at)}
		if next != nil {
			ev.NextDueAt = timestamppb.New(*next)
		}
		b.publish(t, evID, bus.TopicPostDue, mustMarshal(t, ev))
	}
	job := func(at *time.Time) *portalv1.GetPublishJobResponse {
		t.Helper()
		req := &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1}
		if at != nil {
			req.DueAt = timestamppb.New(*at)
		}
		res, err := b.svc.GetPublishJob(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	offers := func(what string, at *time.Time, want int) {
		t.Helper()
		res := job(at)
		if n := len(res.GetJob().GetTargets()); n != want || res.GetPublishable() != (want > 0) {
			t.Fatalf("%s: %d targets, publishable %v (%q), want %d", what, n, res.GetPublishable(), res.GetReason(), want)
		}
	}

	// Publisher may ask before Portal hears of post.due: the firing is
	// not settled, so its target is offered.
	offers("the first firing before its post.due", &first, 1)
	due("due1", first, &second)
	offers("the first firing", &first, 1)
	b.publish(t, "pub1", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: id,
		Revision: 1, AccountId: a.account, Network: "mastodon", RemoteId: "101", DueAt: timestamppb.New(first)}))
	// post.due for the first firing delivered again once it was
	// published: nothing to publish.
	offers("the first firing once published", &first, 0)
	if r := job(&first).GetReason(); !strings.Contains(r, "firing") {
		t.Errorf("reason = %q, want it to name the firing", r)
	}
	offers("the second firing", &second, 1)
	// Without a due instant (an older Publisher) every target is offered.
	offers("no firing named", nil, 1)

	// The second firing fails, but Publisher's report comes after the
	// third fired: it is the second firing's, not the latest's.
	due("due2", second, &third)
	due("due3", third, nil)
	b.publish(t, "fail2", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, WorkspaceId: a.workspace, PostId: id,
		Revision: 1, AccountId: a.account, Network: "mastodon", Reason: "Server on fire", Kind: "unavailable", DueAt: timestamppb.New(second)}))
	offers("the second firing once failed", &second, 0)
	offers("the third firing", &third, 1)

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	if got["status"] != PostScheduled {
		t.Fatalf("with the last firing pending the post is %v", got["status"])
	}
	if tg := got["targets"].([]any)[0].(map[string]any); tg["status"] != TargetPending {
		t.Fatalf("the target shows the latest firing, pending, not %v", tg)
	}
	firings := got["firings"].([]any)
	wantStatus := []string{TargetPending, TargetFailed, TargetPublished}
	wantDue := []time.Time{third, second, first}
	if len(firings) != len(wantStatus) {
		t.Fatalf("firings = %v", firings)
	}
	for i, f := range firings {
		fm := f.(map[string]any)
		tg := fm["targets"].([]any)[0].(map[string]any)
		if fm["due_at"] != wantDue[i].UTC().Format(time.RFC3339) || tg["status"] != wantStatus[i] {
			t.Fatalf("firing %d = %v, want %s at %s", i, fm, wantStatus[i], wantDue[i])
		}
	}

	b.publish(t, "pub3", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: id,
		Revision: 1, AccountId: a.account, Network: "mastodon", RemoteId: "103", DueAt: timestamppb.New(third)}))
	got = a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	if got["status"] != PostPublished || got["finished"] != true {
		t.Fatalf("after the last firing published: %v", got)
	}
	offers("the finished post's last firing", &third, 0)

	if _, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1,
		DueAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}); !errs.Is(err, errs.Invalid) {
		t.Errorf("an invalid due_at: %v", err)
	} else if e, _ := errs.As(err); e.Fields["due_at"] == "" {
		t.Errorf("an invalid due_at is not named: %v", err)
	}
}
