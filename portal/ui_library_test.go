package portal

import (
	"bytes"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// memberBrowser is a browser holding an invited member's session.
func memberBrowser(t *testing.T, b *bundle, c *client) *uiClient {
	u := b.browser(t)
	u.cookies["herald_session"] = c.cookie
	return u
}

func TestUILibrary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	lib := "/workspaces/" + a.workspace + "/library"
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "launch.png", pngBytes(t), "Rocket")).json(t)["id"].(string)

	// A refused form comes back with its problems beside the inputs and
	// what was typed; nothing is stored.
	res := c.must(http.StatusUnprocessableEntity, c.post(lib, url.Values{"csrf_token": {token}, "kind": {"hashtags"},
		"name": {""}, "body": {"summer #sale"}}))
	wantText(t, res.Body, "Name is required.", "Body must be hashtags separated by spaces")
	if !strings.Contains(res.Body, ">summer #sale</textarea>") {
		t.Error("the refused form lost the text typed")
	}
	wantText(t, c.must(http.StatusOK, c.get(lib)).Body, "The library is empty.")

	c.must(http.StatusSeeOther, c.post(lib, url.Values{"csrf_token": {token}, "kind": {"hashtags"}, "name": {"Summer"},
		"body": {"#summer #sale"}, "tags": {"season, Promo"}}), lib)
	c.must(http.StatusSeeOther, c.post(lib, url.Values{"csrf_token": {token}, "kind": {"template"}, "name": {"Launch"},
		"body": {"We launch today!"}, "media_ids": {media}}), lib)
	res = c.must(http.StatusOK, c.get(lib))
	wantText(t, res.Body, "Added Launch to the library.", "Summer", "Hashtag set", "Template")
	// The text is on the page to copy, without a script.
	if !strings.Contains(res.Body, ">#summer #sale</textarea>") {
		t.Error("the hashtag set's text is not shown to copy")
	}
	items := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/library", nil)).json(t)["items"].([]any)
	launch := items[0].(map[string]any)["id"].(string)
	summer := items[1].(map[string]any)["id"].(string)

	// Search by tag and by name.
	res = c.must(http.StatusOK, c.get(lib+"?tag=promo"))
	if !strings.Contains(res.Body, `data-library-id="`+summer+`"`) || strings.Contains(res.Body, `data-library-id="`+launch+`"`) {
		t.Error("the tag filter does not keep the hashtag set alone")
	}
	res = c.must(http.StatusOK, c.get(lib+"?q=laun"))
	if strings.Contains(res.Body, `data-library-id="`+summer+`"`) || !strings.Contains(res.Body, `data-library-id="`+launch+`"`) {
		t.Error("the search does not keep the template alone")
	}

	// Editing: the form holds the item; a refusal keeps the page.
	res = c.must(http.StatusOK, c.get(lib+"/"+summer))
	if !strings.Contains(res.Body, `value="season, promo"`) {
		t.Errorf("the edit form does not hold the tags:\n%s", excerpt(res.Body))
	}
	res = c.must(http.StatusUnprocessableEntity, c.post(lib+"/"+summer, url.Values{"csrf_token": {token}, "kind": {"snippet"},
		"name": {"Summer"}, "body": {"#summer"}, "media_ids": {media}}))
	wantText(t, res.Body, "Images are only for templates.")
	c.must(http.StatusSeeOther, c.post(lib+"/"+summer, url.Values{"csrf_token": {token}, "kind": {"hashtags"},
		"name": {"Summer 2027"}, "body": {"#summer2027"}}), lib)
	wantText(t, c.must(http.StatusOK, c.get(lib)).Body, "Saved Summer 2027.")

	// A new post from the template: the composer holds its text and media.
	res = c.must(http.StatusOK, c.get(lib+"/"+launch+"/compose"))
	if !strings.Contains(res.Body, ">We launch today!</textarea>") {
		t.Error("the composer does not hold the template's text")
	}
	if !regexp.MustCompile(`name="media_ids" value="` + media + `" checked`).MatchString(res.Body) {
		t.Error("the template's media is not ticked in the composer")
	}
	if !strings.Contains(res.Body, `id="compose-insert"`) {
		t.Error("the composer has no Insert menu")
	}

	// A read-only member sees the library and its texts, and no forms.
	ro := memberBrowser(t, b, b.invite(t, a, "ro@acme.test", RoleReadOnly))
	res = ro.must(http.StatusOK, ro.get(lib))
	if !strings.Contains(res.Body, ">#summer2027</textarea>") || strings.Contains(res.Body, `id="library-form"`) ||
		strings.Contains(res.Body, "/compose") {
		t.Error("a read-only member's library page")
	}
	ro.must(http.StatusForbidden, ro.post(lib, url.Values{"csrf_token": {ro.csrf()}, "kind": {"snippet"}, "name": {"A"}, "body": {"B"}}))

	// Deleting.
	c.must(http.StatusSeeOther, c.post(lib+"/"+summer+"/delete", url.Values{"csrf_token": {token}}), lib)
	if strings.Contains(c.must(http.StatusOK, c.get(lib)).Body, `data-library-id="`+summer+`"`) {
		t.Error("the deleted item is still listed")
	}
	// An item is reached only under its own workspace.
	other := b.otherAgency(t, "beta")
	oc := other.browser(t, b)
	oc.must(http.StatusNotFound, oc.get("/workspaces/"+other.workspace+"/library/"+launch))
}

// uploadFiles sends several files in one form, as a browser without the
// page's script does.
func (c *uiClient) uploadFiles(path string, fields url.Values, files map[string][]byte) *uiResponse {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for name, content := range files {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			c.t.Fatal(err)
		}
		fw.Write(content)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, path, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(r)
}

func TestUIMediaLibrary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	page := "/workspaces/" + a.workspace + "/media"

	res := c.must(http.StatusUnprocessableEntity, c.uploadFiles(page+"/upload", url.Values{"csrf_token": {token}}, nil))
	wantText(t, res.Body, "Choose one or more images or videos to upload.")
	res = c.must(http.StatusUnprocessableEntity, c.uploadFiles(page+"/upload", url.Values{"csrf_token": {token}},
		map[string][]byte{"notes.png": []byte("just text")}))
	wantText(t, res.Body, "notes.png: File is text/plain")

	// Several files at once: each is stored or refused on its own.
	c.must(http.StatusSeeOther, c.uploadFiles(page+"/upload", url.Values{"csrf_token": {token}},
		map[string][]byte{"one.png": pngBytes(t), "two.png": pngBytes(t), "bad.png": []byte("not an image")}), page)
	res = c.must(http.StatusOK, c.get(page))
	wantText(t, res.Body, "Not uploaded: bad.png: File is text/plain")
	if n := strings.Count(res.Body, `class="media-card"`); n != 2 {
		t.Errorf("%d files listed, want 2", n)
	}
	// Each file says what the networks make of it.
	wantText(t, res.Body, "Mastodon: accepted")

	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/media?q=one", nil)).json(t)["media"].([]any)
	one := list[0].(map[string]any)["id"].(string)
	c.must(http.StatusSeeOther, c.post(page+"/"+one, url.Values{"csrf_token": {token}, "description": {"The first"},
		"tags": {"Summer, logo"}}), page)
	res = c.must(http.StatusOK, c.get(page+"?tag=summer"))
	wantText(t, res.Body, "Saved one.png.")
	if strings.Count(res.Body, `class="media-card"`) != 1 || !strings.Contains(res.Body, `data-media-id="`+one+`"`) {
		t.Error("the tag filter does not keep one.png alone")
	}
	if !strings.Contains(res.Body, `value="summer, logo"`) {
		t.Error("the edit form does not hold the tags")
	}
	res = c.must(http.StatusOK, c.get(page+"?q=first"))
	if strings.Count(res.Body, `class="media-card"`) != 1 {
		t.Error("searching the description")
	}
	c.must(http.StatusSeeOther, c.post(page+"/"+one, url.Values{"csrf_token": {token}, "tags": {"a\tb"}}), page)
	wantText(t, html.UnescapeString(c.must(http.StatusOK, c.get(page)).Body), "one.png was not changed")

	ro := memberBrowser(t, b, b.invite(t, a, "ro@acme.test", RoleReadOnly))
	res = ro.must(http.StatusOK, ro.get(page))
	if strings.Count(res.Body, `class="media-card"`) != 2 || strings.Contains(res.Body, `id="media-upload"`) || strings.Contains(res.Body, `class="media-edit"`) {
		t.Error("a read-only member's media page")
	}
	ro.must(http.StatusForbidden, ro.post(page+"/"+one, url.Values{"csrf_token": {ro.csrf()}, "tags": {"mine"}}))
}
