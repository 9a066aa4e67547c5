package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// pagedList is one paged endpoint of the API, and how a test adds to it.
type pagedList struct {
	name  string
	path  string // with any filter already in the query
	field string // the answer's list
	add   func(t *testing.T, i int)
	// newestFirst lists never show an item added during the walk; the
	// others (created_at ascending) show every one, at the end. Lists by
	// a random key (members, by user id) may show one or not.
	newestFirst, appends bool
}

// ids reads the ids of one page's items (members carry user_id).
func pageIDs(t *testing.T, page map[string]any, field string) []string {
	t.Helper()
	var out []string
	for _, it := range page[field].([]any) {
		m := it.(map[string]any)
		id, _ := m["id"].(string)
		if id == "" {
			id, _ = m["user_id"].(string)
		}
		out = append(out, id)
	}
	return out
}

func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}

// walkPages reads every page of path, limit at a time, calling between
// after the first page; it fails on a page without next_cursor that is
// not the last, or a full page that is.
func walkPages(t *testing.T, c *client, path, field string, limit int, between func()) []string {
	t.Helper()
	var all []string
	cursor := ""
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatalf("%s: more than 100 pages", path)
		}
		q := fmt.Sprintf("limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		page := c.must(http.StatusOK, c.do("GET", withQuery(path, q), nil)).json(t)
		ids := pageIDs(t, page, field)
		if len(ids) > limit {
			t.Fatalf("%s: %d items on a page of %d", path, len(ids), limit)
		}
		all = append(all, ids...)
		next, has := page["next_cursor"].(string)
		if n == 0 && between != nil {
			between()
		}
		if !has {
			return all
		}
		if next == "" || len(ids) != limit {
			t.Fatalf("%s: page %d has %d items and next_cursor %q", path, n, len(ids), next)
		}
		cursor = next
	}
}

// checkWalk says the walk showed every item that was there before it once,
// in the list's order, and nothing twice.
func checkWalk(t *testing.T, l pagedList, before, walked, after []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range walked {
		if seen[id] {
			t.Fatalf("%s: %s shown twice in %v", l.name, id, walked)
		}
		seen[id] = true
	}
	for _, id := range before {
		if !seen[id] {
			t.Fatalf("%s: %s, there before the walk, was skipped: walked %v, before %v", l.name, id, walked, before)
		}
	}
	// In the order of the whole list read afterwards.
	var inOrder []string
	for _, id := range after {
		if seen[id] {
			inOrder = append(inOrder, id)
		}
	}
	if !slices.Equal(inOrder, walked) {
		t.Fatalf("%s: walked %v, not in the list's order %v", l.name, walked, after)
	}
	switch {
	case l.newestFirst && len(walked) != len(before):
		t.Fatalf("%s: newest first, yet the walk showed items added during it: %v (before %v)", l.name, walked, before)
	case l.appends && !slices.Equal(walked, after):
		t.Fatalf("%s: oldest first, so the walk should end with the items added during it: %v, whole list %v", l.name, walked, after)
	}
}

func testPagedList(t *testing.T, c *client, l pagedList) {
	t.Helper()
	for i := range 5 {
		l.add(t, i)
	}
	whole := func() []string {
		page := c.must(http.StatusOK, c.do("GET", withQuery(l.path, "limit=200"), nil)).json(t)
		if _, has := page["next_cursor"]; has {
			t.Fatalf("%s: next_cursor on the only page", l.name)
		}
		return pageIDs(t, page, l.field)
	}
	before := whole()
	walked := walkPages(t, c, l.path, l.field, 2, func() {
		l.add(t, 100)
		l.add(t, 101)
	})
	checkWalk(t, l, before, walked, whole())
	// The default page is 50: everything here, no next_cursor.
	if page := c.must(http.StatusOK, c.do("GET", l.path, nil)).json(t); page["next_cursor"] != nil || len(page[l.field].([]any)) != len(before)+2 {
		t.Fatalf("%s: the default page is %v", l.name, page)
	}
	checkPageRefusals(t, c, l.path)
}

// checkPageRefusals: a bad limit or cursor is a 422 naming the field.
func checkPageRefusals(t *testing.T, c *client, path string) {
	t.Helper()
	first := c.must(http.StatusOK, c.do("GET", withQuery(path, "limit=1"), nil)).json(t)
	good, _ := first["next_cursor"].(string)
	tampered := ""
	if good != "" {
		// Another place under the same signature.
		body, sig, _ := strings.Cut(good, ".")
		tampered = body[:len(body)-2] + "xx." + sig
	}
	for q, field := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "limit=-3": "limit", "limit=ten": "limit",
		"cursor=bogus": "cursor", "cursor=" + url.QueryEscape(tampered+"x"): "cursor",
	} {
		res := c.do("GET", withQuery(path, q), nil)
		if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)[field] == nil {
			t.Errorf("%s?%s: %d %s, want 422 on %s", path, q, res.Status, res.Body, field)
		}
	}
	if tampered != "" {
		res := c.do("GET", withQuery(path, "cursor="+url.QueryEscape(tampered)), nil)
		if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["cursor"] == nil {
			t.Errorf("%s: a tampered cursor gives %d %s", path, res.Status, res.Body)
		}
	}
	// Both wrong: both named in one answer.
	f := c.must(http.StatusUnprocessableEntity, c.do("GET", withQuery(path, "limit=999&cursor=bogus"), nil)).errorFields(t)
	if f["limit"] == nil || f["cursor"] == nil {
		t.Errorf("%s: fields %v, want limit and cursor", path, f)
	}
}

func TestPagedListsWalkEveryItemOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	ws := "/api/v1/workspaces/" + a.workspace
	n := 0
	lists := []pagedList{
		{name: "posts", path: ws + "/posts", field: "posts", newestFirst: true,
			add: func(t *testing.T, i int) { a.createPost(t, fmt.Sprintf("Post %d", i)) }},
		{name: "drafts", path: ws + "/posts?status=draft", field: "posts", newestFirst: true,
			add: func(t *testing.T, i int) {
				c.must(http.StatusCreated, c.do("POST", ws+"/posts", map[string]any{"text": fmt.Sprintf("Draft %d", i), "account_ids": []string{a.account}, "draft": true}))
			}},
		{name: "accounts", path: ws + "/accounts", field: "accounts", appends: true,
			add: func(t *testing.T, i int) {
				n++
				tok := fmt.Sprintf("tok-%d", n)
				b.prov.addToken(tok, "remote-"+tok, "handle"+tok)
				c.must(http.StatusCreated, c.do("POST", ws+"/accounts", map[string]string{"network": "mastodon", "instance_url": "https://social.example", "access_token": tok}))
			}},
		{name: "workspaces", path: "/api/v1/workspaces", field: "workspaces", appends: true,
			add: func(t *testing.T, i int) {
				c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces", map[string]string{"name": fmt.Sprintf("Brand %d", i), "timezone": "UTC"}))
			}},
		{name: "tokens", path: "/api/v1/tokens", field: "tokens", appends: true,
			add: func(t *testing.T, i int) {
				c.must(http.StatusCreated, c.do("POST", "/api/v1/tokens", map[string]any{"name": fmt.Sprintf("script %d", i)}))
			}},
		{name: "automations", path: ws + "/automations", field: "automations", appends: true,
			add: func(t *testing.T, i int) {
				c.must(http.StatusCreated, c.do("POST", ws+"/automations", map[string]any{"name": fmt.Sprintf("Blog %d", i),
					"feed_url": fmt.Sprintf("https://blog.example/feed-%d.xml", i), "template": "{{.link}}", "account_ids": []string{a.account}, "action": "draft"}))
			}},
		{name: "members", path: ws + "/members", field: "members",
			add: func(t *testing.T, i int) { b.invite(t, a, fmt.Sprintf("member%d@acme.test", i), RoleEditor) }},
	}
	for _, l := range lists {
		testPagedList(t, c, l)
	}
}

func TestPagedQueues(t *testing.T) {
	t.Parallel()
	b, _ := setupRealTrigger(t)
	a := b.firstAgency(t)
	ws := "/api/v1/workspaces/" + a.workspace
	testPagedList(t, a.owner, pagedList{name: "queues", path: ws + "/queues", field: "queues", appends: true,
		add: func(t *testing.T, i int) {
			a.owner.must(http.StatusCreated, a.owner.do("POST", ws+"/queues", map[string]any{"name": fmt.Sprintf("Queue %d", i),
				"slots": []map[string]any{{"weekday": 1, "time": "09:00"}}, "account_ids": []string{a.account}}))
		}})
}

func TestPagedWebhooks(t *testing.T) {
	t.Parallel()
	b := setupRealNotification(t)
	a := b.firstAgency(t)
	base := "/api/v1/workspaces/" + a.workspace + "/webhooks"
	var first string
	testPagedList(t, a.owner, pagedList{name: "webhooks", path: base, field: "webhooks", appends: true,
		add: func(t *testing.T, i int) {
			e := a.owner.must(http.StatusCreated, a.owner.do("POST", base, map[string]any{"kind": "webhook",
				"url": fmt.Sprintf("https://hooks.example/%d", i), "topics": []string{"post.published"}})).json(t)
			if first == "" {
				first = e["id"].(string)
			}
		}})
	// Deliveries: Notification pages them; Portal checks its limit and
	// cursor like any other list's.
	checkPageRefusals(t, a.owner, base+"/"+first+"/deliveries")
}

// TestCursorsStayInTheirList: a cursor is bound to its list and agency. One
// from agency A on agency B's list of the same kind, or from one list on
// another, is refused and shows nothing.
func TestCursorsStayInTheirList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	for i := range 3 {
		a.createPost(t, fmt.Sprintf("A %d", i))
		other.createPost(t, fmt.Sprintf("B %d", i))
	}
	aPosts := "/api/v1/workspaces/" + a.workspace + "/posts"
	cur := a.owner.must(http.StatusOK, a.owner.do("GET", aPosts+"?limit=1", nil)).json(t)["next_cursor"].(string)

	for _, tt := range []struct {
		name string
		c    *client
		path string
	}{
		{"another agency's own posts", other.owner, "/api/v1/workspaces/" + other.workspace + "/posts"},
		{"another filter", a.owner, aPosts + "?status=scheduled"},
		{"another list", a.owner, "/api/v1/workspaces/" + a.workspace + "/accounts"},
		{"the audit log", a.owner, "/api/v1/workspaces/" + a.workspace + "/audit"},
	} {
		res := tt.c.do("GET", withQuery(tt.path, "cursor="+url.QueryEscape(cur)), nil)
		if res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["cursor"] == nil {
			t.Errorf("%s: %d %s, want 422 on cursor", tt.name, res.Status, res.Body)
		}
		if strings.Contains(string(res.Body), "A 0") || strings.Contains(string(res.Body), "A 1") {
			t.Errorf("%s: shows agency A's posts: %s", tt.name, res.Body)
		}
	}
	// A bad filter and a bad page: one answer names both.
	if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("GET", aPosts+"?status=lost&limit=0", nil)).errorFields(t); f["status"] == nil || f["limit"] == nil {
		t.Errorf("status and limit wrong: fields %v", f)
	}
	// Agency B on agency A's workspace, with A's cursor: as without one, not found.
	if res := other.owner.do("GET", aPosts+"?cursor="+url.QueryEscape(cur), nil); res.Status != http.StatusNotFound {
		t.Errorf("B reading A's posts with A's cursor: %d %s", res.Status, res.Body)
	}
}

// TestPagedPostsReadThroughTheCache: each page is cached under the
// workspace's generation, so a write shows on every page at once.
func TestPagedPostsReadThroughTheCache(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"
	var ids []string
	for i := range 4 {
		ids = append(ids, a.createPost(t, fmt.Sprintf("Post %d", i))["id"].(string))
	}
	page1 := a.owner.must(http.StatusOK, a.owner.do("GET", posts+"?limit=2", nil)).json(t)
	cur := page1["next_cursor"].(string)
	second := func() []string {
		return pageIDs(t, a.owner.must(http.StatusOK, a.owner.do("GET", posts+"?limit=2&cursor="+url.QueryEscape(cur), nil)).json(t), "posts")
	}
	if got := second(); !slices.Equal(got, []string{ids[1], ids[0]}) {
		t.Fatalf("second page %v, want %v", got, []string{ids[1], ids[0]})
	}
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/posts/"+ids[0], nil))
	if got := second(); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("second page after a delete %v, want %v", got, []string{ids[1]})
	}
}

// TestSinglePageLists: notifications and failed emails have no cursor yet
// (Notification's requests take none) but check limit like the paged ones.
func TestSinglePageLists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	for _, path := range []string{"/api/v1/agency/failed-emails", "/api/v1/notifications"} {
		a.owner.must(http.StatusOK, a.owner.do("GET", path+"?limit=1", nil))
		for _, q := range []string{"limit=0", "limit=201", "limit=ten"} {
			if res := a.owner.do("GET", path+"?"+q, nil); res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["limit"] == nil {
				t.Errorf("%s?%s: %d %s", path, q, res.Status, res.Body)
			}
		}
	}
	if res := a.owner.do("GET", "/api/v1/agency/failed-emails?cursor=x", nil); res.Status != http.StatusUnprocessableEntity || res.errorFields(t)["cursor"] == nil {
		t.Errorf("failed emails with a cursor: %d %s", res.Status, res.Body)
	}
}
