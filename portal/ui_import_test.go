package portal

import (
	"net/http"
	"net/url"
	"testing"
)

func TestUIImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/import"))
	wantText(t, page.Body, "Import posts", "Check the file")
	csrf := c.csrf()
	path := "/workspaces/" + a.workspace + "/import"

	bad := "text,time,accounts\nFine," + importAt(1) + ",ada\nLate,yesterday,ada\nWhose,," + "nobody\n"
	res := c.must(http.StatusOK, c.upload(path, url.Values{"csrf_token": {csrf}, "action": {"check"}}, "plan.csv", []byte(bad)))
	wantText(t, res.Body, "2 problems in 3 rows", "3 time must be a local date and time", `4 accounts no account "nobody"`)
	res = c.must(http.StatusUnprocessableEntity, c.upload(path, url.Values{"csrf_token": {csrf}, "action": {"import"}}, "plan.csv", []byte(bad)))
	wantText(t, res.Body, "nothing was imported")
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("%d posts written", n)
	}

	res = c.must(http.StatusUnprocessableEntity, c.upload(path, url.Values{"csrf_token": {csrf}, "action": {"check"}}, "plan.csv", []byte("colour\nred\n")))
	wantText(t, res.Body, `The file column "colour" is not one of`)

	good := "text,time,accounts\nOne," + importAt(1) + ",ada\nTwo,,ada\n"
	c.must(http.StatusSeeOther, c.upload(path, url.Values{"csrf_token": {csrf}, "action": {"import"}}, "plan.csv", []byte(good)), "/workspaces/"+a.workspace)
	if n := b.count(t, "portal_posts"); n != 2 {
		t.Fatalf("%d posts, want 2", n)
	}

	// Cross-site, or without the token: refused, nothing created.
	c.must(http.StatusForbidden, c.upload(path, url.Values{"action": {"import"}}, "plan.csv", []byte(good)))
	c.site = "cross-site"
	c.must(http.StatusForbidden, c.upload(path, url.Values{"csrf_token": {csrf}, "action": {"import"}}, "plan.csv", []byte(good)))
	if n := b.count(t, "portal_posts"); n != 2 {
		t.Fatalf("a forged import wrote posts: %d, want 2", n)
	}
}
