package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

// withMastodon runs Portal with the real Mastodon provider, through the
// SSRF-safe client, against a simulated instance on loopback.
func withMastodon(t *testing.T, allowLoopback bool) (*bundle, *simnet.Server, string) {
	t.Helper()
	return withMastodonOptions(t, allowLoopback, simnet.Options{})
}

func withMastodonOptions(t *testing.T, allowLoopback bool, opts simnet.Options) (*bundle, *simnet.Server, string) {
	t.Helper()
	sim := simnet.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	prov := mastodon.New(outbound.NewClient(outbound.Policy{AllowLoopback: allowLoopback}))
	b := setupWith(t, func(d *Deps) { d.Providers = map[string]provider.Provider{"mastodon": prov} })
	return b, sim, srv.URL
}

func TestConnectMastodonAccount(t *testing.T) {
	t.Parallel()
	b, sim, instance := withMastodon(t, true)
	c := b.client(t)
	c.signIn(c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword})))
	ws := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces", map[string]string{"name": "Brand", "timezone": "UTC"})).json(t)["id"].(string)
	accounts := "/api/v1/workspaces/" + ws + "/accounts"

	token := sim.CreateAccount("brand")
	acct := c.must(http.StatusCreated, c.do("POST", accounts, map[string]string{"network": "mastodon", "instance_url": instance, "access_token": token})).json(t)
	if !strings.HasPrefix(acct["handle"].(string), "@brand@") || acct["remote_id"] == "" {
		t.Fatalf("account = %v", acct)
	}
	res := c.must(http.StatusUnprocessableEntity, c.do("POST", accounts, map[string]string{"network": "mastodon", "instance_url": instance, "access_token": "revoked"}))
	if res.errorFields(t)["access_token"] == nil {
		t.Fatalf("refused token: %s", res.Body)
	}

	// The OAuth flow, with simnet's consent form submitted as a user would.
	connectThroughOAuth(t, c, instance, accounts, "viaoauth")
	list := c.must(http.StatusOK, c.do("GET", accounts, nil)).json(t)["accounts"].([]any)
	handles := []string{}
	for _, a := range list {
		handles = append(handles, a.(map[string]any)["handle"].(string))
	}
	if len(list) != 2 || !strings.Contains(strings.Join(handles, " "), "@viaoauth@") {
		t.Fatalf("accounts after OAuth: %v", handles)
	}
}

func TestConnectRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()
	b, sim, instance := withMastodon(t, false)
	c := b.client(t)
	c.signIn(c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword})))
	ws := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces", map[string]string{"name": "Brand", "timezone": "UTC"})).json(t)["id"].(string)
	res := c.must(http.StatusUnprocessableEntity, c.do("POST", "/api/v1/workspaces/"+ws+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": instance, "access_token": sim.CreateAccount("brand")}))
	if f := res.errorFields(t); f["instance_url"] == nil || f["access_token"] != nil {
		t.Fatalf("loopback instance: %s", res.Body)
	}
	res = c.must(http.StatusUnprocessableEntity, c.do("POST", "/api/v1/workspaces/"+ws+"/accounts/oauth", map[string]string{"instance_url": instance}))
	if res.errorFields(t)["instance_url"] == nil {
		t.Fatalf("loopback OAuth: %s", res.Body)
	}
}

// connectThroughOAuth connects username's account on instance through the
// OAuth flow, submitting simnet's consent form as a user would, and
// returns the account's id.
func connectThroughOAuth(t *testing.T, c *client, instance, accounts, username string) string {
	t.Helper()
	start := c.must(http.StatusOK, c.do("POST", accounts+"/oauth", map[string]string{"instance_url": instance})).json(t)
	authURL, _ := url.Parse(start["authorize_url"].(string))
	q := authURL.Query()
	form := url.Values{"client_id": {q.Get("client_id")}, "redirect_uri": {q.Get("redirect_uri")}, "response_type": {"code"},
		"scope": {q.Get("scope")}, "state": {q.Get("state")}, "username": {username}, "decision": {"authorize"}}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	consent, err := noRedirect.PostForm(instance+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	consent.Body.Close()
	back, err := url.Parse(consent.Header.Get("Location"))
	if err != nil || back.Host != "herald.test" || back.Path != "/oauth/mastodon/callback" {
		t.Fatalf("simnet redirected to %q (%d)", consent.Header.Get("Location"), consent.StatusCode)
	}
	res := c.must(http.StatusSeeOther, c.do("GET", back.RequestURI(), nil))
	loc := res.Header.Get("Location")
	_, id, ok := strings.Cut(loc, "connected=")
	if !ok {
		t.Fatalf("callback redirected to %q", loc)
	}
	id, _, _ = strings.Cut(id, "&")
	id, _, _ = strings.Cut(id, "#")
	return id
}

// An instance that expires its tokens: connecting keeps the renewal, and
// Publisher gets what the Mastodon provider needs to renew.
func TestConnectMastodonAccountWithExpiringTokens(t *testing.T) {
	t.Parallel()
	b, sim, instance := withMastodonOptions(t, true, simnet.Options{AccessTokenTTL: time.Hour})
	c := b.client(t)
	c.signIn(c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword})))
	ws := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces", map[string]string{"name": "Brand", "timezone": "UTC"})).json(t)["id"].(string)
	acct := connectThroughOAuth(t, c, instance, "/api/v1/workspaces/"+ws+"/accounts", "expiring")
	post := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+ws+"/posts", map[string]any{
		"text": "Hello", "account_ids": []string{acct}, "scheduled_at": future()})).json(t)

	tenant, _ := c.must(http.StatusOK, c.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["agency_id"].(string)
	res, err := b.svc.GetPublishJob(t.Context(), &portalv1.GetPublishJobRequest{TenantId: tenant, PostId: post["id"].(string), Revision: 1})
	if err != nil || len(res.GetJob().GetTargets()) != 1 {
		t.Fatalf("GetPublishJob: %v, %v", res, err)
	}
	tg := res.GetJob().GetTargets()[0]
	if tg.GetRefreshToken() == "" || tg.GetSecret() == "" || tg.GetExpiresAt().AsTime().Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("target = %v, want a refresh token, the app's secret and an expiry an hour away", tg)
	}
	prov := mastodon.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}))
	cr, err := prov.Refresh(t.Context(), provider.Account{Network: "mastodon", InstanceURL: tg.GetInstanceUrl(),
		AccessToken: tg.GetAccessToken(), RefreshToken: tg.GetRefreshToken(), ExpiresAt: tg.GetExpiresAt().AsTime(), Secret: tg.GetSecret()})
	if err != nil || cr.AccessToken == "" || sim.Refreshes() != 1 {
		t.Fatalf("renewing with the stored credentials: %+v, %v (%d refreshes)", cr, err, sim.Refreshes())
	}
}
