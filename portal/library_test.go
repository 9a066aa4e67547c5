package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider/bluesky"
)

func TestLibraryCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	base := "/api/v1/workspaces/" + a.workspace + "/library"
	media := c.must(http.StatusCreated, c.upload(a.workspace, "logo.png", pngBytes(t), "")).json(t)["id"].(string)

	it := c.must(http.StatusCreated, c.do("POST", base, map[string]any{"kind": "template", "name": " Launch ", "body": "We are live! ",
		"media_ids": []string{media}, "tags": []string{"Launch", "launch", " Promo"}})).json(t)
	if it["name"] != "Launch" || it["body"] != "We are live!" || it["kind"] != "template" {
		t.Errorf("created %v", it)
	}
	if tags := it["tags"].([]any); len(tags) != 2 || tags[0] != "launch" || tags[1] != "promo" {
		t.Errorf("tags %v, want [launch promo]", tags)
	}
	if m := it["media_ids"].([]any); len(m) != 1 || m[0] != media {
		t.Errorf("media_ids %v", m)
	}
	id := it["id"].(string)

	got := c.must(http.StatusOK, c.do("GET", "/api/v1/library/"+id, nil)).json(t)
	if got["body"] != "We are live!" {
		t.Errorf("read back %v", got)
	}
	up := c.must(http.StatusOK, c.do("PATCH", "/api/v1/library/"+id, map[string]any{"body": "Live now", "tags": []string{}})).json(t)
	if up["body"] != "Live now" || up["name"] != "Launch" || len(up["tags"].([]any)) != 0 || len(up["media_ids"].([]any)) != 1 {
		t.Errorf("updated %v", up)
	}
	// The change is in the audit log.
	entries := c.must(http.StatusOK, c.do("GET", "/api/v1/workspaces/"+a.workspace+"/audit", nil)).json(t)["entries"].([]any)
	if e := entries[0].(map[string]any); e["action"] != "library.updated" || e["object_id"] != id {
		t.Errorf("latest audit entry %v", e)
	}
	c.must(http.StatusNoContent, c.do("DELETE", "/api/v1/library/"+id, nil))
	c.must(http.StatusNotFound, c.do("GET", "/api/v1/library/"+id, nil))
}

func TestLibraryFieldErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	base := "/api/v1/workspaces/" + a.workspace + "/library"
	long := make([]byte, 101)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"nothing", map[string]any{}, []string{"kind", "name", "body"}},
		{"unknown kind", map[string]any{"kind": "poem", "name": "A", "body": "B"}, []string{"kind"}},
		{"long name", map[string]any{"kind": "snippet", "name": string(long), "body": "B"}, []string{"name"}},
		{"not hashtags", map[string]any{"kind": "hashtags", "name": "Summer", "body": "#summer sale"}, []string{"body"}},
		{"media on a snippet", map[string]any{"kind": "snippet", "name": "A", "body": "B", "media_ids": []string{"media_x"}}, []string{"media_ids"}},
		{"unknown media", map[string]any{"kind": "template", "name": "A", "body": "B", "media_ids": []string{"media_x"}}, []string{"media_ids[0]"}},
		{"bad tag", map[string]any{"kind": "snippet", "name": "A", "body": "B", "tags": []string{"a,b"}}, []string{"tags"}},
	} {
		res := c.must(http.StatusUnprocessableEntity, c.do("POST", base, tc.body))
		f := res.errorFields(t)
		for _, want := range tc.fields {
			if f[want] == nil {
				t.Errorf("%s: no error for %s in %v", tc.name, want, f)
			}
		}
		if len(f) != len(tc.fields) {
			t.Errorf("%s: errors %v, want only %v", tc.name, f, tc.fields)
		}
	}
	it := c.must(http.StatusCreated, c.do("POST", base, map[string]any{"kind": "hashtags", "name": "Summer", "body": "#summer #sale"})).json(t)
	res := c.must(http.StatusUnprocessableEntity, c.do("PATCH", "/api/v1/library/"+it["id"].(string), map[string]any{"name": ""}))
	if res.errorFields(t)["name"] == nil {
		t.Errorf("emptying the name: %s", res.Body)
	}
	// Nothing was created or changed by the refusals.
	items := c.must(http.StatusOK, c.do("GET", base, nil)).json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["name"] != "Summer" {
		t.Errorf("library holds %v", items)
	}
	c.must(http.StatusUnprocessableEntity, c.do("GET", base+"?cursor=nonsense", nil))
	c.must(http.StatusUnprocessableEntity, c.do("GET", base+"?limit=0x", nil))
	c.must(http.StatusUnprocessableEntity, c.do("GET", base+"?kind=poem", nil))
}

func TestLibraryPagesAndSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	base := "/api/v1/workspaces/" + a.workspace + "/library"
	var made []string
	for i, name := range []string{"Hello", "Sign-off", "Summer tags", "Welcome", "Launch 50%"} {
		body := map[string]any{"kind": "snippet", "name": name, "body": "text " + name}
		if i%2 == 0 {
			body["tags"] = []string{"summer"}
		}
		made = append(made, c.must(http.StatusCreated, c.do("POST", base, body)).json(t)["id"].(string))
	}
	// Pages of two, newest first, each item once.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
		res := c.must(http.StatusOK, c.do("GET", base+"?limit=2&cursor="+url.QueryEscape(cursor), nil)).json(t)
		for _, it := range res["items"].([]any) {
			seen = append(seen, it.(map[string]any)["id"].(string))
		}
		next, _ := res["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	want := slices.Clone(made)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Errorf("paged %v, want %v", seen, want)
	}

	names := func(query string) []string {
		var out []string
		for _, it := range c.must(http.StatusOK, c.do("GET", base+"?"+query, nil)).json(t)["items"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		slices.Sort(out)
		return out
	}
	for query, want := range map[string][]string{
		"q=sign":             {"Sign-off"},
		"q=SUMMER":           {"Hello", "Launch 50%", "Summer tags"},
		"tag=summer":         {"Hello", "Launch 50%", "Summer tags"},
		"tag=summ":           nil,
		"q=50%25":            {"Launch 50%"},
		"q=_":                nil,
		"q=e&tag=summer":     {"Hello", "Launch 50%", "Summer tags"},
		"kind=hashtags":      nil,
		"kind=snippet&q=wel": {"Welcome"},
	} {
		if got := names(query); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
}

func TestLibraryAccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	base := "/api/v1/workspaces/" + a.workspace + "/library"
	it := a.owner.must(http.StatusCreated, a.owner.do("POST", base, map[string]any{"kind": "snippet", "name": "A", "body": "B"})).json(t)
	path := "/api/v1/library/" + it["id"].(string)

	ro := b.invite(t, a, "ro@acme.test", RoleReadOnly)
	ro.must(http.StatusOK, ro.do("GET", base, nil))
	ro.must(http.StatusOK, ro.do("GET", path, nil))
	ro.must(http.StatusForbidden, ro.do("PATCH", path, map[string]any{"name": "Mine"}))
	ro.must(http.StatusForbidden, ro.do("POST", base, map[string]any{"kind": "snippet", "name": "A", "body": "B"}))
	ed := b.invite(t, a, "ed@acme.test", RoleEditor)
	ed.must(http.StatusOK, ed.do("PATCH", path, map[string]any{"name": "Edited"}))
	ap := b.invite(t, a, "ap@acme.test", RoleClientApprover)
	ap.must(http.StatusForbidden, ap.do("GET", base, nil))

	// Another agency sees nothing of it, and cannot point a template at
	// this agency's media.
	other := b.otherAgency(t, "beta")
	oc := other.owner
	oc.must(http.StatusNotFound, oc.do("GET", path, nil))
	oc.must(http.StatusNotFound, oc.do("DELETE", path, nil))
	oc.must(http.StatusNotFound, oc.do("GET", base, nil))
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "m.png", pngBytes(t), "")).json(t)["id"].(string)
	res := oc.must(http.StatusUnprocessableEntity, oc.do("POST", "/api/v1/workspaces/"+other.workspace+"/library",
		map[string]any{"kind": "template", "name": "T", "body": "x", "media_ids": []string{media}}))
	if res.errorFields(t)["media_ids[0]"] == nil {
		t.Errorf("another agency's media: %s", res.Body)
	}
	if n := len(oc.must(http.StatusOK, oc.do("GET", "/api/v1/workspaces/"+other.workspace+"/library", nil)).json(t)["items"].([]any)); n != 0 {
		t.Errorf("other agency's library has %d items", n)
	}
	a.owner.must(http.StatusOK, a.owner.do("GET", path, nil))
}

func TestMediaTagsAndSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	base := "/api/v1/workspaces/" + a.workspace + "/media"
	logo := c.must(http.StatusCreated, c.upload(a.workspace, "logo.png", pngBytes(t), "Our logo")).json(t)["id"].(string)
	beach := c.must(http.StatusCreated, c.upload(a.workspace, "IMG_001.png", pngBytes(t), "")).json(t)["id"].(string)
	c.must(http.StatusCreated, c.upload(a.workspace, "team.png", pngBytes(t), "The team"))

	up := c.must(http.StatusOK, c.do("PATCH", "/api/v1/media/"+beach, map[string]any{"tags": []string{"Summer", "beach"}, "description": "A beach"})).json(t)
	if tags := up["tags"].([]any); len(tags) != 2 || tags[0] != "summer" || up["description"] != "A beach" {
		t.Errorf("updated %v", up)
	}
	if nets := up["networks"].([]any); len(nets) == 0 || nets[0].(map[string]any)["ok"] != true {
		t.Errorf("network checks %v", nets)
	}
	res := c.must(http.StatusUnprocessableEntity, c.do("PATCH", "/api/v1/media/"+logo, map[string]any{"tags": []string{"a\nb"}, "description": string(make([]rune, 1501))}))
	if f := res.errorFields(t); f["tags"] == nil || f["description"] == nil {
		t.Errorf("field errors %v", f)
	}
	if got := c.must(http.StatusOK, c.do("GET", "/api/v1/media/"+logo, nil)).json(t); got["description"] != "Our logo" {
		t.Errorf("a refused change changed %v", got)
	}

	ids := func(query string) []string {
		var out []string
		for _, m := range c.must(http.StatusOK, c.do("GET", base+"?"+query, nil)).json(t)["media"].([]any) {
			out = append(out, m.(map[string]any)["file_name"].(string))
		}
		slices.Sort(out)
		return out
	}
	for query, want := range map[string][]string{
		"":                {"IMG_001.png", "logo.png", "team.png"},
		"q=LOGO":          {"logo.png"},
		"q=beach":         {"IMG_001.png"},
		"q=team":          {"team.png"},
		"tag=summer":      {"IMG_001.png"},
		"tag=sum":         nil,
		"q=png&tag=beach": {"IMG_001.png"},
	} {
		if got := ids(query); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
	page := c.must(http.StatusOK, c.do("GET", base+"?limit=2", nil)).json(t)
	next, _ := page["next_cursor"].(string)
	if len(page["media"].([]any)) != 2 || next == "" {
		t.Fatalf("first page %v", page)
	}
	rest := c.must(http.StatusOK, c.do("GET", base+"?limit=2&cursor="+url.QueryEscape(next), nil)).json(t)
	if m := rest["media"].([]any); len(m) != 1 || m[0].(map[string]any)["id"] != logo || rest["next_cursor"] != nil {
		t.Errorf("second page %v", rest)
	}

	ro := b.invite(t, a, "ro@acme.test", RoleReadOnly)
	ro.must(http.StatusOK, ro.do("GET", base+"?tag=summer", nil))
	ro.must(http.StatusForbidden, ro.do("PATCH", "/api/v1/media/"+beach, map[string]any{"tags": []string{"mine"}}))
	other := b.otherAgency(t, "beta")
	other.owner.must(http.StatusNotFound, other.owner.do("PATCH", "/api/v1/media/"+beach, map[string]any{"tags": []string{"x"}}))
}

// TestMediaNetworkChecks: each file says which networks take it, by the
// providers' own validation.
func TestMediaNetworkChecks(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(d *Deps) { d.Providers["bluesky"] = bluesky.New(http.DefaultClient) })
	a := b.firstAgency(t)
	c := a.owner
	c.must(http.StatusCreated, c.upload(a.workspace, "clip.mp4", isoVideo("isom", nil, 4096), ""))
	c.must(http.StatusCreated, c.upload(a.workspace, "still.png", pngBytes(t), ""))
	fits := map[string]map[string]any{}
	for _, m := range c.must(http.StatusOK, c.do("GET", "/api/v1/workspaces/"+a.workspace+"/media", nil)).json(t)["media"].([]any) {
		m := m.(map[string]any)
		for _, n := range m["networks"].([]any) {
			n := n.(map[string]any)
			fits[m["file_name"].(string)+" "+n["network"].(string)] = n
		}
	}
	for key, ok := range map[string]bool{"clip.mp4 bluesky": false, "clip.mp4 mastodon": true, "still.png bluesky": true, "still.png mastodon": true} {
		if fits[key]["ok"] != ok {
			t.Errorf("%s: %v, want ok %v", key, fits[key], ok)
		}
	}
	if p, _ := fits["clip.mp4 bluesky"]["problem"].(string); !strings.Contains(p, "Bluesky accepts") {
		t.Errorf("the video's problem on Bluesky: %q", p)
	}
	page := a.browser(t, b).must(http.StatusOK, a.browser(t, b).get("/workspaces/"+a.workspace+"/media")).Body
	wantText(t, page, "Bluesky: refused: is of type", "Bluesky: accepted")
}
