package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A new password ends every session of the user: a cookie replayed from
// another device, or from before the change, is refused; the browser that
// asked keeps working on its new session, and the new password signs in.
func TestPasswordChangeEndsEverySession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	phone := b.client(t)
	phone.login("ada@acme.test", ownerPassword)
	before := a.owner.cookie

	const fresh = "a much longer passphrase"
	res := a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/me/password", map[string]string{
		"current_password": ownerPassword, "new_password": fresh}))
	a.owner.signIn(res)
	if a.owner.cookie == before {
		t.Fatal("the session id did not change")
	}
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil))
	phone.must(http.StatusUnauthorized, phone.do("GET", "/api/v1/me", nil))
	replay := b.client(t)
	replay.cookie = before
	replay.must(http.StatusUnauthorized, replay.do("GET", "/api/v1/me", nil))

	other := b.client(t)
	other.must(http.StatusUnauthorized, other.do("POST", "/api/v1/login", map[string]string{"email": "ada@acme.test", "password": ownerPassword}))
	other.login("ada@acme.test", fresh)
}

// Refusals name the field and change nothing: the old password still
// signs in and the other sessions live on.
func TestPasswordChangeRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	phone := b.client(t)
	phone.login("ada@acme.test", ownerPassword)
	for _, tc := range []struct {
		body  map[string]string
		field string
		says  string
	}{
		{map[string]string{"current_password": "not my password", "new_password": "a much longer passphrase"}, "current_password", "is wrong"},
		{map[string]string{"current_password": ownerPassword, "new_password": "short"}, "new_password", "at least"},
		{map[string]string{"current_password": ownerPassword, "new_password": ownerPassword}, "new_password", "differ"},
		{map[string]string{"new_password": "a much longer passphrase"}, "current_password", "required"},
	} {
		res := a.owner.do("POST", "/api/v1/me/password", tc.body)
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%v: status %d, want 422: %s", tc.body, res.Status, res.Body)
			continue
		}
		if got, _ := res.errorFields(t)[tc.field].(string); !strings.Contains(got, tc.says) {
			t.Errorf("%v: %s says %q, want %q", tc.body, tc.field, got, tc.says)
		}
	}
	phone.must(http.StatusOK, phone.do("GET", "/api/v1/me", nil))
	b.client(t).login("ada@acme.test", ownerPassword)

	// An API token cannot change its user's password.
	tok := a.tokenClient(t, b)
	tok.must(http.StatusForbidden, tok.do("POST", "/api/v1/me/password", map[string]string{
		"current_password": ownerPassword, "new_password": "a much longer passphrase"}))
}

// The settings page changes the password without scripts, and a refused
// form says why without echoing either password.
func TestUIPasswordPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	c.must(http.StatusOK, c.get("/settings/password"))
	res := c.post("/settings/password", url.Values{"csrf_token": {c.csrf()}, "current_password": {"wrong password!"}, "new_password": {"a much longer passphrase"}})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(text(res.Body), "is wrong") || strings.Contains(res.Body, "a much longer passphrase") {
		t.Fatalf("status %d:\n%s", res.Status, excerpt(text(res.Body)))
	}
	c.must(http.StatusSeeOther, c.post("/settings/password", url.Values{"csrf_token": {c.csrf()}, "current_password": {ownerPassword}, "new_password": {"a much longer passphrase"}}))
	b.client(t).login("ada@acme.test", "a much longer passphrase")
}
