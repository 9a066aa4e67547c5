package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/outbound"
)

// TestAutomationAttachesItemImage: an automation set to attach images
// fetches each item's image into the library and puts it on the post; an
// image that cannot be fetched leaves the post made without it, with a
// note on the item saying why.
func TestAutomationAttachesItemImage(t *testing.T) {
	t.Parallel()
	png := pngBytes(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cover.png" {
			http.NotFound(w, r)
			return
		}
		w.Write(png)
	}))
	t.Cleanup(srv.Close)
	b := setupWith(t, func(d *Deps) { d.Outbound = outbound.NewClient(outbound.Policy{AllowLoopback: true}) })
	a := b.firstAgency(t)
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed.xml", "template": "{{.title}} {{.link}}",
		"account_ids": []string{a.account}, "action": "draft", "attach_image": true})).json(t)
	if auto["attach_image"] != true {
		t.Fatalf("automation = %v", auto)
	}
	aid := auto["id"].(string)

	item := func(key, image string) *eventsv1.FeedItem {
		return &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: key, Title: "Item " + key,
			Link: "https://blog.example/" + key, ImageUrl: image}
	}
	b.feedItem(t, "fi-1", item("one", srv.URL+"/cover.png"))
	b.feedItem(t, "fi-2", item("two", srv.URL+"/gone.png"))
	b.feedItem(t, "fi-3", item("three", ""))

	drafts := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts?status=draft", nil)).json(t)["posts"].([]any)
	media := map[string][]any{}
	for _, d := range drafts {
		d := d.(map[string]any)
		ids, _ := d["media_ids"].([]any)
		media[d["text"].(string)] = ids
	}
	if len(drafts) != 3 || len(media["Item one https://blog.example/one"]) != 1 ||
		len(media["Item two https://blog.example/two"]) != 0 || len(media["Item three https://blog.example/three"]) != 0 {
		t.Fatalf("drafts and their media: %v", media)
	}
	mid := media["Item one https://blog.example/one"][0].(string)
	res := a.owner.do("GET", "/api/v1/media/"+mid+"/content", nil)
	if res.Status != http.StatusOK || string(res.Body) != string(png) {
		t.Fatalf("the attached image: status %d, %d bytes, want the feed's %d", res.Status, len(res.Body), len(png))
	}
	lib := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/media", nil)).json(t)["media"].([]any)
	if len(lib) != 1 {
		t.Fatalf("library holds %d media, want the one image", len(lib))
	}

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/automations/"+aid, nil)).json(t)
	notes := map[string]map[string]any{}
	for _, it := range got["items"].([]any) {
		it := it.(map[string]any)
		notes[it["item_key"].(string)] = it
	}
	if n := notes["two"]; n["outcome"] != ItemDraft || !strings.Contains(n["error"].(string), "without the item's image") {
		t.Errorf("item two = %v, want a draft noting its missing image", n)
	}
	if n := notes["one"]; n["outcome"] != ItemDraft || n["error"] != nil {
		t.Errorf("item one = %v, want a draft and no note", n)
	}
}

// TestAutomationAttachImageNeedsOutbound: an installation that cannot
// fetch from other sites refuses the option by its field, storing nothing.
func TestAutomationAttachImageNeedsOutbound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed.xml", "template": "{{.title}}",
		"account_ids": []string{a.account}, "action": "draft", "attach_image": true})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.errorFields(t)["attach_image"].(string), "cannot be set") {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if n := b.count(t, "portal_automations"); n != 0 {
		t.Fatalf("%d automations stored", n)
	}
}
