package portal

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

func TestUIAutomations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace
	res := c.must(http.StatusOK, c.get(path+"/automations"))
	wantText(t, res.Body, "No automations yet.", "New automation", "{{.title}} {{.link}}")

	// A template naming a field items do not have: refused beside it.
	form := url.Values{"csrf_token": {token}, "name": {"Blog"}, "feed_url": {"https://blog.example/feed.xml"},
		"template": {"{{.headline}}"}, "account_ids": {a.account}, "action": {"draft"}}
	res = c.must(http.StatusUnprocessableEntity, c.post(path+"/automations", form))
	m := regexp.MustCompile(`id="auto-template-error">([^<]*)<`).FindStringSubmatch(res.Body)
	if m == nil || !strings.Contains(html.UnescapeString(m[1]), "headline") {
		t.Fatalf("template error = %v", m)
	}
	if n := b.count(t, "portal_automations"); n != 0 {
		t.Fatalf("%d automations kept", n)
	}

	form.Set("template", "{{.title}} {{.link}}")
	res = c.must(http.StatusSeeOther, c.post(path+"/automations", form))
	apath := res.location()
	aid := strings.TrimPrefix(apath, path+"/automations/")
	res = c.must(http.StatusOK, c.get(apath))
	wantText(t, res.Body, "created", "No items yet", "Edit automation")

	b.feedItem(t, "ui-fi-1", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "g1",
		Title: "Spring menu", Link: "https://blog.example/spring"})
	res = c.must(http.StatusOK, c.get(apath))
	wantText(t, res.Body, "Spring menu", "Draft", "Open post")
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Spring menu https://blog.example/spring")

	c.must(http.StatusSeeOther, c.post(apath+"/pause", url.Values{"csrf_token": {token}, "paused": {"true"}}), apath)
	res = c.must(http.StatusOK, c.get(apath))
	wantText(t, res.Body, "Paused", "Resume")
	if !b.trigger.fakeFeeds.feed(aid).GetPaused() {
		t.Fatal("the feed is not paused")
	}

	form.Set("name", "Blog!")
	form.Set("interval", "2h")
	c.must(http.StatusSeeOther, c.post(apath, form), apath)
	if f := b.trigger.fakeFeeds.feed(aid); f.GetInterval().AsDuration().Hours() != 2 {
		t.Fatalf("feed = %v", f)
	}
	c.must(http.StatusSeeOther, c.post(apath+"/delete", url.Values{"csrf_token": {token}}), path+"/automations")
	res = c.must(http.StatusOK, c.get(path+"/automations"))
	wantText(t, res.Body, "deleted", "No automations yet.")
}
