package mastodon_test

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

const callback = "https://herald.example/connect/mastodon/callback"

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// authorizeAs plays the user's browser: it opens the authorization URL,
// submits the consent form as username, and returns where the instance
// sends the browser back to.
func authorizeAs(t *testing.T, authorizeURL, username string) *url.URL {
	t.Helper()
	page, err := http.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("authorize page: %d %s", page.StatusCode, body)
	}
	form := url.Values{"username": {username}, "decision": {"authorize"}}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	u, _ := url.Parse(authorizeURL)
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.PostForm(u.Scheme+"://"+u.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("consent: %d, location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc
}

func TestConnectAccount(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	ctx := t.Context()

	app, err := e.p.RegisterApp(ctx, e.url+"/", mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback, Website: "https://herald.example"})
	if err != nil {
		t.Fatal(err)
	}
	if app.InstanceURL != e.url || app.ClientID == "" || app.ClientSecret == "" || app.Scopes != mastodon.Scopes {
		t.Errorf("app = %+v", app)
	}

	authURL, err := mastodon.AuthorizeURL(app, "st4te")
	if err != nil {
		t.Fatal(err)
	}
	if q := mustQuery(t, authURL); q.Get("force_login") != "true" || q.Get("scope") != mastodon.Scopes || q.Get("redirect_uri") != callback {
		t.Errorf("authorize URL %s", authURL)
	}
	back := authorizeAs(t, authURL, "bob")
	if !strings.HasPrefix(back.String(), callback+"?") || back.Query().Get("state") != "st4te" {
		t.Fatalf("sent back to %s", back)
	}

	tok, err := e.p.ExchangeCode(ctx, app, back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.Scope != mastodon.Scopes || tok.CreatedAt.IsZero() {
		t.Errorf("token = %+v", tok)
	}

	bob := provider.Account{ID: "acct_bob", InstanceURL: app.InstanceURL, AccessToken: tok.AccessToken}
	prof, err := e.p.VerifyCredentials(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(prof.Handle, "@bob@") {
		t.Errorf("profile = %+v", prof)
	}
	// The scopes Herald asks for are enough to publish with media.
	if _, err := e.p.Publish(ctx, bob, provider.Post{Text: "connected", Media: []provider.Media{pngMedia(t, "a.png", "")}, IdempotencyKey: "k"}); err != nil {
		t.Errorf("publish with the new token: %v", err)
	}

	// A code works once.
	_, err = e.p.ExchangeCode(ctx, app, back.Query().Get("code"))
	assertField(t, err, "code", "invalid or has expired")
	// A forgotten registration.
	stale := app
	stale.ClientSecret = "wrong"
	if _, err := e.p.ExchangeCode(ctx, stale, "whatever"); !errs.Is(err, errs.Forbidden) {
		t.Errorf("wrong secret: %v; want Forbidden", err)
	}
}

func TestConnectAccountTooFewScopes(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	app, err := e.p.RegisterApp(t.Context(), e.url, mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback, Scopes: "read:accounts"})
	if err != nil {
		t.Fatal(err)
	}
	authURL, _ := mastodon.AuthorizeURL(app, "s")
	tok, err := e.p.ExchangeCode(t.Context(), app, authorizeAs(t, authURL, "carol").Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Publish(t.Context(), provider.Account{InstanceURL: e.url, AccessToken: tok.AccessToken}, provider.Post{Text: "x", IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || pe.Status != http.StatusForbidden {
		t.Errorf("err = %v; want Disconnected 403", err)
	}
}

func TestRegisterAppErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	notMastodon := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notMastodon.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	good := mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback}

	tests := []struct {
		name     string
		p        *mastodon.Provider
		instance string
		cfg      mastodon.AppConfig
		field    string // field error expected, or "" for kind
		kind     errs.Kind
		message  string
	}{
		{"bad instance", e.p, "gopher://x", good, "instance_url", errs.Invalid, "https"},
		{"no name", e.p, e.url, mastodon.AppConfig{RedirectURI: callback}, "client_name", errs.Invalid, "empty"},
		{"relative redirect", e.p, e.url, mastodon.AppConfig{ClientName: "Herald", RedirectURI: "/cb"}, "redirect_uri", errs.Invalid, "http or https"},
		{"redirect with fragment", e.p, e.url, mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback + "#x"}, "redirect_uri", errs.Invalid, "fragment"},
		{"not a mastodon server", e.p, notMastodon.URL, good, "instance_url", errs.Invalid, "does not look like a Mastodon server"},
		{"loopback refused", newProvider(outbound.Policy{}), e.url, good, "instance_url", errs.Invalid, "loopback"},
		{"unreachable", e.p, down.URL, good, "", errs.Unavailable, "could not reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.p.RegisterApp(t.Context(), tt.instance, tt.cfg)
			if tt.field != "" {
				assertField(t, err, tt.field, tt.message)
				return
			}
			if !errs.Is(err, tt.kind) || !strings.Contains(errs.PublicMessage(err), tt.message) {
				t.Errorf("err = %v; want %s containing %q", err, tt.kind, tt.message)
			}
		})
	}
}

func TestAuthorizeURLChecksItsInput(t *testing.T) {
	t.Parallel()
	app := mastodon.App{InstanceURL: "https://mastodon.example", ClientID: "id", ClientSecret: "secret", RedirectURI: callback, Scopes: mastodon.Scopes}
	_, err := mastodon.AuthorizeURL(app, "")
	assertField(t, err, "state", "empty")
	app.ClientID = ""
	_, err = mastodon.AuthorizeURL(app, "s")
	assertField(t, err, "app", "not registered")
}

func assertField(t *testing.T, err error, field, fragment string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid || !strings.Contains(e.Fields[field], fragment) {
		t.Errorf("err = %v; want an Invalid error on %q containing %q", err, field, fragment)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
