package portal

import (
	"net/http"
	"testing"
)

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	res := c.must(http.StatusNotFound, c.do("GET", "/api/v1/nothing-here", nil))
	if res.errorKind(t) != "not_found" {
		t.Fatalf("body %s", res.Body)
	}
	res = c.must(http.StatusMethodNotAllowed, c.do("PUT", "/api/v1/login", nil))
	if res.Header.Get("Allow") == "" || res.errorKind(t) != "invalid" {
		t.Fatalf("405 without Allow or JSON: %v %s", res.Header, res.Body)
	}
}

func TestUnauthenticatedAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	for _, path := range []string{"/api/v1/me", "/api/v1/workspaces", "/api/v1/notifications"} {
		res := c.must(http.StatusUnauthorized, c.do("GET", path, nil))
		if res.errorKind(t) != "unauthenticated" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %v %s", path, res.Header, res.Body)
		}
	}
	c.cookie = "made-up"
	c.must(http.StatusUnauthorized, c.do("GET", "/api/v1/me", nil))
}

func TestWorkspaceValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	for _, tz := range []string{"", "Local", "Mars/Olympus", "../../etc/passwd"} {
		res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "X", "timezone": tz}))
		if res.errorFields(t)["timezone"] == nil {
			t.Errorf("timezone %q: %s", tz, res.Body)
		}
	}
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": " ", "timezone": "UTC"}))
	if n := b.count(t, "portal_workspaces"); n != 1 {
		t.Fatalf("%d workspaces", n)
	}
	ws := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace, nil)).json(t)
	if ws["timezone"] != "Europe/Paris" || ws["role"] != "owner" {
		t.Fatalf("workspace = %v", ws)
	}
}
