package portal

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAuditLogSaysWhoChangedWhat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	id := a.createPost(t, "Audited")["id"].(string)
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Audited, edited"}))
	script := a.tokenClient(t, b)
	script.must(http.StatusNoContent, script.do("DELETE", "/api/v1/posts/"+id, nil))
	// A refused change is not a change.
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{"text": ""}))

	log := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/audit", nil)).json(t)
	var actions []string
	for _, e := range log["entries"].([]any) {
		m := e.(map[string]any)
		actions = append(actions, m["action"].(string))
		if m["action"] == "post.deleted" && (m["via_token"] != true || m["object_id"] != id || m["actor_name"] != "Ada") {
			t.Errorf("the deletion is recorded as %v", m)
		}
	}
	want := []string{"post.deleted", "post.updated", "post.created", "account.connected", "workspace.created"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("actions %v, want %v (newest first)", actions, want)
	}

	// Cursor pages: two at a time cover everything once, in order.
	var paged []string
	cursor := ""
	for range 10 {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		page := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/audit"+q, nil)).json(t)
		for _, e := range page["entries"].([]any) {
			paged = append(paged, e.(map[string]any)["action"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(paged) != fmt.Sprint(want) {
		t.Fatalf("paged %v, want %v", paged, want)
	}
	for q, field := range map[string]string{"?cursor=bogus": "cursor", "?limit=0x": "limit", "?limit=201": "limit"} {
		if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/audit"+q, nil)).errorFields(t); f[field] == nil {
			t.Errorf("%s: fields %v", q, f)
		}
	}
	// Another agency sees none of it.
	other.owner.must(http.StatusNotFound, other.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/audit", nil))

	c := a.browser(t, b)
	wantText(t, c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/audit")).Body, "post.deleted", "(API token)", "Ada")
}
