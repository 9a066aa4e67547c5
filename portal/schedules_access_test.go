package portal

import (
	"net/http"
	"testing"
)

// TestScheduleAccess: a client approver reads queues, automations and
// firings but changes none of them; another agency reaches nothing.
func TestScheduleAccess(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	q := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/queues", map[string]any{
		"name": "Q", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 1, "time": "09:00"}}})).json(t)["id"].(string)
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed", "template": "{{.title}}", "account_ids": []string{a.account}, "action": "draft"})).json(t)["id"].(string)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Daily", "account_ids": []string{a.account}, "repeat": map[string]any{"rrule": "FREQ=DAILY", "start_local": tomorrowAt("10:00")}})).json(t)["id"].(string)

	approver := b.invite(t, a, "approver@client.example", RoleClientApprover)
	for _, path := range []string{"/api/v1/workspaces/" + a.workspace + "/queues", "/api/v1/queues/" + q,
		"/api/v1/workspaces/" + a.workspace + "/automations", "/api/v1/automations/" + auto, "/api/v1/posts/" + post + "/firings"} {
		approver.must(http.StatusOK, approver.do("GET", path, nil))
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/workspaces/" + a.workspace + "/queues", map[string]any{"name": "X", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 1, "time": "10:00"}}}},
		{"PUT", "/api/v1/queues/" + q, map[string]any{"name": "X", "account_ids": []string{a.account}, "slots": []map[string]any{{"weekday": 1, "time": "10:00"}}}},
		{"POST", "/api/v1/queues/" + q + "/pause", map[string]any{"paused": true}},
		{"DELETE", "/api/v1/queues/" + q, nil},
		{"POST", "/api/v1/accounts/" + a.account + "/pause", map[string]any{"paused": true}},
		{"POST", "/api/v1/workspaces/" + a.workspace + "/automations", map[string]any{"name": "X", "feed_url": "https://x.example/f", "template": "{{.title}}", "account_ids": []string{a.account}, "action": "draft"}},
		{"POST", "/api/v1/automations/" + auto + "/pause", map[string]any{"paused": true}},
		{"DELETE", "/api/v1/automations/" + auto, nil},
		{"PATCH", "/api/v1/posts/" + post, map[string]any{"draft": true}},
	} {
		if res := approver.do(tc.method, tc.path, tc.body); res.Status != http.StatusForbidden && res.Status != http.StatusNotFound {
			t.Errorf("approver %s %s: %d %s", tc.method, tc.path, res.Status, res.Body)
		}
	}

	other := b.otherAgency(t, "beta")
	for _, path := range []string{"/api/v1/queues/" + q, "/api/v1/automations/" + auto, "/api/v1/posts/" + post + "/firings"} {
		if res := other.owner.do("GET", path, nil); res.Status != http.StatusNotFound {
			t.Errorf("another agency GET %s: %d", path, res.Status)
		}
	}
	if res := other.owner.do("POST", "/api/v1/queues/"+q+"/pause", map[string]any{"paused": true}); res.Status != http.StatusNotFound {
		t.Errorf("another agency pauses the queue: %d", res.Status)
	}
	if b.count(t, "trigger_queues") != 1 || b.count(t, "portal_automations") != 1 {
		t.Fatal("a refused request changed something")
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/queues/"+q, nil)).json(t)
	if got["paused"] != false {
		t.Fatalf("queue = %v", got)
	}
}
