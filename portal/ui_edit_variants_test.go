package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The edit page shows a post's per-network versions and link tagging as
// stored, and saving it changes what was changed: a network's new text,
// a version emptied back to the post's own.
func TestUIEditPostVariants(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	c := a.browser(t, b)
	ws := "/workspaces/" + a.workspace
	post := a.createPostWith(t, map[string]any{
		"text": "The post's own", "account_ids": []string{accts["x"], accts["bluesky"]}, "scheduled_at": future(),
		"variants": map[string]any{
			"x":       map[string]any{"text": "For X"},
			"bluesky": map[string]any{"thread": []string{"Second part"}},
		},
		"utm": map[string]any{"enabled": true, "campaign": "winter"},
	})["id"].(string)

	page := c.must(http.StatusOK, c.get(ws+"/posts/"+post+"/edit")).Body
	wantText(t, page, "For X", "Second part")
	for _, html := range []string{`name="variant.x.text"`, `name="utm_campaign" value="winter"`, `name="utm" value="1" checked`} {
		if !strings.Contains(page, html) {
			t.Errorf("the edit page has no %s", html)
		}
	}

	form := url.Values{"csrf_token": {c.csrf()}, "text": {"The post's own"}, "when": {"schedule"}, "scheduled_at": {future()},
		"variants_shown": {"1"}, "variant.x.text": {"For X, edited"}, "variant.bluesky.thread": {""},
		"utm": {"1"}, "utm_campaign": {"winter"}}
	c.must(http.StatusSeeOther, c.post(ws+"/posts/"+post, form))
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+post, nil)).json(t)
	vs, _ := got["variants"].(map[string]any)
	if x, _ := vs["x"].(map[string]any); x["text"] != "For X, edited" || vs["bluesky"] != nil || len(vs) != 1 {
		t.Errorf("variants after the edit: %v, want X's new text and Bluesky back to the post's own", vs)
	}
	if u, _ := got["utm"].(map[string]any); u["campaign"] != "winter" {
		t.Errorf("utm after the edit: %v", got["utm"])
	}
}

// A post whose network has images of its own is beyond the form: the edit
// page says so, and saving a new text keeps that network's version whole.
func TestUIEditKeepsVariantsTheFormCannotShow(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	c := a.browser(t, b)
	ws := "/workspaces/" + a.workspace
	img := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "x.png", pngBytes(t), "")).json(t)["id"].(string)
	post := a.createPostWith(t, map[string]any{
		"text": "Own text", "account_ids": []string{accts["x"], accts["mastodon"]}, "scheduled_at": future(),
		"variants": map[string]any{"x": map[string]any{"text": "X has a picture", "media": []map[string]any{{"media_id": img, "alt_text": "a square"}}}},
	})["id"].(string)
	page := c.must(http.StatusOK, c.get(ws+"/posts/"+post+"/edit")).Body
	if !strings.Contains(page, `id="variants-api-only"`) || strings.Contains(page, `name="variant.x.text"`) {
		t.Fatalf("the edit page offers fields it would lose the X images with:\n%s", excerpt(page))
	}
	form := url.Values{"csrf_token": {c.csrf()}, "text": {"Own text, edited"}, "when": {"schedule"}, "scheduled_at": {future()},
		"variants_shown": {"1"}}
	c.must(http.StatusSeeOther, c.post(ws+"/posts/"+post, form))
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+post, nil)).json(t)
	x, _ := got["variants"].(map[string]any)["x"].(map[string]any)
	media, _ := x["media"].([]any)
	if got["text"] != "Own text, edited" || x["text"] != "X has a picture" || len(media) != 1 {
		t.Errorf("after the edit: text %q, X variant %v; want the new text and X's version whole", got["text"], x)
	}
}
