package portal

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSetupRunsOnceThenConflicts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)

	if got := c.must(http.StatusOK, c.do("GET", "/api/v1/setup", nil)).json(t)["needed"]; got != true {
		t.Fatalf("needed = %v before setup, want true", got)
	}
	// Invalid input creates nothing.
	res := c.must(http.StatusUnprocessableEntity, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "", "name": "Ada", "email": "not-an-email", "password": "short"}))
	f := res.errorFields(t)
	for _, field := range []string{"agency_name", "email", "password"} {
		if f[field] == nil {
			t.Errorf("no error for %s in %s", field, res.Body)
		}
	}
	if n := b.count(t, "portal_agencies"); n != 0 {
		t.Fatalf("%d agencies after invalid setup", n)
	}

	res = c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "Ada@Acme.test", "password": ownerPassword}))
	c.signIn(res)
	if u := res.json(t)["user"].(map[string]any); u["email"] != "ada@acme.test" || u["role"] != "owner" {
		t.Errorf("user = %v", u)
	}
	if got := c.must(http.StatusOK, c.do("GET", "/api/v1/setup", nil)).json(t)["needed"]; got != false {
		t.Fatalf("needed = %v after setup, want false", got)
	}
	again := b.client(t)
	again.must(http.StatusConflict, again.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Evil", "name": "Eve", "email": "eve@evil.test", "password": ownerPassword}))
	if n := b.count(t, "portal_agencies"); n != 1 {
		t.Fatalf("%d agencies after second setup, want 1", n)
	}
	// The admin command may add agencies; setup stays closed.
	if _, _, err := b.svc.CreateAgency(context.Background(), AgencyInput{AgencyName: "Two", Name: "Bo", Email: "bo@two.test", Password: ownerPassword}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.CreateAgency(context.Background(), AgencyInput{AgencyName: "Three", Name: "Bo", Email: "bo@two.test", Password: ownerPassword}); err == nil {
		t.Fatal("CreateAgency reused an email")
	}
}

func TestLoginRotatesAndLogoutEndsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)

	c := b.client(t)
	res := c.must(http.StatusOK, c.do("POST", "/api/v1/login", map[string]string{"email": "ada@acme.test", "password": ownerPassword}))
	c.signIn(res)
	first, firstCSRF := c.cookie, c.csrf
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		cookie = ck
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", cookie)
	}

	// Signing in again, with the old cookie still sent, gives a new session
	// and ends the old one.
	c.login("ada@acme.test", ownerPassword)
	if c.cookie == first || c.csrf == firstCSRF {
		t.Fatal("login did not rotate the session id and CSRF token")
	}
	old := b.client(t)
	old.cookie = first
	old.must(http.StatusUnauthorized, old.do("GET", "/api/v1/me", nil))
	c.must(http.StatusOK, c.do("GET", "/api/v1/me", nil))

	// Only the hash of a session id is stored.
	var stored string
	if err := b.db.QueryRow(context.Background(), `SELECT id_hash FROM portal_sessions WHERE id_hash = ?`, hashSecret(c.cookie)).Scan(&stored); err != nil {
		t.Fatalf("session hash not stored: %v", err)
	}
	var raw int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_sessions WHERE id_hash = ?`, c.cookie).Scan(&raw)
	if raw != 0 {
		t.Fatal("a raw session id is stored")
	}

	loggedOut := c.cookie
	c.must(http.StatusNoContent, c.do("POST", "/api/v1/logout", nil))
	if c.cookie != "" {
		t.Fatal("logout did not clear the cookie")
	}
	ended := b.client(t)
	ended.cookie = loggedOut
	ended.must(http.StatusUnauthorized, ended.do("GET", "/api/v1/me", nil))

	// The owner's other session (from setup) is unaffected.
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil))

	wrong := b.client(t)
	for _, creds := range []map[string]string{
		{"email": "ada@acme.test", "password": "wrong password!"},
		{"email": "nobody@acme.test", "password": ownerPassword},
	} {
		res := wrong.must(http.StatusUnauthorized, wrong.do("POST", "/api/v1/login", creds))
		if !strings.Contains(string(res.Body), "email or password is wrong") {
			t.Errorf("login failure says %s", res.Body)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.SessionTTL = time.Millisecond })
	// Let Start's own purge pass go by, so the one below is the test's.
	<-b.svc.recovered
	c := b.client(t)
	c.signIn(c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword})))
	waitFor(t, "session expiry", func() bool { return c.do("GET", "/api/v1/me", nil).Status == http.StatusUnauthorized })
	if n := b.count(t, "portal_sessions"); n != 1 {
		t.Fatalf("%d sessions before the purge", n)
	}
	b.svc.purge(context.Background())
	if n := b.count(t, "portal_sessions"); n != 0 {
		t.Fatalf("%d expired sessions left after the purge", n)
	}
}

func TestCSRFProtection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	tokenRes := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]string{"name": "ci"})).json(t)
	apiToken := tokenRes["token"].(string)

	body := map[string]string{"name": "Brand", "timezone": "UTC"}
	tests := []struct {
		name   string
		csrf   string
		bearer bool
		opts   []reqOpt
		want   int
	}{
		{name: "no token", want: http.StatusForbidden},
		{name: "wrong token", csrf: "forged", want: http.StatusForbidden},
		{name: "token, cross-site fetch", csrf: a.owner.csrf, opts: []reqOpt{header("Sec-Fetch-Site", "cross-site")}, want: http.StatusForbidden},
		{name: "token, foreign origin", csrf: a.owner.csrf, opts: []reqOpt{header("Origin", "https://evil.test")}, want: http.StatusForbidden},
		{name: "token, same origin", csrf: a.owner.csrf, opts: []reqOpt{header("Sec-Fetch-Site", "same-origin")}, want: http.StatusCreated},
		{name: "token, configured origin", csrf: a.owner.csrf, opts: []reqOpt{header("Origin", "https://herald.test")}, want: http.StatusCreated},
		{name: "bearer needs no token", bearer: true, want: http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := b.client(t)
			if tt.bearer {
				c.bearer = apiToken
			} else {
				c.cookie, c.csrf = a.owner.cookie, tt.csrf
			}
			before := b.count(t, "portal_workspaces")
			res := c.do("POST", "/api/v1/workspaces", body, tt.opts...)
			if res.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.want, res.Body)
			}
			if tt.want != http.StatusCreated && b.count(t, "portal_workspaces") != before {
				t.Fatal("a refused request created a workspace")
			}
		})
	}

	// HTML forms carry the token as a field.
	t.Run("form field", func(t *testing.T) {
		c := b.client(t)
		c.cookie = a.owner.cookie
		form := "csrf_token=" + a.owner.csrf
		res := c.do("POST", "/api/v1/logout", nil, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(form))
			r.ContentLength = int64(len(form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		})
		if res.Status != http.StatusNoContent {
			t.Fatalf("logout with form token: %d %s", res.Status, res.Body)
		}
	})

	// Sign-in is protected against cross-site posting too (login CSRF).
	c := b.client(t)
	c.must(http.StatusForbidden, c.do("POST", "/api/v1/login", map[string]string{"email": "ada@acme.test", "password": ownerPassword},
		header("Sec-Fetch-Site", "cross-site")))
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.LoginRate, c.LoginBurst = 0.001, 3 })
	b.firstAgency(t)

	attempt := func(ip, email string) *response {
		c := b.client(t)
		c.ip = ip
		return c.do("POST", "/api/v1/login", map[string]string{"email": email, "password": "wrong password!"})
	}
	// Per address: three tries, then 429 with a Retry-After, whatever the email.
	for i := range 3 {
		if res := attempt("203.0.113.1", "ada@acme.test"); res.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, res.Status, res.Body)
		}
	}
	res := attempt("203.0.113.1", "someone@acme.test")
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt from one address: %d Retry-After=%q", res.Status, res.Header.Get("Retry-After"))
	}
	if res.errorKind(t) != "rate_limited" {
		t.Fatalf("kind %q", res.errorKind(t))
	}
	// Per email: the account was tried three times, so another address is
	// refused too, even with the right password.
	c := b.client(t)
	c.ip = "203.0.113.2"
	c.must(http.StatusTooManyRequests, c.do("POST", "/api/v1/login", map[string]string{"email": "ada@acme.test", "password": ownerPassword}))
	// Other emails from other addresses are not affected.
	if res := attempt("203.0.113.3", "other@acme.test"); res.Status != http.StatusUnauthorized {
		t.Fatalf("unrelated login: %d", res.Status)
	}
}

func TestPublicEndpointsAreRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PublicRate, c.PublicBurst = 0.001, 2 })
	c := b.client(t)
	c.must(http.StatusOK, c.do("GET", "/api/v1/setup", nil))
	c.must(http.StatusOK, c.do("GET", "/api/v1/setup", nil))
	res := c.must(http.StatusTooManyRequests, c.do("GET", "/api/v1/setup", nil))
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	created := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]string{"name": "deploy"})).json(t)
	token := created["token"].(string)
	if !strings.HasPrefix(token, apiTokenPrefix) {
		t.Fatalf("token %q", token)
	}
	script := b.client(t)
	script.bearer = token
	script.must(http.StatusOK, script.do("GET", "/api/v1/workspaces/"+a.workspace, nil))

	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/tokens", nil))
	if strings.Contains(string(list.Body), token) {
		t.Fatal("listing shows the token")
	}
	var n int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_api_tokens WHERE token_hash = ?`, token).Scan(&n)
	if n != 0 {
		t.Fatal("token stored in clear")
	}

	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/tokens", map[string]string{"name": ""}))
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/tokens/"+created["id"].(string), nil))
	script.must(http.StatusUnauthorized, script.do("GET", "/api/v1/workspaces/"+a.workspace, nil))

	bad := b.client(t)
	bad.must(http.StatusUnauthorized, bad.do("GET", "/api/v1/me", nil, header("Authorization", "Basic dXNlcjpwYXNz")))
}
