package portal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
)

// The web UI's tests talk HTTP to the pages as a browser does: forms,
// cookies, redirects left for the test to follow. The e2e package drives
// the same pages in a real browser.

// uiClient is a browser: it keeps cookies and says its requests come from
// the page's own origin, as browsers do with Sec-Fetch-Site.
type uiClient struct {
	t       *testing.T
	b       *bundle
	cookies map[string]string
	site    string // Sec-Fetch-Site
}

func (b *bundle) browser(t *testing.T) *uiClient {
	return &uiClient{t: t, b: b, cookies: map[string]string{}, site: "same-origin"}
}

// signedIn is a browser holding a's owner's session.
func (a *agency) browser(t *testing.T, b *bundle) *uiClient {
	c := b.browser(t)
	c.cookies["herald_session"] = a.owner.cookie
	return c
}

type uiResponse struct {
	Status int
	Header http.Header
	Body   string
}

func (r *uiResponse) location() string { return r.Header.Get("Location") }

func (c *uiClient) send(r *http.Request) *uiResponse {
	c.t.Helper()
	r.RemoteAddr = "192.0.2.50:40000"
	r.Header.Set("Sec-Fetch-Site", c.site)
	for k, v := range c.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	c.b.handler.ServeHTTP(w, r)
	res := w.Result()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return &uiResponse{Status: w.Code, Header: res.Header, Body: w.Body.String()}
}

func (c *uiClient) get(path string) *uiResponse {
	c.t.Helper()
	return c.send(httptest.NewRequest(http.MethodGet, path, nil))
}

func (c *uiClient) post(path string, form url.Values) *uiResponse {
	c.t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(r)
}

func (c *uiClient) upload(path string, fields url.Values, fileName string, content []byte) *uiResponse {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		c.t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, path, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(r)
}

// must checks a response's status and, for a redirect, where it goes.
func (c *uiClient) must(status int, res *uiResponse, location ...string) *uiResponse {
	c.t.Helper()
	if res.Status != status {
		c.t.Fatalf("status %d, want %d (Location %q)\n%s", res.Status, status, res.location(), excerpt(res.Body))
	}
	if len(location) > 0 && res.location() != location[0] {
		c.t.Fatalf("redirect to %q, want %q", res.location(), location[0])
	}
	return res
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf reads the session's token from a page's forms.
func (c *uiClient) csrf() string {
	c.t.Helper()
	res := c.must(http.StatusOK, c.get("/notifications"))
	m := csrfRE.FindStringSubmatch(res.Body)
	if m == nil {
		c.t.Fatalf("no csrf_token in the page:\n%s", excerpt(res.Body))
	}
	return html.UnescapeString(m[1])
}

// text is a page's visible text, roughly: tags dropped, entities decoded,
// white space squeezed, so tests can look for sentences.
func text(page string) string {
	page = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)>`).ReplaceAllString(page, " ")
	page = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " ")
	return strings.Join(strings.Fields(html.UnescapeString(page)), " ")
}

func excerpt(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func wantText(t *testing.T, page string, wants ...string) {
	t.Helper()
	got := text(page)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("page does not say %q:\n%s", w, excerpt(got))
		}
	}
}

func TestUIFirstRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.browser(t)

	res := c.must(http.StatusOK, c.get("/"))
	if !strings.Contains(res.Body, `id="setup-form"`) {
		t.Fatalf("a fresh Herald should show the setup form:\n%s", excerpt(res.Body))
	}
	c.must(http.StatusSeeOther, c.get("/login"), "/")

	// Refused: every problem beside its field, what was typed kept, the
	// password never sent back, nothing created.
	res = c.must(http.StatusUnprocessableEntity, c.post("/setup", url.Values{
		"agency_name": {""}, "name": {"Ada"}, "email": {"not-an-email"}, "password": {"short pw"}}))
	for _, want := range []string{
		`id="setup-agency-error">Agency name is required.<`,
		`id="setup-email-error">Email is not a valid email address.<`,
		`id="setup-password-error">Password must be at least 10 characters.<`,
		`value="not-an-email"`, `value="Ada"`, `aria-invalid="true"`,
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("refused setup lacks %s", want)
		}
	}
	if strings.Contains(res.Body, "short pw") {
		t.Error("the refused page shows the password that was typed")
	}
	if needed, _ := b.svc.SetupNeeded(context.Background()); !needed {
		t.Fatal("a refused setup created the agency")
	}

	// Accepted: signed in, with a welcome on the dashboard.
	c.must(http.StatusSeeOther, c.post("/setup", url.Values{
		"agency_name": {"Acme Social"}, "name": {"Ada Owner"}, "email": {"ada@acme.test"}, "password": {ownerPassword}}), "/")
	if c.cookies["herald_session"] == "" {
		t.Fatal("setup did not sign the owner in")
	}
	res = c.must(http.StatusOK, c.get("/"))
	if !strings.Contains(res.Body, `id="workspace-form"`) || !strings.Contains(res.Body, `id="agency-name">Acme Social<`) {
		t.Errorf("dashboard lacks the workspace form or the agency name:\n%s", excerpt(res.Body))
	}
	wantText(t, res.Body, "Welcome to Herald, Ada Owner.")
	// A flash is shown once.
	if strings.Contains(text(c.must(http.StatusOK, c.get("/")).Body), "Welcome to Herald") {
		t.Error("the welcome came back on the next page")
	}

	// Setup is done: another attempt is sent to sign in.
	other := b.browser(t)
	other.must(http.StatusSeeOther, other.post("/setup", url.Values{
		"agency_name": {"Eve"}, "name": {"Eve"}, "email": {"eve@evil.test"}, "password": {ownerPassword}}), "/login")
	wantText(t, other.must(http.StatusOK, other.get("/login")).Body, "Herald is already set up.")
}

func TestUISignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.firstAgency(t)
	c := b.browser(t)

	c.must(http.StatusSeeOther, c.get("/"), "/login")
	c.must(http.StatusSeeOther, c.get("/workspaces/ws_1?tab=posts"), "/login?next=%2Fworkspaces%2Fws_1%3Ftab%3Dposts")
	res := c.must(http.StatusOK, c.get("/login?next=%2Fnotifications"))
	if !strings.Contains(res.Body, `name="next" value="/notifications"`) {
		t.Errorf("the login form does not carry next:\n%s", excerpt(res.Body))
	}

	res = c.must(http.StatusUnauthorized, c.post("/login", url.Values{"email": {"ada@acme.test"}, "password": {"wrong password"}, "next": {"/notifications"}}))
	wantText(t, res.Body, "Email or password is wrong.")
	if !strings.Contains(res.Body, `value="ada@acme.test"`) || c.cookies["herald_session"] != "" {
		t.Error("a refused sign-in should keep the email and start no session")
	}

	// Signed in, back where they were going; never to another site.
	c.must(http.StatusSeeOther, c.post("/login", url.Values{"email": {"ada@acme.test"}, "password": {ownerPassword}, "next": {"/notifications"}}), "/notifications")
	first := c.cookies["herald_session"]
	c.must(http.StatusSeeOther, c.post("/login", url.Values{"email": {"ada@acme.test"}, "password": {ownerPassword}, "next": {"//evil.example/"}}), "/")
	if c.cookies["herald_session"] == first {
		t.Error("signing in again kept the old session id")
	}
	c.must(http.StatusSeeOther, c.get("/login"), "/")

	// Signing out ends the session.
	c.must(http.StatusSeeOther, c.post("/logout", url.Values{"csrf_token": {c.csrf()}}), "/login")
	wantText(t, c.must(http.StatusOK, c.get("/login")).Body, "You have signed out.")
	c.must(http.StatusSeeOther, c.get("/notifications"), "/login?next=%2Fnotifications")
}

// TestUIRefusesForgedRequests: state changes need the page's own origin
// and, once signed in, the session's CSRF token.
func TestUIRefusesForgedRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	before := b.count(t, "portal_workspaces")

	cross := b.browser(t)
	cross.site = "cross-site"
	res := cross.must(http.StatusForbidden, cross.post("/login", url.Values{"email": {"ada@acme.test"}, "password": {ownerPassword}}))
	if cross.cookies["herald_session"] != "" {
		t.Error("a cross-site sign-in started a session")
	}
	wantText(t, res.Body, "Not allowed")

	c := a.browser(t, b)
	token := c.csrf()
	for _, tc := range []struct {
		name string
		site string
		form url.Values
	}{
		{"no token", "same-origin", url.Values{"name": {"X"}, "timezone": {"UTC"}}},
		{"wrong token", "same-origin", url.Values{"name": {"X"}, "timezone": {"UTC"}, "csrf_token": {"forged"}}},
		{"from another site", "cross-site", url.Values{"name": {"X"}, "timezone": {"UTC"}, "csrf_token": {token}}},
	} {
		c.site = tc.site
		res := c.post("/workspaces", tc.form)
		if res.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, res.Status)
		}
	}
	if n := b.count(t, "portal_workspaces"); n != before {
		t.Fatalf("forged forms created workspaces: %d, want %d", n, before)
	}

	// An API token is for scripts: it opens no page.
	_, secret, err := b.svc.CreateAPIToken(context.Background(), mustPrincipal(t, b, a), "script")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/notifications", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	if res := b.browser(t).send(r); res.Status != http.StatusForbidden {
		t.Errorf("a page with an API token: status %d, want 403", res.Status)
	}
}

func mustPrincipal(t *testing.T, b *bundle, a *agency) *Principal {
	t.Helper()
	p, err := b.svc.SessionPrincipal(context.Background(), a.owner.cookie)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUISessionEnded: a form sent after the session ended goes to sign-in
// saying why; the post list's script gets a bare 401.
func TestUISessionEnded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	if err := b.svc.Logout(context.Background(), mustPrincipal(t, b, a)); err != nil {
		t.Fatal(err)
	}
	c.must(http.StatusSeeOther, c.post("/workspaces", url.Values{"name": {"X"}, "timezone": {"UTC"}, "csrf_token": {token}}), "/login")
	wantText(t, c.must(http.StatusOK, c.get("/login")).Body, "Your session has ended")
	res := c.must(http.StatusUnauthorized, c.get("/workspaces/"+a.workspace+"/posts"))
	if strings.Contains(res.Body, "<html") {
		t.Error("the fragment answered a signed-out script with a page")
	}
}

func TestUIWorkspaces(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()

	res := c.must(http.StatusOK, c.get("/"))
	for _, want := range []string{`data-workspace-id="` + a.workspace + `"`, `<option value="Europe/Paris"`, `data-browser-zone`, `<option value="UTC" selected>`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	wantText(t, res.Body, "ada brand", "1 account")

	res = c.must(http.StatusUnprocessableEntity, c.post("/workspaces", url.Values{"name": {""}, "timezone": {"Asia/Tokyo"}, "csrf_token": {token}}))
	wantText(t, res.Body, "Name is required.")
	if !strings.Contains(res.Body, `<option value="Asia/Tokyo" selected>`) || strings.Contains(res.Body, "data-browser-zone") {
		t.Error("the refused form should keep the chosen zone and not replace it with the browser's")
	}

	res = c.must(http.StatusSeeOther, c.post("/workspaces", url.Values{"name": {"Sushi Tokyo"}, "timezone": {"Asia/Tokyo"}, "csrf_token": {token}}))
	if !strings.HasPrefix(res.location(), "/workspaces/ws_") {
		t.Fatalf("a new workspace redirects to %q", res.location())
	}
	res = c.must(http.StatusOK, c.get(res.location()))
	wantText(t, res.Body, "Workspace “Sushi Tokyo” created.", "Asia/Tokyo")

	// Another agency's workspace does not exist, as far as anyone can tell.
	rival := b.otherAgency(t, "rival")
	rc := rival.browser(t, b)
	res = rc.must(http.StatusNotFound, rc.get("/workspaces/"+a.workspace))
	wantText(t, res.Body, "Not found")
	if strings.Contains(res.Body, "ada brand") {
		t.Error("the 404 page shows the other agency's workspace")
	}
}

// limitedPublisher answers with the network's limits, as Publisher does.
type limitedPublisher struct{ *fakePublisher }

func (p limitedPublisher) Validate(ctx context.Context, req *publisherv1.ValidateRequest) (*publisherv1.ValidateResponse, error) {
	res, err := p.fakePublisher.Validate(ctx, req)
	if res != nil {
		res.Limits = &publisherv1.NetworkLimits{MaxTextChars: 500, MaxMedia: 4}
	}
	return res, err
}

func TestUIComposer(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(d *Deps) { d.Publisher = limitedPublisher{d.Publisher.(*fakePublisher)} })
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace

	res := c.must(http.StatusOK, c.get(path))
	for _, want := range []string{`id="compose-form"`, `data-limit="500"`, `name="account_ids" value="` + a.account + `"`, `type="datetime-local"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("workspace page lacks %s", want)
		}
	}

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"over-long text", url.Values{"text": {strings.Repeat("é", 501)}, "account_ids": {a.account}, "scheduled_at": {future()}}, "compose-text", "is 501 characters; the limit is 500"},
		{"no account", url.Values{"text": {"hi"}, "scheduled_at": {future()}}, "compose-accounts", "Choose at least one account."},
		{"no time", url.Values{"text": {"hi"}, "account_ids": {a.account}}, "compose-at", "Choose a date and time, or Publish now."},
		{"past time", url.Values{"text": {"hi"}, "account_ids": {a.account}, "scheduled_at": {"2020-01-01T10:00"}}, "compose-at", "in the past"},
		{"another workspace's account", url.Values{"text": {"hi"}, "account_ids": {"acct_other"}, "when": {"now"}}, "compose-accounts", "One of the chosen accounts is not an account of this workspace."},
	} {
		tc.form.Set("csrf_token", token)
		res := c.must(http.StatusUnprocessableEntity, c.post(path+"/posts", tc.form))
		m := regexp.MustCompile(`id="` + tc.field + `-error">([^<]*)<`).FindStringSubmatch(res.Body)
		if m == nil || !strings.Contains(html.UnescapeString(m[1]), tc.want) {
			t.Errorf("%s: the error beside %s is %v, want %q", tc.name, tc.field, m, tc.want)
		}
		if txt := tc.form.Get("text"); !strings.Contains(res.Body, ">"+html.EscapeString(txt)+"</textarea>") {
			t.Errorf("%s: the text was not kept", tc.name)
		}
	}
	if n := b.count(t, "portal_posts"); n != 0 || b.trigger.count() != 0 {
		t.Fatalf("refused posts left %d rows and %d schedules", n, b.trigger.count())
	}

	// Scheduled: the page says when, in the workspace's zone; the text is
	// shown as text, never as markup.
	res = c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{
		"text": {"<script>alert(1)</script> bonjour"}, "account_ids": {a.account}, "scheduled_at": {future()}, "when": {"schedule"}, "csrf_token": {token}}))
	postID := strings.TrimPrefix(res.location(), path+"#post-")
	if postID == res.location() || b.trigger.schedule(postID) == nil {
		t.Fatalf("redirect %q does not name a scheduled post", res.location())
	}
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Post scheduled for", "(Europe/Paris)")
	if !strings.Contains(res.Body, `data-post-id="`+postID+`" data-status="scheduled"`) {
		t.Errorf("the post is not listed as scheduled:\n%s", excerpt(res.Body))
	}
	if strings.Contains(res.Body, "<script>alert(1)") || !strings.Contains(res.Body, "&lt;script&gt;alert(1)&lt;/script&gt; bonjour") {
		t.Error("the post's text is not escaped")
	}

	// The list alone, for the page's script, and the links notifications use.
	frag := c.must(http.StatusOK, c.get(path+"/posts"))
	if !strings.HasPrefix(strings.TrimSpace(frag.Body), `<div id="posts"`) || !strings.Contains(frag.Body, `data-post-id="`+postID+`"`) {
		t.Errorf("fragment:\n%s", excerpt(frag.Body))
	}
	c.must(http.StatusSeeOther, c.get(path+"/posts/"+postID), path+"#post-"+postID)
	c.must(http.StatusSeeOther, c.get(path+"/accounts/"+a.account), path+"#account-"+a.account)

	// Publish now.
	c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{"text": {"now!"}, "account_ids": {a.account}, "when": {"now"}, "scheduled_at": {"ignored"}, "csrf_token": {token}}))
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "Your post is being published now.")
	if frag := c.must(http.StatusOK, c.get(path+"/posts")); !strings.Contains(frag.Body, `data-live="true"`) || !strings.Contains(frag.Body, `data-status="publishing"`) {
		t.Errorf("a post being published should make the list live:\n%s", excerpt(frag.Body))
	}

	// Deleting the scheduled one.
	c.must(http.StatusSeeOther, c.post(path+"/posts/"+postID+"/delete", url.Values{"csrf_token": {token}}), path+"#posts")
	if b.trigger.schedule(postID) != nil {
		t.Error("the deleted post is still scheduled")
	}
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "The post was deleted.")
}

func TestUIAccountsAndMedia(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace

	b.prov.addToken("token-bistro", "remote-bistro", "bistro")
	res := c.must(http.StatusUnprocessableEntity, c.post(path+"/accounts", url.Values{
		"instance_url": {"ftp://social.example"}, "access_token": {"token-bistro"}, "csrf_token": {token}}))
	wantText(t, res.Body, "Server address must start with https://")
	if strings.Contains(res.Body, "token-bistro") {
		t.Error("the refused page shows the access token")
	}
	res = c.must(http.StatusUnprocessableEntity, c.post(path+"/accounts", url.Values{
		"instance_url": {"https://social.example"}, "csrf_token": {token}}))
	wantText(t, res.Body, "Paste an access token, or use Connect with OAuth instead.")
	c.must(http.StatusSeeOther, c.post(path+"/accounts", url.Values{
		"network": {"mastodon"}, "instance_url": {"https://social.example"}, "access_token": {"token-bistro"}, "csrf_token": {token}}), path+"#accounts")
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "@bistro@social.example is connected.")

	// OAuth: the browser is sent to the server; it comes back with the outcome.
	res = c.must(http.StatusSeeOther, c.post(path+"/accounts/oauth", url.Values{"instance_url": {"https://social.example"}, "csrf_token": {token}}))
	if !strings.HasPrefix(res.location(), "https://social.example/oauth/authorize?") {
		t.Errorf("OAuth goes to %q", res.location())
	}
	wantText(t, c.must(http.StatusOK, c.get(path+"?oauth_error=the+server+did+not+grant+access")).Body, "The account was not connected: the server did not grant access.")

	// Media: an image is kept, anything else refused beside the file input.
	res = c.must(http.StatusUnprocessableEntity, c.upload(path+"/media", url.Values{"csrf_token": {token}}, "notes.png", []byte("just text")))
	if m := regexp.MustCompile(`id="media-file-error">([^<]*)<`).FindStringSubmatch(res.Body); m == nil || !strings.Contains(m[1], "upload a JPEG, PNG, GIF or WebP image") {
		t.Errorf("a text file's error is %v", m)
	}
	c.must(http.StatusSeeOther, c.upload(path+"/media", url.Values{"csrf_token": {token}, "description": {"A croissant"}}, "croissant.png", pngBytes(t)), path+"#media")
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Uploaded croissant.png.")
	if !strings.Contains(res.Body, `alt="A croissant"`) || !strings.Contains(res.Body, `name="media_ids"`) {
		t.Error("the image is not in the library and the composer")
	}

	// Disconnecting.
	c.must(http.StatusSeeOther, c.post(path+"/accounts/"+a.account+"/delete", url.Values{"csrf_token": {token}}), path+"#accounts")
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "is disconnected")
}

func TestUIInvitations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace

	res := c.must(http.StatusUnprocessableEntity, c.post(path+"/invites", url.Values{"email": {"nope"}, "role": {"boss"}, "csrf_token": {token}}))
	wantText(t, res.Body, "Email is not a valid email address.", "Role must be one of")
	c.must(http.StatusSeeOther, c.post(path+"/invites", url.Values{"email": {"max@acme.test"}, "role": {"manager"}, "csrf_token": {token}}), path+"#team")
	res = c.must(http.StatusOK, c.get(path))
	m := regexp.MustCompile(`id="flash-secret" class="secret-value" type="text" readonly value="([^"]+)"`).FindStringSubmatch(res.Body)
	if m == nil || !strings.HasPrefix(m[1], "https://herald.test/invites/") {
		t.Fatalf("the invitation link is not shown:\n%s", excerpt(res.Body))
	}
	link := strings.TrimPrefix(m[1], "https://herald.test")
	if strings.Contains(c.must(http.StatusOK, c.get(path)).Body, link) {
		t.Error("the invitation link is shown more than once")
	}

	mate := b.browser(t)
	res = mate.must(http.StatusOK, mate.get(link))
	if !strings.Contains(res.Body, `id="accept-form"`) {
		t.Fatalf("no accept form:\n%s", excerpt(res.Body))
	}
	res = mate.must(http.StatusUnprocessableEntity, mate.post(link, url.Values{"name": {"Max"}, "password": {"short"}}))
	wantText(t, res.Body, "Password must be at least 10 characters.")
	mate.must(http.StatusSeeOther, mate.post(link, url.Values{"name": {"Max Manager"}, "password": {ownerPassword}}), "/")
	res = mate.must(http.StatusOK, mate.get("/"))
	wantText(t, res.Body, "Welcome, Max Manager.", "ada brand", "Manager")
	if strings.Contains(res.Body, `id="workspace-form"`) {
		t.Error("a manager is offered to create workspaces")
	}
	res = mate.must(http.StatusOK, mate.get(path))
	if strings.Contains(res.Body, `id="invite-form"`) || !strings.Contains(res.Body, `id="compose-form"`) {
		t.Error("a manager should compose but not invite")
	}
	res = mate.must(http.StatusNotFound, b.browser(t).post(link, url.Values{"name": {"Eve"}, "password": {ownerPassword}}))
	wantText(t, res.Body, "This invitation does not exist")
}

func TestUINotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)

	res := c.must(http.StatusOK, c.get("/notifications"))
	if !strings.Contains(res.Body, `data-notification-id="ntf_1"`) || !strings.Contains(res.Body, `id="notification-count" class="count"`) {
		t.Errorf("inbox or bell missing:\n%s", excerpt(res.Body))
	}
	c.must(http.StatusSeeOther, c.post("/notifications/read", url.Values{"csrf_token": {c.csrf()}}), "/notifications")
	b.notify.mu.Lock()
	defer b.notify.mu.Unlock()
	if len(b.notify.read) != 1 || len(b.notify.read[0].GetNotificationIds()) != 0 || b.notify.read[0].GetUserId() == "" {
		t.Errorf("mark all read asked %v", b.notify.read)
	}
}

func TestUIPagesAreProtected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	setupPage := b.browser(t).get("/")
	a := b.firstAgency(t)
	c := a.browser(t, b)
	for name, res := range map[string]*uiResponse{
		"setup":     setupPage,
		"dashboard": c.get("/"),
		"workspace": c.get("/workspaces/" + a.workspace),
		"not found": c.get("/workspaces/ws_nothing"),
	} {
		for k, want := range map[string]string{
			"Cache-Control":           "no-store",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "script-src 'self'",
			"Content-Type":            "text/html; charset=utf-8",
		} {
			if !strings.Contains(res.Header.Get(k), want) {
				t.Errorf("%s: %s = %q, want it to contain %q", name, k, res.Header.Get(k), want)
			}
		}
		// The pages' own markup obeys the policy: no inline script or style.
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|style="|\son[a-z]+="`).MatchString(res.Body) {
			t.Errorf("%s has inline script or style, which its policy forbids", name)
		}
	}
}

func TestUIStaticAssets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.browser(t)
	for _, tc := range []struct {
		path, cache string
		status      int
	}{
		{"/static/app.css?v=" + uiAssets["app.css"], "immutable", http.StatusOK},
		{"/static/app.js?v=old", "max-age=300", http.StatusOK},
		{"/static/nothing.css", "", http.StatusNotFound},
		{"/static/..%2fui.go", "", http.StatusNotFound},
	} {
		res := c.get(tc.path)
		if res.Status != tc.status || !strings.Contains(res.Header.Get("Cache-Control"), tc.cache) {
			t.Errorf("%s: status %d, Cache-Control %q", tc.path, res.Status, res.Header.Get("Cache-Control"))
		}
	}
	res := c.get("/static/app.css")
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") || !strings.Contains(res.Body, "--accent") {
		t.Errorf("app.css served as %q", res.Header.Get("Content-Type"))
	}
}

func TestUIFlashCannotBeForged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	u := &webUI{s: b.svc}
	for _, value := range []string{"Q2FsbCB1cw", "not base64!", ""} {
		c.cookies["herald_flash"] = value
		if res := c.must(http.StatusOK, c.get("/notifications")); strings.Contains(res.Body, `id="flash"`) {
			t.Errorf("cookie %q showed a message", value)
		}
	}
	// A genuine flash opens once; one that expired does not.
	w := httptest.NewRecorder()
	u.setFlash(w, flash{Kind: "success", Message: "Fresh news"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	if f := u.takeFlash(httptest.NewRecorder(), r); f == nil || f.Message != "Fresh news" {
		t.Fatalf("a fresh flash did not open: %+v", f)
	}
	js, _ := json.Marshal(flash{Kind: "success", Message: "Stale news", Expires: time.Now().Add(-time.Second).Unix()})
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "herald_flash", Value: base64.RawURLEncoding.EncodeToString(u.s.keys.seal(string(js), flashAAD))})
	if f := u.takeFlash(httptest.NewRecorder(), r); f != nil {
		t.Errorf("an expired flash was shown: %+v", f)
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "/",
		"/workspaces/ws_1?x=1#post": "/workspaces/ws_1?x=1#post",
		"//evil.example/":           "/",
		"/\\evil.example":           "/",
		"https://evil.example/":     "/",
		"javascript:alert(1)":       "/",
		"notifications":             "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field   string
		indexed bool
		msg     string
		want    string
	}{
		{"email", false, "is required", "Email is required."},
		{"text", false, "must not be empty", "Text must not be empty."},
		{"account_ids", false, "choose at least one account", "Choose at least one account."},
		{"account_ids", true, "is listed twice", "One of the chosen accounts is listed twice."},
		{"media_ids", true, "is of type \"image/bmp\"", "One of the chosen images is of type \"image/bmp\"."},
		{"scheduled_at", false, "2026-12-01T09:30 in Europe/Paris is in the past", "2026-12-01T09:30 in Europe/Paris is in the past."},
		{"colour", false, "is wrong", "Colour is wrong."},
	} {
		if got := fieldMessage(tc.field, tc.indexed, tc.msg); got != tc.want {
			t.Errorf("fieldMessage(%q, %v, %q) = %q, want %q", tc.field, tc.indexed, tc.msg, got, tc.want)
		}
	}
}

// TestZones: the offered zones are the list's, UTC first, each one loadable
// from the embedded database (none silently dropped).
func TestZones(t *testing.T) {
	t.Parallel()
	f, err := webFS.Open("web/zones.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			listed++
		}
	}
	groups := loadZones()
	offered := 0
	paris := false
	for _, g := range groups {
		for _, z := range g.Zones {
			offered++
			paris = paris || z.Name == "Europe/Paris"
			if _, err := time.LoadLocation(z.Name); err != nil || !strings.HasPrefix(z.Offset(), "UTC") {
				t.Errorf("zone %s: %v, offset %q", z.Name, err, z.Offset())
			}
		}
	}
	if offered != listed || offered < 300 || !paris {
		t.Errorf("%d zones offered of %d listed (Europe/Paris: %v)", offered, listed, paris)
	}
	if groups[0].Zones[0].Name != "UTC" {
		t.Errorf("first zone is %s, want UTC", groups[0].Zones[0].Name)
	}
}

// TestUIPostOutcomes: the list shows where a post went and why it did not.
func TestUIPostOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	path := "/workspaces/" + a.workspace
	ok := a.createPost(t, "This one goes out")["id"].(string)
	bad := a.createPost(t, "This one does not")["id"].(string)

	b.publish(t, "evt_ui_pub", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace,
		PostId: ok, Revision: 1, AccountId: a.account, Network: "mastodon", RemoteId: "109", RemoteUrl: "https://social.example/@ada/109"}))
	b.publish(t, "evt_ui_fail", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, WorkspaceId: a.workspace,
		PostId: bad, Revision: 1, AccountId: a.account, Network: "mastodon", Reason: "The access token was revoked"}))
	b.publish(t, "evt_ui_reconnect", bus.TopicAccountNeedsReconnect, mustMarshal(t, &eventsv1.AccountNeedsReconnect{TenantId: a.id,
		WorkspaceId: a.workspace, AccountId: a.account, Network: "mastodon", Reason: "The access token was revoked."}))

	res := c.must(http.StatusOK, c.get(path+"/posts"))
	post := func(id string) string {
		start := strings.Index(res.Body, `data-post-id="`+id+`"`)
		if start < 0 {
			t.Fatalf("post %s not listed:\n%s", id, excerpt(res.Body))
		}
		end := strings.Index(res.Body[start:], "</article>")
		return res.Body[start : start+end]
	}
	if p := post(ok); !strings.Contains(p, `data-status="published"`) ||
		!strings.Contains(p, `<a class="remote-url" href="https://social.example/@ada/109"`) {
		t.Errorf("published post:\n%s", p)
	}
	if p := post(bad); !strings.Contains(p, `data-status="failed"`) || !strings.Contains(text(p), "The access token was revoked") {
		t.Errorf("failed post:\n%s", p)
	}
	if strings.Contains(res.Body, `data-live="true"`) {
		t.Error("a list with nothing about to change asks to be checked often")
	}
	page := c.must(http.StatusOK, c.get(path))
	if !strings.Contains(page.Body, `class="badge badge-needs_reconnect">Needs reconnecting<`) {
		t.Errorf("the account's trouble is not shown:\n%s", excerpt(page.Body))
	}
}

// Only Mastodon handles take their server: other networks' handles are
// whole, and their API's host is not part of the name.
func TestAccountName(t *testing.T) {
	for _, tc := range []struct {
		a    Account
		want string
	}{
		{Account{Network: "mastodon", Handle: "bistro", InstanceURL: "https://social.example"}, "@bistro@social.example"},
		{Account{Network: "mastodon", Handle: "@bistro@other.example", InstanceURL: "https://social.example"}, "@bistro@other.example"},
		{Account{Network: "bluesky", Handle: "bistro.bsky.social", InstanceURL: "https://bsky.social"}, "@bistro.bsky.social"},
		{Account{Network: "x", Handle: "bistro", InstanceURL: "https://api.x.com"}, "@bistro"},
		{Account{Network: "telegram", RemoteID: "-1001234", InstanceURL: "https://api.telegram.org"}, "@-1001234"},
	} {
		if got := accountName(tc.a); got != tc.want {
			t.Errorf("accountName(%s %q at %s) = %q, want %q", tc.a.Network, tc.a.Handle, tc.a.InstanceURL, got, tc.want)
		}
	}
}
