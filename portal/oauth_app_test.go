package portal

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/provider/instagram"
	"github.com/heraldhq/herald/provider/linkedin"
	"github.com/heraldhq/herald/provider/meta/graph"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/provider/x"
	"github.com/heraldhq/herald/simnet"
)

// appNet is Portal with the networks connected through Herald's own apps,
// each app registered with one simnet, wired the way node wires them with
// networks.simnet_url.
type appNet struct {
	b    *bundle
	sim  *simnet.Server
	url  string
	http *http.Client
	c    *client
	ws   string
	// accounts is the workspace's accounts path in the REST API.
	accounts string
	xp       *x.Provider
	lip      *linkedin.Provider
	th       *threads.Provider
}

func withApps(t *testing.T, configured bool) *appNet {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &appNet{sim: sim, url: srv.URL, http: outbound.NewClient(outbound.Policy{AllowLoopback: true})}
	const base = "https://herald.test"
	sim.X().AddClient("herald-x", "x-secret")
	sim.LinkedIn().AddClient("herald-li", "li-secret")
	// Herald's apps as an operator configures them.
	metaID, metaSecret, thID, thSecret := "herald-meta", "meta-secret", "herald-threads", "threads-secret"
	sim.AddMetaApp(metaID, metaSecret)
	sim.AddMetaApp(thID, thSecret)
	xApp := x.App{ClientID: "herald-x", ClientSecret: "x-secret", RedirectURL: RedirectURI(base, "x"),
		AuthURL: e.url + "/x/i/oauth2/authorize", TokenURL: e.url + "/x/2/oauth2/token"}
	liApp := linkedin.App{ClientID: "herald-li", ClientSecret: "li-secret", RedirectURL: RedirectURI(base, "linkedin"),
		AuthURL: e.url + "/linkedin/oauth/v2/authorization", TokenURL: e.url + "/linkedin/oauth/v2/accessToken"}
	meta := graph.App{ClientID: metaID, ClientSecret: metaSecret, GraphURL: e.url + "/graph", DialogURL: e.url + "/facebook"}
	fbApp, igApp := meta, meta
	fbApp.RedirectURL, igApp.RedirectURL = RedirectURI(base, "facebook"), RedirectURI(base, "instagram")
	thApp := graph.App{ClientID: thID, ClientSecret: thSecret, RedirectURL: RedirectURI(base, "threads"), GraphURL: e.url + "/threads", DialogURL: e.url + "/threads"}

	e.xp = x.New(e.http, x.WithOAuth(x.OAuthConfig(xApp)))
	e.lip = linkedin.New(e.http, linkedin.WithOAuth(linkedin.OAuthConfig(liApp)))
	e.th = threads.New(e.http)
	fb, ig := facebook.New(e.http), instagram.New(e.http)
	flows := map[string]AppOAuthFlow{
		"x":         XOAuth(e.xp, e.url+"/x"),
		"linkedin":  LinkedInOAuth(e.lip, e.url+"/linkedin"),
		"facebook":  FacebookOAuth(fb, fbApp, e.url+"/graph"),
		"instagram": InstagramOAuth(ig, igApp, e.url+"/graph"),
		"threads":   ThreadsOAuth(e.th, thApp, e.url+"/threads"),
	}
	e.b = setupWith(t, func(d *Deps) {
		d.Providers = map[string]provider.Provider{"x": e.xp, "linkedin": e.lip, "facebook": fb, "instagram": ig, "threads": e.th}
		if configured {
			d.AppOAuth = flows
		}
	})
	e.c = e.b.client(t)
	e.c.signIn(e.c.must(http.StatusCreated, e.c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword})))
	e.ws = e.c.must(http.StatusCreated, e.c.do("POST", "/api/v1/workspaces", map[string]string{"name": "Brand", "timezone": "UTC"})).json(t)["id"].(string)
	e.accounts = "/api/v1/workspaces/" + e.ws + "/accounts"
	return e
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// start begins network's flow through the REST API and returns the
// authorize URL.
func (e *appNet) start(t *testing.T, network string) *url.URL {
	t.Helper()
	res := e.c.must(http.StatusOK, e.c.do("POST", e.accounts+"/oauth", map[string]string{"network": network})).json(t)
	u, err := url.Parse(res["authorize_url"].(string))
	if err != nil || !strings.HasPrefix(u.String(), e.url+"/") {
		t.Fatalf("authorize URL %q", res["authorize_url"])
	}
	return u
}

// consentOAuth plays the browser on X's or LinkedIn's simulated
// authorization endpoint (which consents at once as username) and returns
// the callback it sends the browser to.
func (e *appNet) consentOAuth(t *testing.T, auth *url.URL, username string) *url.URL {
	t.Helper()
	q := auth.Query()
	q.Set("username", username)
	u := *auth
	u.RawQuery = q.Encode()
	res, err := noRedirects.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return callbackOf(t, res)
}

var hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consentMeta plays the browser on a simulated Meta dialog (Facebook Login
// or Threads), logging in as login.
func (e *appNet) consentMeta(t *testing.T, auth *url.URL, login string) *url.URL {
	t.Helper()
	page, err := http.Get(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("dialog: %d %s", page.StatusCode, body)
	}
	form := url.Values{"login": {login}, "decision": {"authorize"}}
	for _, m := range hiddenInputRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	res, err := noRedirects.PostForm(auth.Scheme+"://"+auth.Host+auth.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return callbackOf(t, res)
}

func callbackOf(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || back.Host != "herald.test" || !strings.HasPrefix(back.Path, "/oauth/") {
		t.Fatalf("the network sent the browser to %q (%d)", res.Header.Get("Location"), res.StatusCode)
	}
	return back
}

// callback delivers the browser to Herald's callback and returns where
// Herald sends it on.
func (e *appNet) callback(t *testing.T, back *url.URL) *url.URL {
	t.Helper()
	res := e.c.must(http.StatusSeeOther, e.c.do("GET", back.RequestURI(), nil))
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// connected is the account id of a callback that connected one.
func connected(t *testing.T, loc *url.URL) string {
	t.Helper()
	id := loc.Query().Get("connected")
	if id == "" {
		t.Fatalf("the callback sent the browser to %q", loc)
	}
	return id
}

// target is what Publisher gets for a post to account: the credentials the
// provider publishes (and renews) with.
func (e *appNet) target(t *testing.T, account string) *portalv1.Target {
	t.Helper()
	post := e.c.must(http.StatusCreated, e.c.do("POST", "/api/v1/workspaces/"+e.ws+"/posts", map[string]any{
		"text": "Hello", "account_ids": []string{account}, "scheduled_at": future()})).json(t)
	tenant := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["agency_id"].(string)
	res, err := e.b.svc.GetPublishJob(t.Context(), &portalv1.GetPublishJobRequest{TenantId: tenant, PostId: post["id"].(string), Revision: 1})
	if err != nil || len(res.GetJob().GetTargets()) != 1 {
		t.Fatalf("GetPublishJob: %v, %v", res, err)
	}
	return res.GetJob().GetTargets()[0]
}

func accountOf(tg *portalv1.Target, network string) provider.Account {
	return provider.Account{Network: network, InstanceURL: tg.GetInstanceUrl(), AccessToken: tg.GetAccessToken(), RemoteID: tg.GetRemoteId(),
		RefreshToken: tg.GetRefreshToken(), ExpiresAt: tg.GetExpiresAt().AsTime(), Secret: tg.GetSecret()}
}

func TestConnectXThroughOAuth(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	auth := e.start(t, "x")
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || !strings.Contains(q.Get("scope"), "offline.access") {
		t.Fatalf("authorize URL %s: want a PKCE S256 challenge and offline.access", auth)
	}
	if strings.Contains(auth.String(), "x-secret") {
		t.Error("the authorize URL carries the client secret")
	}
	var sealed []byte
	if err := e.b.db.QueryRow(t.Context(), `SELECT verifier_sealed FROM portal_oauth_states WHERE network = 'x'`).Scan(&sealed); err != nil || len(sealed) == 0 {
		t.Fatalf("no sealed verifier kept with the state: %v", err)
	}
	back := e.consentOAuth(t, auth, "brandx")
	id := connected(t, e.callback(t, back))
	acct := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/accounts/"+id, nil)).json(t)
	if acct["network"] != "x" || acct["handle"] != "@brandx" || acct["remote_id"] == "" {
		t.Fatalf("account = %v", acct)
	}

	// The state was used up: the same callback again is refused.
	res := e.c.do("GET", back.RequestURI(), nil)
	if res.Status != http.StatusNotFound {
		t.Errorf("replayed callback: %d %s", res.Status, res.Body)
	}
	// A state Herald never issued is refused.
	forged := *back
	fq := forged.Query()
	fq.Set("state", "forged")
	forged.RawQuery = fq.Encode()
	if res := e.c.do("GET", forged.RequestURI(), nil); res.Status != http.StatusNotFound {
		t.Errorf("unknown state: %d %s", res.Status, res.Body)
	}

	tg := e.target(t, id)
	if tg.GetAccessToken() == "" || tg.GetRefreshToken() == "" || tg.GetRemoteId() != acct["remote_id"] || tg.GetInstanceUrl() != e.url+"/x" {
		t.Fatalf("target = %v", tg)
	}
	if d := time.Until(tg.GetExpiresAt().AsTime()); d < time.Hour || d > 3*time.Hour {
		t.Errorf("the access token expires in %s; want X's two hours", d)
	}
	// What is stored is what the provider renews with: X rotates the
	// refresh token.
	cr, err := e.xp.Refresh(t.Context(), accountOf(tg, "x"))
	if err != nil || cr.AccessToken == "" || cr.RefreshToken == "" || cr.RefreshToken == tg.GetRefreshToken() {
		t.Fatalf("renewing with the stored credentials: %+v, %v", cr, err)
	}
	if _, err := e.xp.Publish(t.Context(), provider.Account{Network: "x", InstanceURL: tg.GetInstanceUrl(), AccessToken: cr.AccessToken, RemoteID: tg.GetRemoteId()},
		provider.Post{Text: "Hello from Herald"}); err != nil {
		t.Errorf("publishing with the renewed token: %v", err)
	}
}

// A code obtained in one flow cannot finish another: the other flow's
// PKCE verifier does not match the code's challenge (an injected code).
func TestConnectXRefusesWrongVerifier(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	first := e.consentOAuth(t, e.start(t, "x"), "victim")
	second := e.consentOAuth(t, e.start(t, "x"), "attacker")
	mixed := *first
	mq := mixed.Query()
	mq.Set("code", second.Query().Get("code"))
	mixed.RawQuery = mq.Encode()
	loc := e.callback(t, &mixed)
	if loc.Query().Get("connected") != "" || !strings.Contains(loc.Query().Get("oauth_error"), "invalid or has expired") {
		t.Fatalf("a code from another flow connected: %q", loc)
	}
	list := e.c.must(http.StatusOK, e.c.do("GET", e.accounts, nil)).json(t)["accounts"].([]any)
	if len(list) != 0 {
		t.Fatalf("accounts = %v", list)
	}
	// The denial of a user who refuses is reported, not an account.
	auth := e.start(t, "x")
	q := auth.Query()
	q.Set("deny", "1")
	auth.RawQuery = q.Encode()
	if loc := e.callback(t, e.consentOAuth(t, auth, "someone")); loc.Query().Get("oauth_error") == "" {
		t.Fatalf("denied: %q", loc)
	}
}

// Another session of the same user cannot finish the flow.
func TestConnectXBoundToSession(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	back := e.consentOAuth(t, e.start(t, "x"), "brandx")
	other := e.b.client(t)
	other.login("ada@acme.test", ownerPassword)
	if res := other.do("GET", back.RequestURI(), nil); res.Status != http.StatusNotFound {
		t.Fatalf("another session's callback: %d %s", res.Status, res.Body)
	}
}

func TestConnectLinkedInThroughOAuth(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	auth := e.start(t, "linkedin")
	if auth.Query().Get("state") == "" || auth.Query().Get("code_challenge") != "" {
		t.Errorf("authorize URL %s: want state and no PKCE", auth)
	}
	id := connected(t, e.callback(t, e.consentOAuth(t, auth, "lina")))
	acct := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/accounts/"+id, nil)).json(t)
	if acct["network"] != "linkedin" || !strings.HasPrefix(acct["remote_id"].(string), "urn:li:person:") {
		t.Fatalf("account = %v", acct)
	}
	tg := e.target(t, id)
	if tg.GetAccessToken() == "" || tg.GetRefreshToken() == "" || tg.GetExpiresAt().AsTime().Before(time.Now().Add(24*time.Hour)) ||
		tg.GetRemoteId() != acct["remote_id"] {
		t.Fatalf("target = %v", tg)
	}
	cr, err := e.lip.Refresh(t.Context(), accountOf(tg, "linkedin"))
	if err != nil || cr.AccessToken == "" {
		t.Fatalf("renewing with the stored credentials: %+v, %v", cr, err)
	}
}

func TestConnectThreadsThroughOAuth(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	id := connected(t, e.callback(t, e.consentMeta(t, e.start(t, "threads"), "thready")))
	acct := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/accounts/"+id, nil)).json(t)
	if acct["network"] != "threads" || acct["remote_id"] == "" || !strings.Contains(acct["handle"].(string), "thready") {
		t.Fatalf("account = %v", acct)
	}
	tg := e.target(t, id)
	if d := time.Until(tg.GetExpiresAt().AsTime()); tg.GetAccessToken() == "" || d < 59*24*time.Hour || tg.GetRemoteId() != acct["remote_id"] {
		t.Fatalf("target = %v (expires in %s); want a long-lived token", tg, d)
	}
	// The stored token is what the provider renews.
	cr, err := e.th.Refresh(t.Context(), accountOf(tg, "threads"))
	if err != nil || cr.AccessToken == "" {
		t.Fatalf("renewing with the stored credentials: %+v, %v", cr, err)
	}
}

func TestConnectFacebookPagesThroughOAuth(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	e.sim.CreateFacebookUser("dana", "Dana's Bakery", "Dana's Cafe")
	auth := e.start(t, "facebook")
	if auth.Query().Get("state") == "" || !strings.Contains(auth.Query().Get("scope"), "pages_manage_posts") || strings.Contains(auth.String(), "meta-secret") {
		t.Fatalf("authorize URL %s", auth)
	}
	loc := e.callback(t, e.consentMeta(t, auth, "dana"))
	pick := loc.Query().Get("pick")
	if loc.Path != "/workspaces/"+e.ws+"/accounts/pick" || pick == "" {
		t.Fatalf("the callback sent the browser to %q; want the page picker", loc)
	}
	var sealed []byte
	if err := e.b.db.QueryRow(t.Context(), `SELECT choices_sealed FROM portal_oauth_picks`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "EAA") || strings.Contains(string(sealed), "Cafe") {
		t.Error("the pick's choices are stored in clear")
	}
	res := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/oauth/picks/"+url.PathEscape(pick), nil))
	if strings.Contains(string(res.Body), "EAA") || strings.Contains(string(res.Body), "token") {
		t.Errorf("the choices show a token: %s", res.Body)
	}
	choices := res.json(t)["choices"].([]any)
	if len(choices) != 2 {
		t.Fatalf("choices = %v", choices)
	}
	var cafe string
	for _, c := range choices {
		if m := c.(map[string]any); m["name"] == "Dana's Cafe" {
			cafe = m["id"].(string)
		}
	}
	if cafe == "" {
		t.Fatalf("no Dana's Cafe in %v", choices)
	}
	// Nothing is connected before the pick; an unknown id is refused and
	// leaves the pick usable.
	if list := e.c.must(http.StatusOK, e.c.do("GET", e.accounts, nil)).json(t)["accounts"].([]any); len(list) != 0 {
		t.Fatalf("accounts before the pick = %v", list)
	}
	bad := e.c.must(http.StatusUnprocessableEntity, e.c.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(pick), map[string]any{"ids": []string{"nope"}}))
	if bad.errorFields(t)["ids"] == nil {
		t.Fatalf("unknown id: %s", bad.Body)
	}
	// Another session cannot read or use the pick.
	other := e.b.client(t)
	other.login("ada@acme.test", ownerPassword)
	other.must(http.StatusNotFound, other.do("GET", "/api/v1/oauth/picks/"+url.PathEscape(pick), nil))
	other.must(http.StatusNotFound, other.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(pick), map[string]any{"ids": []string{cafe}}))

	got := e.c.must(http.StatusCreated, e.c.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(pick), map[string]any{"ids": []string{cafe}})).json(t)["accounts"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["remote_id"] != cafe || got[0].(map[string]any)["display_name"] != "Dana's Cafe" {
		t.Fatalf("picked = %v", got)
	}
	// Single use.
	e.c.must(http.StatusNotFound, e.c.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(pick), map[string]any{"ids": []string{cafe}}))

	id := got[0].(map[string]any)["id"].(string)
	tg := e.target(t, id)
	if tg.GetRemoteId() != cafe || tg.GetAccessToken() == "" || tg.GetRefreshToken() != "" || tg.GetInstanceUrl() != e.url+"/graph" {
		t.Fatalf("target = %v", tg)
	}
	// The page's own token, which publishes as the page.
	if _, err := facebook.New(e.http).Publish(t.Context(), accountOf(tg, "facebook"), provider.Post{Text: "Fresh bread today"}); err != nil {
		t.Fatalf("publishing with the stored page token: %v", err)
	}
	if posts := e.sim.FacebookPosts(); len(posts) != 1 || posts[0].PageID != cafe {
		t.Errorf("posts = %+v", posts)
	}
}

func TestConnectFacebookPagesInTheUI(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	e.sim.CreateFacebookUser("dana", "Dana's Bakery", "Dana's Cafe")
	br := e.b.browser(t)
	br.cookies["herald_session"] = e.c.cookie
	token := br.csrf()
	page := br.must(http.StatusOK, br.get("/workspaces/"+e.ws))
	wantText(t, page.Body, "Connect Facebook", "Connect X", "Connect Threads")
	res := br.must(http.StatusSeeOther, br.post("/workspaces/"+e.ws+"/accounts/oauth", url.Values{"network": {"facebook"}, "csrf_token": {token}}))
	auth, _ := url.Parse(res.location())
	back := e.consentMeta(t, auth, "dana")
	res = br.must(http.StatusSeeOther, br.get(back.RequestURI()))
	loc, _ := url.Parse(res.location())
	res = br.must(http.StatusOK, br.get(loc.RequestURI()))
	wantText(t, res.Body, "Choose Facebook accounts", "Dana's Bakery", "Dana's Cafe")
	if strings.Contains(res.Body, "EAA") {
		t.Error("the picker shows a token")
	}
	ids := regexp.MustCompile(`name="id" value="([^"]+)"`).FindAllStringSubmatch(res.Body, -1)
	if len(ids) != 2 {
		t.Fatalf("choices in the page: %v", ids)
	}
	pick := loc.Query().Get("pick")
	// Choosing nothing shows the page again.
	res = br.must(http.StatusUnprocessableEntity, br.post("/workspaces/"+e.ws+"/accounts/pick", url.Values{"pick": {pick}, "csrf_token": {token}}))
	wantText(t, res.Body, "Choose at least one")
	br.must(http.StatusSeeOther, br.post("/workspaces/"+e.ws+"/accounts/pick", url.Values{"pick": {pick}, "id": {ids[0][1], ids[1][1]}, "csrf_token": {token}}))
	wantText(t, br.must(http.StatusOK, br.get("/workspaces/"+e.ws)).Body, "2 accounts are connected")
	if list := e.c.must(http.StatusOK, e.c.do("GET", e.accounts, nil)).json(t)["accounts"].([]any); len(list) != 2 {
		t.Fatalf("accounts = %v", list)
	}
}

func TestConnectInstagramThroughOAuth(t *testing.T) {
	t.Parallel()
	e := withApps(t, true)
	ig := e.sim.CreateInstagramAccount("danabakes")
	loc := e.callback(t, e.consentMeta(t, e.start(t, "instagram"), ig.UserLogin))
	pick := loc.Query().Get("pick")
	if pick == "" {
		t.Fatalf("the callback sent the browser to %q", loc)
	}
	choices := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/oauth/picks/"+url.PathEscape(pick), nil)).json(t)["choices"].([]any)
	if len(choices) != 1 || choices[0].(map[string]any)["id"] != ig.ID || choices[0].(map[string]any)["handle"] != "@danabakes" {
		t.Fatalf("choices = %v", choices)
	}
	got := e.c.must(http.StatusCreated, e.c.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(pick), map[string]any{"ids": []string{ig.ID}})).json(t)["accounts"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["handle"] != "@danabakes" {
		t.Fatalf("picked = %v", got)
	}
	// A pick not used in time is gone.
	loc = e.callback(t, e.consentMeta(t, e.start(t, "instagram"), ig.UserLogin))
	if _, err := e.b.db.Exec(t.Context(), `UPDATE portal_oauth_picks SET expires_at = 1`); err != nil {
		t.Fatal(err)
	}
	e.c.must(http.StatusNotFound, e.c.do("GET", "/api/v1/oauth/picks/"+url.PathEscape(loc.Query().Get("pick")), nil))
	e.c.must(http.StatusNotFound, e.c.do("POST", "/api/v1/oauth/picks/"+url.PathEscape(loc.Query().Get("pick")), map[string]any{"ids": []string{ig.ID}}))

	tg := e.target(t, got[0].(map[string]any)["id"].(string))
	if tg.GetRemoteId() != ig.ID || tg.GetAccessToken() == "" || tg.GetAccessToken() == ig.AccessToken {
		t.Fatalf("target = %v; want the page's token, not the user's", tg)
	}
	if _, err := instagram.New(e.http).VerifyCredentials(t.Context(), accountOf(tg, "instagram")); err != nil {
		t.Errorf("verifying with the stored token: %v", err)
	}
}

func TestNetworksSayWhetherOAuthIsConfigured(t *testing.T) {
	t.Parallel()
	for _, configured := range []bool{true, false} {
		e := withApps(t, configured)
		list := e.c.must(http.StatusOK, e.c.do("GET", "/api/v1/networks", nil)).json(t)["networks"].([]any)
		for _, n := range list {
			m := n.(map[string]any)
			switch {
			case configured && (m["connect"] != "oauth" || m["oauth_unavailable"] != nil):
				t.Errorf("configured: %v", m)
			case !configured && (m["connect"] != "token" || m["oauth_unavailable"] == nil):
				t.Errorf("not configured: %v", m)
			}
			if configured && (m["pick"] == true) != (m["network"] == "facebook" || m["network"] == "instagram") {
				t.Errorf("pick: %v", m)
			}
		}
		if !configured {
			res := e.c.must(http.StatusUnprocessableEntity, e.c.do("POST", e.accounts+"/oauth", map[string]string{"network": "x"}))
			if res.errorFields(t)["network"] == nil {
				t.Errorf("starting an unconfigured flow: %s", res.Body)
			}
		}
	}
}
