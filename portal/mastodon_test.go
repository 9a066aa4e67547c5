package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

// withMastodon runs Portal with the real Mastodon provider, through the
// SSRF-safe client, against a simulated instance on loopback.
func withMastodon(t *testing.T, allowLoopback bool) (*bundle, *simnet.Server, string) {
	t.Helper()
	sim := simnet.New(simnet.Options{})
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
	start := c.must(http.StatusOK, c.do("POST", accounts+"/oauth", map[string]string{"instance_url": instance})).json(t)
	authURL, _ := url.Parse(start["authorize_url"].(string))
	q := authURL.Query()
	form := url.Values{"client_id": {q.Get("client_id")}, "redirect_uri": {q.Get("redirect_uri")}, "response_type": {"code"},
		"scope": {q.Get("scope")}, "state": {q.Get("state")}, "username": {"viaoauth"}, "decision": {"authorize"}}
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
	res = c.must(http.StatusSeeOther, c.do("GET", back.RequestURI(), nil))
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "connected=acct_") {
		t.Fatalf("callback redirected to %q", loc)
	}
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
