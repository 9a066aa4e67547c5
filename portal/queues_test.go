package portal

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

func TestQueueValidation(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	valid := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "Evergreen", "slots": []map[string]any{{"weekday": 1, "time": "09:00"}},
			"account_ids": []string{a.account}, "recycling": map[string]any{"min_gap": "72h", "max_repeats": 2}}
		edit(m)
		return m
	}
	for _, tt := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", valid(func(m map[string]any) { m["name"] = " " }), "name"},
		{"no slots", valid(func(m map[string]any) { m["slots"] = []any{} }), "slots"},
		{"bad weekday", valid(func(m map[string]any) { m["slots"] = []map[string]any{{"weekday": 8, "time": "09:00"}} }), "slots[0].weekday"},
		{"bad time", valid(func(m map[string]any) { m["slots"] = []map[string]any{{"weekday": 1, "time": "25:00"}} }), "slots[0].time"},
		{"same slot twice", valid(func(m map[string]any) {
			m["slots"] = []map[string]any{{"weekday": 1, "time": "09:00"}, {"weekday": 1, "time": "9:00"}}
		}), "slots[1]"},
		{"foreign account", valid(func(m map[string]any) { m["account_ids"] = []string{other.account} }), "account_ids[0]"},
		{"no accounts", valid(func(m map[string]any) { m["account_ids"] = []string{} }), "account_ids"},
		{"bad zone", valid(func(m map[string]any) { m["zone"] = "Europe/Atlantis" }), "zone"},
		{"no repeats", valid(func(m map[string]any) { m["recycling"] = map[string]any{"min_gap": "1h", "max_repeats": 0} }), "recycling.max_repeats"},
		{"bad gap", valid(func(m map[string]any) { m["recycling"] = map[string]any{"min_gap": "often", "max_repeats": 1} }), "recycling.min_gap"},
	} {
		res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", tt.body)
		if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)[tt.field] == nil {
			t.Errorf("%s: %d %s", tt.name, res.Status, res.Body)
		}
	}
	if n := b.count(t, "trigger_queues"); n != 0 {
		t.Fatalf("%d queues stored", n)
	}
	// Another agency sees none of it.
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", valid(func(map[string]any) {}))).json(t)
	if res := other.owner.do("GET", "/api/v1/queues/"+q["id"].(string), nil); res.Status != http.StatusNotFound {
		t.Fatalf("another agency reads the queue: %d", res.Status)
	}
	if res := other.owner.do("POST", "/api/v1/workspaces/"+other.workspace+"/posts", map[string]any{"text": "x", "queue_id": q["id"]}); res.Status != 422 || res.errorFields(t)["queue_id"] == nil {
		t.Fatalf("another agency queues a post in it: %d %s", res.Status, res.Body)
	}
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Tips", "zone": "America/New_York", "account_ids": []string{a.account},
		"slots": []map[string]any{{"weekday": 1, "time": "09:00"}, {"weekday": 3, "time": "13:30"}}})).json(t)
	qid := q["id"].(string)
	if q["zone"] != "America/New_York" || len(q["slots"].([]any)) != 2 || q["recycling"] != nil {
		t.Fatalf("queue = %v", q)
	}
	rec := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Recycled", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 5, "time": "10:00"}},
		"recycling": map[string]any{"min_gap": "168h", "max_repeats": 3}})).json(t)
	if rec["zone"] != "Europe/Paris" || rec["recycling"].(map[string]any)["max_repeats"] != float64(3) {
		t.Fatalf("recycling queue = %v", rec)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/queues", nil)).json(t)["queues"].([]any)
	if len(list) != 2 {
		t.Fatalf("queues = %v", list)
	}

	// Evergreen needs recycling; the post's accounts default to the queue's.
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"
	if res := a.owner.do("POST", posts, map[string]any{"text": "x", "queue_id": qid, "evergreen": true}); res.Status != 422 || res.errorFields(t)["evergreen"] == nil {
		t.Fatalf("evergreen in a queue without recycling: %d %s", res.Status, res.Body)
	}
	if res := a.owner.do("POST", posts, map[string]any{"text": "x", "evergreen": true, "scheduled_at": future()}); res.Status != 422 || res.errorFields(t)["evergreen"] == nil {
		t.Fatalf("evergreen without a queue: %d %s", res.Status, res.Body)
	}
	p1 := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{"text": "Tip one", "queue_id": qid})).json(t)
	p2 := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{"text": "Tip two", "queue_id": qid, "account_ids": []string{a.account}})).json(t)
	ev := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{"text": "Forever", "queue_id": rec["id"], "evergreen": true})).json(t)
	if p1["kind"] != KindQueue || p1["zone"] != "America/New_York" || p1["queue_id"] != qid || len(p1["account_ids"].([]any)) != 1 || ev["evergreen"] != true {
		t.Fatalf("queued posts = %v / %v", p1, ev)
	}
	sch, _ := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: p1["id"].(string)})
	if s := sch.GetSchedule(); s.GetQueueId() != qid || p1["scheduled_at_utc"] != s.GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("trigger holds %v for %v", s, p1["scheduled_at_utc"])
	}

	detail := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/queues/"+qid, nil)).json(t)
	qposts := detail["posts"].([]any)
	if len(qposts) != 2 || qposts[0].(map[string]any)["id"] != p1["id"] || qposts[1].(map[string]any)["id"] != p2["id"] ||
		qposts[0].(map[string]any)["text"] != "Tip one" || len(detail["next_slots"].([]any)) == 0 {
		t.Fatalf("queue detail = %v", detail)
	}
	firstSlot, _ := time.Parse(time.RFC3339, qposts[0].(map[string]any)["slot_at_utc"].(string))
	secondSlot, _ := time.Parse(time.RFC3339, qposts[1].(map[string]any)["slot_at_utc"].(string))
	if !firstSlot.Before(secondSlot) {
		t.Fatalf("slots out of order: %v %v", firstSlot, secondSlot)
	}

	get := func(id string) map[string]any {
		return a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	}
	// Paused: Trigger holds the posts and tells Portal so.
	a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/queues/"+qid+"/pause", map[string]any{"paused": true}))
	waitFor(t, "the queued post to show as held", func() bool { return get(p1["id"].(string))["held"] == true })
	if res := a.owner.do("POST", "/api/v1/queues/"+qid+"/pause", map[string]any{}); res.Status != 422 {
		t.Fatalf("pause without paused: %d", res.Status)
	}
	a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/queues/"+qid+"/pause", map[string]any{"paused": false}))
	waitFor(t, "the queued post to be released", func() bool { return get(p1["id"].(string))["held"] != true })

	// A new slot table moves the posts; Portal's shown time follows.
	a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/queues/"+qid, map[string]any{
		"name": "Tips", "zone": "America/New_York", "account_ids": []string{a.account},
		"slots": []map[string]any{{"weekday": 6, "time": "07:15"}}}))
	detail = a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/queues/"+qid, nil)).json(t)
	want := detail["posts"].([]any)[0].(map[string]any)["slot_at_utc"]
	waitFor(t, "the post's time to follow the new slot", func() bool { return get(p1["id"].(string))["scheduled_at_utc"] == want })
	if got := get(p1["id"].(string)); len(got["scheduled_at"].(string)) < 16 || got["scheduled_at"].(string)[11:16] != "07:15" {
		t.Fatalf("moved post = %v", got)
	}

	// Pausing the account holds every queue posting to it.
	held := a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/accounts/"+a.account+"/pause", map[string]any{"paused": true})).json(t)["queues"].([]any)
	if len(held) != 2 || held[0].(map[string]any)["held"] != true {
		t.Fatalf("queues after pausing the account: %v", held)
	}
	waitFor(t, "the evergreen post to be held", func() bool { return get(ev["id"].(string))["held"] == true })
	a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/accounts/"+a.account+"/pause", map[string]any{"paused": false}))

	// Deleted: its posts are kept as drafts, off Trigger.
	del := a.owner.must(http.StatusOK, a.owner.do("DELETE", "/api/v1/queues/"+qid, nil)).json(t)
	if del["drafts"] != float64(2) {
		t.Fatalf("delete = %v", del)
	}
	if got := get(p1["id"].(string)); got["status"] != PostDraft || got["queue_id"] != nil {
		t.Fatalf("post of a deleted queue = %v", got)
	}
	sch, _ = ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: p1["id"].(string)})
	if sch.GetSchedule().GetState() != triggerv1.ScheduleState_SCHEDULE_STATE_CANCELLED {
		t.Fatalf("schedule of a deleted queue's post: %v", sch.GetSchedule())
	}
	if res := a.owner.do("GET", "/api/v1/queues/"+qid, nil); res.Status != http.StatusNotFound {
		t.Fatalf("deleted queue: %d", res.Status)
	}
}

func TestScheduleMovedIsIdempotent(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Q", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 2, "time": "12:00"}}})).json(t)
	p := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{"text": "x", "queue_id": q["id"]})).json(t)
	id := p["id"].(string)
	at := time.Date(2031, 3, 4, 11, 0, 0, 0, time.UTC)
	moved := func(evID string, when time.Time, version int64, held bool) {
		b.publish(t, evID, bus.TopicScheduleMoved, mustMarshal(t, &eventsv1.ScheduleMoved{TenantId: a.id, ScheduleId: id, PostId: id,
			QueueId: q["id"].(string), DueAt: timestamppb.New(when), Held: held, Version: version}))
	}
	get := func() map[string]any {
		return a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	}
	moved("mv5", at, 50, true)
	if got := get(); got["scheduled_at_utc"] != "2031-03-04T11:00:00Z" || got["scheduled_at"] != "2031-03-04T12:00" || got["held"] != true {
		t.Fatalf("after a move: %v", got)
	}
	moved("mv3", at.Add(time.Hour), 30, false)   // older, late
	moved("mv5", at.Add(2*time.Hour), 50, false) // redelivered id
	if got := get(); got["scheduled_at_utc"] != "2031-03-04T11:00:00Z" || got["held"] != true {
		t.Fatalf("stale or repeated moves applied: %v", got)
	}
	// Another tenant's event names no post of ours.
	b.publish(t, "mvx", bus.TopicScheduleMoved, mustMarshal(t, &eventsv1.ScheduleMoved{TenantId: "agency_x", PostId: id, DueAt: timestamppb.New(at), Version: 99}))
	if got := get(); got["scheduled_at_utc"] != "2031-03-04T11:00:00Z" {
		t.Fatalf("foreign move applied: %v", got)
	}
}

func TestResyncQueuedPosts(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	mk := func(name string) string {
		return a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
			"name": name, "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 3, "time": "08:00"}}})).json(t)["id"].(string)
	}
	kept, gone := mk("kept"), mk("gone")
	p1 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{"text": "one", "queue_id": kept})).json(t)["id"].(string)
	p2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{"text": "two", "queue_id": gone})).json(t)["id"].(string)
	// As if Trigger's answers were lost: both unsynced; one queue is then
	// deleted behind Portal's back.
	if _, err := b.db.Exec(ctx, `UPDATE portal_posts SET schedule_synced = ?, scheduled_at = 0, local_time = ''`, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.DeleteQueue(ctx, &triggerv1.DeleteQueueRequest{TenantId: a.id, QueueId: gone}); err != nil {
		t.Fatal(err)
	}
	if n := b.svc.resync(ctx, time.Now().Add(time.Minute)); n != 1 {
		t.Fatalf("resynced %d posts, want 1", n)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+p1, nil)).json(t)
	sch, _ := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: p1})
	if got["kind"] != KindQueue || got["scheduled_at_utc"] != sch.GetSchedule().GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("resynced post = %v, trigger %v", got, sch.GetSchedule())
	}
	if got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+p2, nil)).json(t); got["status"] != PostDraft || got["text"] != "two" {
		t.Fatalf("post of a vanished queue = %v", got)
	}
	if n := b.svc.resync(ctx, time.Now().Add(time.Minute)); n != 0 {
		t.Fatalf("resynced %d posts again", n)
	}
}
