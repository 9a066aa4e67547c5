package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

func TestAutomationValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	path := "/api/v1/workspaces/" + a.workspace + "/automations"
	valid := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "Blog", "feed_url": "https://blog.example/feed.xml", "template": "{{.title}} {{.link}}",
			"account_ids": []string{a.account}, "action": "draft"}
		edit(m)
		return m
	}
	for _, tt := range []struct {
		name, field, says string
		body              map[string]any
	}{
		{"template syntax", "template", "unclosed", valid(func(m map[string]any) { m["template"] = "{{.title" })},
		{"unknown item field", "template", ".summary", valid(func(m map[string]any) { m["template"] = "{{.body}}" })},
		{"always too long", "template", "limit is 500", valid(func(m map[string]any) { m["template"] = strings.Repeat("x", 501) + "{{.title}}" })},
		{"empty output", "template", "empty", valid(func(m map[string]any) { m["template"] = "{{if false}}x{{end}}" })},
		{"no template", "template", "required", valid(func(m map[string]any) { m["template"] = " " })},
		{"output that doubles at every level", "template", "longer than any network", valid(func(m map[string]any) {
			var b strings.Builder
			b.WriteString(`{{define "t0"}}{{.title}}{{end}}`)
			for i := 1; i < 40; i++ {
				fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d" .}}{{template "t%d" .}}{{end}}`, i, i-1, i-1)
			}
			b.WriteString(`{{template "t39" .}}`)
			m["template"] = b.String()
		})},
		{"not a web feed", "feed_url", "http", valid(func(m map[string]any) { m["feed_url"] = "ftp://blog.example/feed" })},
		{"unknown action", "action", "draft", valid(func(m map[string]any) { m["action"] = "tweet" })},
		{"queue without one", "queue_id", "", valid(func(m map[string]any) { m["action"] = "queue" })},
		{"too often", "interval", "5 minutes", valid(func(m map[string]any) { m["interval"] = "1m" })},
		{"big backfill", "backfill", "", valid(func(m map[string]any) { m["backfill"] = 50 })},
		{"no accounts", "account_ids", "", valid(func(m map[string]any) { m["account_ids"] = []string{} })},
	} {
		res := a.owner.do("POST", path, tt.body)
		if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)[tt.field] == nil || !strings.Contains(string(res.Body), tt.says) {
			t.Errorf("%s: %d %s", tt.name, res.Status, res.Body)
		}
	}
	// Trigger refuses the address (it would not fetch it): the refusal comes
	// back on the field, and nothing is kept. Trigger down: 503.
	b.trigger.fakeFeeds.refuse = errs.Fields{"url": "resolves to a private address"}.Err()
	if res := a.owner.do("POST", path, valid(func(map[string]any) {})); res.Status != 422 || !strings.Contains(res.errorFields(t)["feed_url"].(string), "private") {
		t.Fatalf("refused feed: %d %s", res.Status, res.Body)
	}
	b.trigger.fakeFeeds.refuse, b.trigger.fakeFeeds.down = nil, true
	if res := a.owner.do("POST", path, valid(func(map[string]any) {})); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("trigger down: %d %s", res.Status, res.Body)
	}
	if n := b.count(t, "portal_automations"); n != 0 {
		t.Fatalf("%d automations kept", n)
	}
	if n := len(b.trigger.fakeFeeds.feeds); n != 0 {
		t.Fatalf("%d feeds kept", n)
	}
}

// feedItem delivers a feed.item event as Trigger's outbox would.
func (b *bundle) feedItem(t *testing.T, msgID string, ev *eventsv1.FeedItem) {
	t.Helper()
	b.publish(t, msgID, bus.TopicFeedItem, mustMarshal(t, ev))
}

func TestAutomationDrafts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed.xml", "backfill": 3,
		"template": "New: {{.title}} {{truncate 40 .summary}} {{hashtags .categories}} {{.link}}", "account_ids": []string{a.account}, "action": "draft"})).json(t)
	aid := auto["id"].(string)
	feed := b.trigger.fakeFeeds.feed(aid)
	if feed == nil || feed.GetWorkspaceId() != a.workspace || feed.GetTenantId() != a.id || feed.GetBackfill() != 3 ||
		feed.GetInterval().AsDuration() != 15*time.Minute || auto["interval"] != "15m0s" {
		t.Fatalf("feed = %v, automation = %v", feed, auto)
	}

	item := &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-1", Title: "Winter menu",
		Link: "https://blog.example/winter", Summary: "Soups, stews and everything warm for the cold months ahead.", Categories: []string{"food", "winter menu"}}
	b.feedItem(t, "fi-1", item)
	b.feedItem(t, "fi-1", item)  // redelivered
	b.feedItem(t, "fi-1b", item) // the same item again, as after a feed's reset
	drafts := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts?status=draft", nil)).json(t)["posts"].([]any)
	if len(drafts) != 1 {
		t.Fatalf("%d drafts from one item", len(drafts))
	}
	d := drafts[0].(map[string]any)
	if want := "New: Winter menu Soups, stews and everything warm for th… #food #wintermenu https://blog.example/winter"; d["text"] != want || d["account_ids"].([]any)[0] != a.account {
		t.Fatalf("draft = %q, want %q", d["text"], want)
	}
	if b.trigger.count() != 0 {
		t.Fatal("a draft was scheduled")
	}

	// An item whose post would be refused is recorded as failed, once.
	long := &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-2", Title: strings.Repeat("Long ", 120), Link: "https://blog.example/long"}
	b.feedItem(t, "fi-2", long)
	// Items of another tenant or workspace, or for no automation, change nothing.
	b.feedItem(t, "fi-x", &eventsv1.FeedItem{TenantId: "agency_x", WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-3", Title: "x"})
	b.feedItem(t, "fi-y", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: "ws_other", FeedId: aid, ItemKey: "guid-4", Title: "y"})
	b.feedItem(t, "fi-z", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: "auto_gone", ItemKey: "guid-5", Title: "z"})

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	items := got["items"].([]any)
	if len(items) != 2 || got["feed"].(map[string]any)["health"] != "ok" {
		t.Fatalf("automation = %v", got)
	}
	byKey := map[string]map[string]any{}
	for _, it := range items {
		byKey[it.(map[string]any)["item_key"].(string)] = it.(map[string]any)
	}
	if byKey["guid-1"]["outcome"] != ItemDraft || byKey["guid-1"]["post_id"] != d["id"] ||
		byKey["guid-2"]["outcome"] != ItemFailed || !strings.Contains(byKey["guid-2"]["error"].(string), "limit is 500") {
		t.Fatalf("items = %v", byKey)
	}
	if n := b.count(t, "portal_posts"); n != 1 {
		t.Fatalf("%d posts", n)
	}

	// The same item delivered twice at once under two ids: one post.
	twin := &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-6", Title: "Twin", Link: "https://blog.example/twin"}
	var wg sync.WaitGroup
	for _, msgID := range []string{"fi-6a", "fi-6b", "fi-6c"} {
		wg.Go(func() {
			if err := b.svc.onFeedItem(context.Background(), &bus.Message{ID: msgID, Topic: bus.TopicFeedItem, Payload: mustMarshal(t, twin)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := b.count(t, "portal_posts"); n != 2 {
		t.Fatalf("%d posts after one new item delivered three times", n)
	}

	// Paused and resumed: Trigger is told. Deleted: the feed goes, drafts stay.
	a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/automations/"+aid+"/pause", map[string]any{"paused": true}))
	if !b.trigger.fakeFeeds.feed(aid).GetPaused() {
		t.Fatal("the feed was not paused")
	}
	up := a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/automations/"+aid, map[string]any{"name": "Blog!", "feed_url": "https://blog.example/atom.xml",
		"interval": "1h", "template": "{{.title}}", "account_ids": []string{a.account}, "action": "draft"})).json(t)
	if up["name"] != "Blog!" || up["paused"] != true || b.trigger.fakeFeeds.feed(aid).GetUrl() != "https://blog.example/atom.xml" || !b.trigger.fakeFeeds.feed(aid).GetPaused() {
		t.Fatalf("updated = %v", up)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/automations", nil)).json(t)["automations"].([]any)
	if len(list) != 1 {
		t.Fatalf("automations = %v", list)
	}
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/automations/"+aid, nil))
	if b.trigger.fakeFeeds.feed(aid) != nil || b.count(t, "portal_posts") != 2 || b.count(t, "portal_automation_items") != 0 {
		t.Fatal("delete left the feed, or took the posts")
	}
	other := b.otherAgency(t, "beta")
	if res := other.owner.do("GET", "/api/v1/automations/"+aid, nil); res.Status != http.StatusNotFound {
		t.Fatalf("deleted automation: %d", res.Status)
	}
}

func TestAutomationQueue(t *testing.T) {
	t.Parallel()
	b, ts, _ := setupRealTriggerFeeds(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "From the blog", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 2, "time": "10:00"}}})).json(t)
	qid := q["id"].(string)
	path := "/api/v1/workspaces/" + a.workspace + "/automations"
	if res := a.owner.do("POST", path, map[string]any{"name": "Blog", "feed_url": "https://blog.example/feed", "template": "{{.title}}",
		"account_ids": []string{a.account}, "action": "queue", "queue_id": qid, "evergreen": true}); res.Status != 422 || res.errorFields(t)["evergreen"] == nil {
		t.Fatalf("evergreen into a queue that does not recycle: %d %s", res.Status, res.Body)
	}
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", path, map[string]any{"name": "Blog", "feed_url": "https://blog.example/feed",
		"template": "{{.title}} {{.link}}", "account_ids": []string{a.account}, "action": "queue", "queue_id": qid})).json(t)
	aid := auto["id"].(string)

	b.feedItem(t, "fq-1", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "k1", Title: "Queued", Link: "https://blog.example/q"})
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	it := got["items"].([]any)[0].(map[string]any)
	if it["outcome"] != ItemQueued {
		t.Fatalf("item = %v", it)
	}
	post := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+it["post_id"].(string), nil)).json(t)
	sch, _ := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: it["post_id"].(string)})
	if post["kind"] != KindQueue || post["text"] != "Queued https://blog.example/q" || sch.GetSchedule().GetQueueId() != qid ||
		post["scheduled_at_utc"] != sch.GetSchedule().GetDueAt().AsTime().Format(time.RFC3339) {
		t.Fatalf("post = %v, schedule = %v", post, sch.GetSchedule())
	}

	// The queue is gone by the time an item comes: the post is kept as a
	// draft rather than lost.
	a.owner.must(http.StatusOK, a.owner.do("DELETE", "/api/v1/queues/"+qid, nil))
	b.feedItem(t, "fq-2", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "k2", Title: "Orphan", Link: "https://blog.example/o"})
	got = a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	var orphan map[string]any
	for _, x := range got["items"].([]any) {
		if x.(map[string]any)["item_key"] == "k2" {
			orphan = x.(map[string]any)
		}
	}
	if orphan == nil || orphan["outcome"] != ItemDraft || !strings.Contains(orphan["error"].(string), "queue") {
		t.Fatalf("orphan item = %v", orphan)
	}
	if p := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+orphan["post_id"].(string), nil)).json(t); p["status"] != PostDraft {
		t.Fatalf("orphan post = %v", p)
	}
}

// TestAutomationWithTriggerFeeds runs an automation on Trigger's own feed
// polling: the feed's existing items (backfill) become drafts once, and
// Trigger's refusal of an address comes back on feed_url.
func TestAutomationWithTriggerFeeds(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Bistro blog</title>
<item><guid>post-2</guid><title>Winter menu</title><link>https://bistro.example/winter</link><category>food</category></item>
<item><guid>post-1</guid><title>We are open</title><link>https://bistro.example/open</link></item>
<item><guid>post-0</guid><title>Old news</title><link>https://bistro.example/old</link></item>
</channel></rss>`)
	}))
	t.Cleanup(srv.Close)
	b, _, _ := setupTrigger(t, nil)
	a := b.firstAgency(t)
	path := "/api/v1/workspaces/" + a.workspace + "/automations"

	res := a.owner.do("POST", path, map[string]any{"name": "Blog", "feed_url": "https://user:secret@bistro.example/feed",
		"template": "{{.title}}", "account_ids": []string{a.account}, "action": "draft"})
	if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["feed_url"] == nil {
		t.Fatalf("an address Trigger refuses: %d %s", res.Status, res.Body)
	}
	if n := b.count(t, "portal_automations"); n != 0 {
		t.Fatalf("%d automations kept", n)
	}

	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", path, map[string]any{"name": "Blog", "feed_url": srv.URL + "/feed.xml",
		"backfill": 2, "template": "{{.title}} {{hashtags .categories}} {{.link}}", "account_ids": []string{a.account}, "action": "draft"})).json(t)
	aid := auto["id"].(string)
	drafts := func() []any {
		return a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts?status=draft", nil)).json(t)["posts"].([]any)
	}
	waitFor(t, "the feed's two newest items to become drafts", func() bool { return len(drafts()) == 2 })
	texts := map[string]bool{}
	for _, d := range drafts() {
		texts[d.(map[string]any)["text"].(string)] = true
	}
	if !texts["Winter menu #food https://bistro.example/winter"] || !texts["We are open  https://bistro.example/open"] {
		t.Fatalf("drafts = %v", texts)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	feed, _ := got["feed"].(map[string]any)
	if feed == nil || feed["health"] != "ok" || feed["items_seen"] != float64(3) || len(got["items"].([]any)) != 2 {
		t.Fatalf("automation = %v", got)
	}
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/automations/"+aid, nil))
	if len(drafts()) != 2 {
		t.Fatal("deleting the automation took its drafts")
	}
}

// An automation's queued post under an approval policy waits for its
// approvers like a person's, and takes its slot once approved.
func TestAutomationQueueWaitsForApproval(t *testing.T) {
	t.Parallel()
	b, ts, _ := setupRealTriggerFeeds(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	events := b.approvalEvents(t)
	a.setPolicy(t, PolicyInternal)
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "From the blog", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 2, "time": "10:00"}}})).json(t)
	qid := q["id"].(string)
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{"name": "Blog",
		"feed_url": "https://blog.example/feed", "template": "{{.title}}", "account_ids": []string{a.account}, "action": "queue", "queue_id": qid})).json(t)
	aid := auto["id"].(string)

	b.feedItem(t, "fa-1", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "k1", Title: "Reviewed first", Link: "https://blog.example/r"})
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	postID := got["items"].([]any)[0].(map[string]any)["post_id"].(string)
	post := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+postID, nil)).json(t)
	if post["status"] != PostPendingApproval {
		t.Fatalf("the automation's post is %v, want it waiting for approval", post["status"])
	}
	if _, err := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: postID}); err == nil {
		t.Fatal("Trigger holds a schedule for a post nobody approved")
	}
	events.wait(t, b, bus.TopicApprovalRequested, 1)

	a.owner.must(http.StatusOK, a.owner.decide(postID, "approve", post["revision"].(float64), ""))
	sch, err := ts.GetSchedule(ctx, &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: postID})
	if err != nil || sch.GetSchedule().GetQueueId() != qid {
		t.Fatalf("after approval the schedule is %v (%v), want a slot of the queue", sch.GetSchedule(), err)
	}
}
