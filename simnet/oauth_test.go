package simnet_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

type appOut struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURI  string   `json:"redirect_uri"`
	Scopes       []string `json:"scopes"`
}

func (b *bundle) registerApp(t *testing.T, redirect, scopes string) appOut {
	t.Helper()
	res := b.do(t, request{method: "POST", path: "/api/v1/apps",
		json: map[string]string{"client_name": "Herald", "redirect_uris": redirect, "scopes": scopes, "website": "https://herald.example"}})
	var a appOut
	res.decode(t, &a)
	if res.status != http.StatusOK || a.ClientID == "" || a.ClientSecret == "" {
		t.Fatalf("register app: %d %s", res.status, res.body)
	}
	return a
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consent loads the authorization page, as a browser would, and submits
// its form as the given user with the given decision; it returns the
// response without following a redirect.
func (b *bundle) consent(t *testing.T, authorizeQuery url.Values, username, decision string) *http.Response {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := http.Get(b.url + "/oauth/authorize?" + authorizeQuery.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), ">Authorize</button>") {
		t.Fatalf("authorize page: %d %s", page.StatusCode, body)
	}
	form := url.Values{"username": {username}, "decision": {decision}}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	res, err := noRedirect.PostForm(b.url+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

func TestOAuthAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	const redirect = "https://herald.example/connect/mastodon/callback"
	// Requested scopes must be among the app's, word for word, as with
	// Doorkeeper.
	a := b.registerApp(t, redirect, "read:accounts write:statuses write:media")

	res := b.consent(t, url.Values{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {redirect},
		"scope": {"read:accounts write:statuses"}, "state": {"s&t=1"}}, "erin", "authorize")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if !strings.HasPrefix(loc.String(), redirect+"?") || code == "" || loc.Query().Get("state") != "s&t=1" {
		t.Fatalf("redirected to %s", loc)
	}

	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {a.ClientID},
		"client_secret": {a.ClientSecret}, "redirect_uri": {redirect}}
	tr := b.do(t, request{method: "POST", path: "/oauth/token", form: exchange})
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	tr.decode(t, &tok)
	if tr.status != http.StatusOK || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Scope != "read:accounts write:statuses" {
		t.Fatalf("token: %d %s", tr.status, tr.body)
	}
	vc := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: tok.AccessToken})
	if vc.status != http.StatusOK || !strings.Contains(string(vc.body), `"username":"erin"`) {
		t.Errorf("verify with the new token: %d %s", vc.status, vc.body)
	}
	// The token carries only the scopes granted.
	if up, _ := b.upload(t, "/api/v2/media", tok.AccessToken, pngBytes(t, 1, 1), "image/png", ""); up.status != http.StatusForbidden {
		t.Errorf("media upload without write:media: %d; want 403", up.status)
	}
	// Posting through the app names it.
	posted, _ := b.post(t, tok.AccessToken, "via the app", "")
	if !strings.Contains(string(posted.body), `"application":{"name":"Herald"`) {
		t.Errorf("status does not name the app: %s", posted.body)
	}

	// A code is single-use.
	if again := b.do(t, request{method: "POST", path: "/oauth/token", form: exchange}); again.status != http.StatusBadRequest ||
		!strings.Contains(string(again.body), "invalid_grant") {
		t.Errorf("code reuse: %d %s", again.status, again.body)
	}

	// Revoking the token ends access.
	rv := b.do(t, request{method: "POST", path: "/oauth/revoke",
		form: url.Values{"token": {tok.AccessToken}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}})
	if rv.status != http.StatusOK {
		t.Errorf("revoke: %d", rv.status)
	}
	if vc := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: tok.AccessToken}); vc.status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d; want 401", vc.status)
	}
}

func TestOAuthDeny(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	const redirect = "http://127.0.0.1:9/cb?keep=1"
	a := b.registerApp(t, redirect, "read")
	res := b.consent(t, url.Values{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {redirect}, "state": {"x"}}, "erin", "deny")
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "x" || loc.Query().Get("keep") != "1" {
		t.Errorf("deny: %d %s", res.StatusCode, loc)
	}
}

func TestOAuthOutOfBand(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	a := b.registerApp(t, "urn:ietf:wg:oauth:2.0:oob", "read write")
	res := b.consent(t, url.Values{"response_type": {"code"}, "client_id": {a.ClientID}}, "erin", "authorize")
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`<code id="code">([^<]+)</code>`).FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("oob page: %d %s", res.StatusCode, body)
	}
	tr := b.do(t, request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"authorization_code"},
		"code": {string(m[1])}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}}})
	if tr.status != http.StatusOK {
		t.Errorf("exchange: %d %s", tr.status, tr.body)
	}
}

func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	const redirect = "https://herald.example/cb"
	a := b.registerApp(t, redirect, "read write")

	t.Run("app registration", func(t *testing.T) {
		for _, body := range []map[string]string{
			{"redirect_uris": redirect},
			{"client_name": "Herald"},
			{"client_name": "Herald", "redirect_uris": "not a url"},
		} {
			res := b.do(t, request{method: "POST", path: "/api/v1/apps", json: body})
			if res.status != http.StatusUnprocessableEntity || !strings.HasPrefix(res.errorMessage(t), "Validation failed: ") {
				t.Errorf("%v: %d %s; want 422", body, res.status, res.body)
			}
		}
	})

	t.Run("authorize page", func(t *testing.T) {
		for _, q := range []url.Values{
			{"response_type": {"code"}, "client_id": {"unknown"}, "redirect_uri": {redirect}},
			{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {"https://evil.example/cb"}},
			{"response_type": {"token"}, "client_id": {a.ClientID}, "redirect_uri": {redirect}},
			{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {redirect}, "scope": {"admin:write"}},
		} {
			res, err := http.Get(b.url + "/oauth/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `id="error"`) {
				t.Errorf("%v: %d; want 400 with an error page", q, res.StatusCode)
			}
		}
	})

	t.Run("token", func(t *testing.T) {
		tests := []struct {
			form   url.Values
			status int
			code   string
		}{
			{url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "redirect_uri": {redirect}}, 400, "invalid_grant"},
			{url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {a.ClientID}, "client_secret": {"wrong"}}, 401, "invalid_client"},
			{url.Values{"grant_type": {"password"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}, 400, "unsupported_grant_type"},
		}
		for _, tt := range tests {
			res := b.do(t, request{method: "POST", path: "/oauth/token", form: tt.form})
			if res.status != tt.status || res.errorMessage(t) != tt.code {
				t.Errorf("%v: %d %s; want %d %s", tt.form, res.status, res.body, tt.status, tt.code)
			}
		}
	})

	t.Run("app token is not a user", func(t *testing.T) {
		res := b.do(t, request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"client_credentials"},
			"client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {"read"}}})
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		res.decode(t, &tok)
		vc := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: tok.AccessToken})
		if vc.status != http.StatusUnprocessableEntity {
			t.Errorf("verify with an app token: %d; want 422", vc.status)
		}
	})
}

func TestOAuthExpiringTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{AccessTokenTTL: time.Hour})
	const redirect = "https://herald.example/connect/mastodon/callback"
	a := b.registerApp(t, redirect, "read:accounts write:statuses")

	// The code flow answers with the renewal.
	res := b.consent(t, url.Values{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {redirect},
		"scope": {"read:accounts write:statuses"}}, "erin", "authorize")
	loc, _ := url.Parse(res.Header.Get("Location"))
	tr := b.do(t, request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "redirect_uri": {redirect}}})
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	tr.decode(t, &tok)
	if tr.status != http.StatusOK || tok.RefreshToken == "" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: %d %s", tr.status, tr.body)
	}
	verify := func(token string) response {
		return b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: token})
	}
	if vc := verify(tok.AccessToken); vc.status != http.StatusOK {
		t.Fatalf("fresh token: %d %s", vc.status, vc.body)
	}
	b.clock.Advance(time.Hour)
	vc := verify(tok.AccessToken)
	if vc.status != http.StatusUnauthorized || !strings.Contains(vc.header.Get("WWW-Authenticate"), "The access token expired") ||
		!strings.Contains(string(vc.body), "expired") {
		t.Fatalf("expired token: %d %s %v", vc.status, vc.body, vc.header)
	}

	refresh := func(rt, secret string) response {
		return b.do(t, request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {rt}, "client_id": {a.ClientID}, "client_secret": {secret}}})
	}
	if r := refresh(tok.RefreshToken, "wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("refresh with a wrong client secret: %d %s", r.status, r.body)
	}
	r := refresh(tok.RefreshToken, a.ClientSecret)
	var renewed struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.decode(t, &renewed)
	if r.status != http.StatusOK || renewed.AccessToken == "" || renewed.RefreshToken == "" || renewed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if vc := verify(renewed.AccessToken); vc.status != http.StatusOK {
		t.Errorf("renewed token: %d %s", vc.status, vc.body)
	}
	// A refresh token is single use.
	if again := refresh(tok.RefreshToken, a.ClientSecret); again.status != http.StatusBadRequest || !strings.Contains(string(again.body), "invalid_grant") {
		t.Errorf("refresh token reuse: %d %s", again.status, again.body)
	}
	if n := b.srv.Refreshes(); n != 1 {
		t.Errorf("Refreshes() = %d, want 1", n)
	}

	// GrantToken and ExpireToken, for tests of clients.
	g := b.srv.GrantToken(a.ClientID, "frank")
	if g.RefreshToken == "" || g.ExpiresAt.IsZero() || verify(g.AccessToken).status != http.StatusOK {
		t.Fatalf("GrantToken = %+v", g)
	}
	b.srv.ExpireToken(g.AccessToken)
	if vc := verify(g.AccessToken); vc.status != http.StatusUnauthorized {
		t.Errorf("ExpireToken: %d", vc.status)
	}
}

func TestOAuthRefreshNeedsExpiringTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	a := b.registerApp(t, "https://herald.example/cb", "read")
	if g := b.srv.GrantToken(a.ClientID, "erin"); g.RefreshToken != "" || !g.ExpiresAt.IsZero() {
		t.Errorf("token of a server without AccessTokenTTL = %+v", g)
	}
	r := b.do(t, request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {"x"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "unsupported_grant_type") {
		t.Errorf("refresh grant: %d %s", r.status, r.body)
	}
}
