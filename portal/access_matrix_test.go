package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The access matrix: every route the router records, sent as every role
// and as nobody, against the objects of the caller's own agency and of
// another one, compared with the policy below. A route the policy does
// not list fails the test, so no route can be added without saying who
// may use it.

// who is a set of callers of the own agency.
type who []Role

// roleAnon is the caller without a session.
const roleAnon Role = "anonymous"

var (
	anyone     = who{roleAnon, RoleOwner, RoleManager, RoleEditor, RoleClientApprover, RoleReadOnly}
	signedIn   = who{RoleOwner, RoleManager, RoleEditor, RoleClientApprover, RoleReadOnly}
	readers    = signedIn // posts and their media
	viewers    = who{RoleOwner, RoleManager, RoleEditor, RoleReadOnly}
	writers    = who{RoleOwner, RoleManager, RoleEditor}
	managers   = who{RoleOwner, RoleManager}
	ownerOnly  = who{RoleOwner}
	approvers  = who{RoleClientApprover}
	noOneHere  = who{} // reached only with something the matrix does not hold (a pick, an OAuth state)
	matrixRole = []Role{roleAnon, RoleOwner, RoleManager, RoleEditor, RoleClientApprover, RoleReadOnly}
)

// accessPolicy says who may use each route on their own agency's objects.
// Nobody may use a route on another agency's objects.
var accessPolicy = map[string]who{
	// Public: sign-in, setup, invitations, static files, public media.
	"GET /media/public/{key...}":              anyone,
	"GET /static/{file}":                      anyone,
	"GET /api/v1/openapi.json":                anyone,
	"GET /api/v1/setup":                       anyone,
	"POST /api/v1/setup":                      anyone,
	"POST /api/v1/login":                      anyone,
	"POST /api/v1/invites/{token}/accept":     anyone,
	"GET /{$}":                                anyone,
	"POST /setup":                             anyone,
	"GET /login":                              anyone,
	"POST /login":                             anyone,
	"GET /invites/{token}":                    anyone,
	"POST /invites/{token}":                   anyone,
	"GET /review/link/{token}":                anyone,
	"POST /review/link/{token}":               anyone,
	"GET /unsubscribe":                        anyone,
	"POST /unsubscribe":                       anyone,
	"POST /api/v1/logout":                     signedIn,
	"GET /api/v1/me":                          signedIn,
	"POST /api/v1/tokens":                     signedIn,
	"GET /api/v1/tokens":                      signedIn,
	"DELETE /api/v1/tokens/{id}":              signedIn,
	"POST /logout":                            signedIn,
	"GET /notifications":                      signedIn,
	"POST /notifications/read":                signedIn,
	"GET /api/v1/notifications":               signedIn,
	"POST /api/v1/notifications/read":         signedIn,
	"GET /api/v1/notifications/stream":        signedIn,
	"GET /api/v1/me/notification-preferences": signedIn,
	"PUT /api/v1/me/notification-preferences": signedIn,
	"GET /settings/notifications":             signedIn,
	"GET /settings/password":                  signedIn,
	"POST /settings/password":                 signedIn,
	"POST /api/v1/me/password":                signedIn,
	"POST /settings/notifications":            signedIn,
	"GET /api/v1/overview":                    signedIn,
	"GET /api/v1/networks":                    signedIn,

	// Workspaces and team.
	"POST /api/v1/workspaces":                       ownerOnly,
	"POST /workspaces":                              ownerOnly,
	"GET /api/v1/workspaces":                        signedIn,
	"GET /api/v1/workspaces/{id}":                   readers,
	"GET /workspaces/{id}":                          readers,
	"GET /api/v1/workspaces/{id}/members":           viewers,
	"POST /api/v1/workspaces/{id}/invites":          ownerOnly,
	"POST /workspaces/{id}/invites":                 ownerOnly,
	"DELETE /api/v1/workspaces/{id}/members/{user}": ownerOnly,
	"POST /workspaces/{id}/members/{user}/remove":   ownerOnly,
	"POST /api/v1/agency/transfer-ownership":        ownerOnly,
	"POST /settings/transfer-ownership":             ownerOnly,

	// Accounts: seen by viewers, managed by managers.
	"POST /api/v1/workspaces/{id}/accounts":           managers,
	"GET /api/v1/workspaces/{id}/accounts":            viewers,
	"POST /api/v1/workspaces/{id}/accounts/oauth":     managers,
	"GET /api/v1/accounts/{id}":                       viewers,
	"DELETE /api/v1/accounts/{id}":                    managers,
	"GET /oauth/{network}/callback":                   noOneHere,
	"GET /api/v1/oauth/picks/{pick}":                  noOneHere,
	"POST /api/v1/oauth/picks/{pick}":                 noOneHere,
	"POST /workspaces/{id}/accounts":                  managers,
	"POST /workspaces/{id}/accounts/oauth":            managers,
	"POST /workspaces/{id}/accounts/form":             managers,
	"GET /workspaces/{id}/accounts/pick":              noOneHere,
	"POST /workspaces/{id}/accounts/pick":             noOneHere,
	"GET /workspaces/{id}/accounts/{account}":         viewers,
	"POST /workspaces/{id}/accounts/{account}/delete": managers,
	"POST /api/v1/accounts/{id}/pause":                writers,
	"POST /workspaces/{id}/accounts/{account}/pause":  writers,

	// Media.
	"POST /api/v1/workspaces/{id}/media":  writers,
	"GET /api/v1/workspaces/{id}/media":   viewers,
	"GET /api/v1/media/{id}":              readers,
	"PATCH /api/v1/media/{id}":            writers,
	"GET /api/v1/media/{id}/content":      readers,
	"POST /workspaces/{id}/media":         writers,
	"GET /workspaces/{id}/media":          viewers,
	"POST /workspaces/{id}/media/upload":  writers,
	"POST /workspaces/{id}/media/{media}": writers,

	// The content library.
	"POST /api/v1/workspaces/{id}/library":        writers,
	"GET /api/v1/workspaces/{id}/library":         viewers,
	"GET /api/v1/library/{id}":                    viewers,
	"PATCH /api/v1/library/{id}":                  writers,
	"DELETE /api/v1/library/{id}":                 writers,
	"GET /workspaces/{id}/library":                viewers,
	"POST /workspaces/{id}/library":               writers,
	"GET /workspaces/{id}/library/{item}":         viewers, // the form; saving it is writers
	"POST /workspaces/{id}/library/{item}":        writers,
	"POST /workspaces/{id}/library/{item}/delete": writers,
	"GET /workspaces/{id}/library/{item}/compose": writers,

	// Posts.
	"POST /api/v1/workspaces/{id}/posts":                             writers,
	"GET /api/v1/workspaces/{id}/posts":                              readers,
	"GET /api/v1/workspaces/{id}/calendar":                           readers,
	"GET /api/v1/calendar":                                           signedIn,
	"GET /workspaces/{id}/calendar":                                  readers,
	"GET /calendar":                                                  signedIn,
	"POST /workspaces/{id}/calendar/posts/{post}/move":               writers,
	"POST /workspaces/{id}/compose/check":                            writers,
	"GET /api/v1/posts/{id}":                                         readers,
	"PATCH /api/v1/posts/{id}":                                       writers,
	"DELETE /api/v1/posts/{id}":                                      writers,
	"POST /api/v1/posts/{id}/targets/{account}/retry":                writers,
	"POST /api/v1/posts/{id}/targets/{account}/published":            writers,
	"GET /api/v1/posts/{id}/firings":                                 readers,
	"GET /workspaces/{id}/posts":                                     readers,
	"POST /workspaces/{id}/posts":                                    writers,
	"GET /workspaces/{id}/posts/{post}":                              readers,
	"POST /workspaces/{id}/posts/{post}/delete":                      writers,
	"POST /workspaces/{id}/posts/{post}/targets/{account}/retry":     writers,
	"POST /workspaces/{id}/posts/{post}/targets/{account}/published": writers,
	"GET /workspaces/{id}/posts/{post}/edit":                         readers, // the form; saving it is writers
	"POST /workspaces/{id}/posts/{post}":                             writers,
	"POST /api/v1/workspaces/{id}/imports":                           writers,
	"GET /workspaces/{id}/import":                                    readers, // the form; sending it is writers
	"POST /workspaces/{id}/import":                                   writers,

	// Queues and automations.
	"POST /api/v1/workspaces/{id}/queues":             writers,
	"GET /api/v1/workspaces/{id}/queues":              readers,
	"GET /api/v1/queues/{id}":                         readers,
	"PUT /api/v1/queues/{id}":                         writers,
	"DELETE /api/v1/queues/{id}":                      writers,
	"POST /api/v1/queues/{id}/pause":                  writers,
	"GET /workspaces/{id}/queues":                     readers,
	"POST /workspaces/{id}/queues":                    writers,
	"GET /workspaces/{id}/queues/{queue}":             readers,
	"POST /workspaces/{id}/queues/{queue}":            writers,
	"POST /workspaces/{id}/queues/{queue}/pause":      writers,
	"POST /workspaces/{id}/queues/{queue}/delete":     writers,
	"POST /api/v1/workspaces/{id}/automations":        writers,
	"GET /api/v1/workspaces/{id}/automations":         readers,
	"GET /api/v1/automations/{id}":                    readers,
	"PUT /api/v1/automations/{id}":                    writers,
	"POST /api/v1/automations/{id}/pause":             writers,
	"DELETE /api/v1/automations/{id}":                 writers,
	"GET /workspaces/{id}/automations":                readers,
	"POST /workspaces/{id}/automations":               writers,
	"GET /workspaces/{id}/automations/{auto}":         readers,
	"POST /workspaces/{id}/automations/{auto}":        writers,
	"POST /workspaces/{id}/automations/{auto}/pause":  writers,
	"POST /workspaces/{id}/automations/{auto}/delete": writers,

	// Approvals and review.
	"GET /api/v1/workspaces/{id}/approval-policy":      readers,
	"PUT /api/v1/workspaces/{id}/approval-policy":      managers,
	"GET /api/v1/workspaces/{id}/approvals":            readers,
	"POST /api/v1/workspaces/{id}/review-links":        managers,
	"GET /api/v1/workspaces/{id}/review-links":         managers,
	"DELETE /api/v1/review-links/{id}":                 managers,
	"POST /api/v1/posts/{id}/submit":                   writers,
	"POST /api/v1/posts/{id}/approve":                  signedIn,
	"POST /api/v1/posts/{id}/reject":                   signedIn,
	"POST /api/v1/posts/{id}/comments":                 readers,
	"GET /api/v1/posts/{id}/review":                    readers,
	"GET /workspaces/{id}/approvals":                   readers,
	"POST /workspaces/{id}/approval-policy":            managers,
	"POST /workspaces/{id}/review-links":               managers,
	"POST /workspaces/{id}/review-links/{link}/revoke": managers,
	"GET /workspaces/{id}/posts/{post}/review":         readers,
	"POST /workspaces/{id}/posts/{post}/approve":       signedIn,
	"POST /workspaces/{id}/posts/{post}/reject":        signedIn,
	"POST /workspaces/{id}/posts/{post}/comment":       readers,
	"GET /review":                            signedIn, // an empty list for members
	"GET /review/posts/{post}":               readers,  // the review view of a post the member reads
	"GET /review/posts/{post}/media/{media}": approvers,
	"POST /review/posts/{post}/approve":      approvers,
	"POST /review/posts/{post}/reject":       approvers,
	"POST /review/posts/{post}/comment":      approvers,
	"POST /review/signout":                   signedIn,

	// Reports, audit, agency settings.
	"GET /api/v1/workspaces/{id}/reports":           readers,
	"GET /workspaces/{id}/reports":                  readers,
	"GET /api/v1/workspaces/{id}/audit":             managers,
	"GET /workspaces/{id}/audit":                    managers,
	"GET /api/v1/agency/failed-emails":              ownerOnly,
	"POST /api/v1/agency/failed-emails/{id}/resend": ownerOnly,
	"GET /settings/emails":                          ownerOnly,
	"GET /settings/topology":                        ownerOnly,
	"POST /settings/emails/{id}/resend":             ownerOnly,
	"GET /api/v1/agency/branding":                   ownerOnly,
	"PUT /api/v1/agency/branding":                   ownerOnly,
	"GET /settings/branding":                        ownerOnly,
	"POST /settings/branding":                       ownerOnly,

	// Webhooks: owners and managers only.
	"GET /api/v1/workspaces/{id}/webhooks":                                             managers,
	"POST /api/v1/workspaces/{id}/webhooks":                                            managers,
	"PATCH /api/v1/workspaces/{id}/webhooks/{endpoint}":                                managers,
	"DELETE /api/v1/workspaces/{id}/webhooks/{endpoint}":                               managers,
	"POST /api/v1/workspaces/{id}/webhooks/{endpoint}/rotate":                          managers,
	"POST /api/v1/workspaces/{id}/webhooks/{endpoint}/test":                            managers,
	"GET /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries":                       managers,
	"GET /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}":            managers,
	"POST /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}/redeliver": managers,
	"GET /workspaces/{id}/webhooks":                                                    managers,
	"POST /workspaces/{id}/webhooks":                                                   managers,
	"GET /workspaces/{id}/webhooks/{endpoint}":                                         managers,
	"POST /workspaces/{id}/webhooks/{endpoint}":                                        managers,
	"POST /workspaces/{id}/webhooks/{endpoint}/delete":                                 managers,
	"POST /workspaces/{id}/webhooks/{endpoint}/rotate":                                 managers,
	"POST /workspaces/{id}/webhooks/{endpoint}/test":                                   managers,
	"GET /workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}":                   managers,
	"POST /workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}/redeliver":        managers,
}

func (w who) has(r Role) bool {
	for _, x := range w {
		if x == r {
			return true
		}
	}
	return false
}

var paramRE = regexp.MustCompile(`\{([^}.$]+)(\.\.\.)?\}`)

// paramKind is the kind of object a path parameter names: {id} by the
// segment before it, the others by their name.
func paramKind(path, name string) string {
	if name != "id" {
		switch name {
		case "account", "post", "media", "queue", "user", "endpoint", "delivery", "pick", "network", "file", "key", "token":
			return name
		case "auto":
			return "automation"
		case "item":
			return "library-item"
		case "link":
			return "review-link"
		}
		return ""
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "{id}" && i > 0 {
			switch segs[i-1] {
			case "workspaces":
				return "workspace"
			case "posts":
				return "post"
			case "accounts":
				return "account"
			case "media":
				return "media"
			case "queues":
				return "queue"
			case "automations":
				return "automation"
			case "library":
				return "library-item"
			case "tokens":
				return "api-token"
			case "review-links":
				return "review-link"
			case "failed-emails", "emails":
				return "failed-email"
			}
		}
	}
	return ""
}

// tenantObjects are the ids of one agency's objects, by kind. Kinds the
// matrix does not create hold ids that exist nowhere: a refusal is then
// all the test can see, and it still sees a success.
type tenantObjects map[string]string

func (b *bundle) matrixObjects(t *testing.T, a *agency, name string, member *client) tenantObjects {
	t.Helper()
	o := tenantObjects{"workspace": a.workspace, "account": a.account}
	o["post"] = a.createPost(t, name+" post")["id"].(string)
	o["media"] = a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "m.png", pngBytes(t), "")).json(t)["id"].(string)
	o["api-token"] = a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]any{"name": "matrix"})).json(t)["id"].(string)
	o["user"] = member.must(http.StatusOK, member.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["id"].(string)
	o["file"] = "app.css"
	o["automation"] = a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed.xml", "template": "{{.title}} {{.link}}",
		"account_ids": []string{a.account}, "action": "draft"})).json(t)["id"].(string)
	o["library-item"] = a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/library",
		map[string]any{"kind": "snippet", "name": "Sign-off", "body": "See you soon!"})).json(t)["id"].(string)
	o["review-link"] = a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/review-links",
		map[string]any{"label": "Client"})).json(t)["id"].(string)
	// Queues and webhooks live in Trigger and Notification, which the
	// bundle fakes without them; the rest need an outside party.
	for _, k := range []string{"queue", "failed-email", "endpoint", "delivery", "pick", "key", "token"} {
		o[k] = "missing-" + k + "-" + name
	}
	o["network"] = "mastodon"
	return o
}

// fill puts objects' ids into a route's path; it reports whether every
// parameter named a real object.
func fill(t *testing.T, path string, objs tenantObjects) (string, bool) {
	real := true
	out := paramRE.ReplaceAllStringFunc(path, func(m string) string {
		name := paramRE.FindStringSubmatch(m)[1]
		kind := paramKind(path, name)
		id, ok := objs[kind]
		if kind == "" || !ok {
			t.Errorf("%s: no object kind for parameter {%s}; add it to paramKind", path, name)
			return "x"
		}
		if strings.HasPrefix(id, "missing-") {
			real = false
		}
		return url.PathEscape(id)
	})
	return strings.ReplaceAll(out, "{$}", ""), real
}

// matrixCaller sends requests as one principal, by session cookie, from
// Portal's own origin and with the CSRF token: only the role can refuse.
type matrixCaller struct {
	cookie, csrf string
}

func (c matrixCaller) send(b *bundle, method, path string, kind routeKind) *httptest.ResponseRecorder {
	var r *http.Request
	switch {
	case !isUnsafe(method):
		r = httptest.NewRequest(method, path, nil)
	case kind == kindAuthed || (kind == kindPublic && strings.HasPrefix(path, "/api/")):
		r = httptest.NewRequest(method, path, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-CSRF-Token", c.csrf)
	default:
		r = httptest.NewRequest(method, path, strings.NewReader(url.Values{"csrf_token": {c.csrf}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.RemoteAddr = "192.0.2.9:40000"
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "herald_session", Value: c.cookie})
	}
	w := httptest.NewRecorder()
	b.handler.ServeHTTP(w, r)
	return w
}

// succeeded reports a response that did what was asked: a 2xx, or a
// redirect anywhere but to the sign-in page.
// A page's form that is refused answers with a redirect too, carrying an
// error flash: that is a refusal.
func succeeded(b *bundle, w *httptest.ResponseRecorder) bool {
	if w.Code >= 200 && w.Code < 300 {
		return true
	}
	if w.Code < 300 || w.Code >= 400 || strings.HasPrefix(w.Header().Get("Location"), "/login") {
		return false
	}
	for _, c := range w.Result().Cookies() {
		if c.Name != "herald_flash" || c.Value == "" {
			continue
		}
		sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil {
			return true
		}
		js, err := b.svc.keys.open(sealed, flashAAD)
		var f flash
		if err == nil && json.Unmarshal([]byte(js), &f) == nil && f.Kind == "error" {
			return false
		}
	}
	return true
}

// refused is a status by which access control says no.
func refused(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound
}

// needsState are routes whose allowed use needs more than the matrix sets
// up (media attached to a post under review): only refusals are checked.
var needsState = map[string]bool{
	"GET /review/posts/{post}/media/{media}": true,
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	// A topology to show, as a node gives one: without it the page is 404
	// for everyone, and the matrix could not tell the owner was let in.
	b := setupWith(t, nil, func(c *Config) {
		c.Topology = func(context.Context) ([]TopologyNode, error) { return []TopologyNode{{ID: "node-1", Ready: true}}, nil }
	})
	a := b.firstAgency(t)
	callers := map[Role]matrixCaller{roleAnon: {}, RoleOwner: {a.owner.cookie, a.owner.csrf}}
	var manager *client
	for _, r := range []Role{RoleManager, RoleEditor, RoleClientApprover, RoleReadOnly} {
		c := b.invite(t, a, string(r)+"@acme.test", r)
		callers[r] = matrixCaller{c.cookie, c.csrf}
		if r == RoleManager {
			manager = c
		}
	}
	other := b.otherAgency(t, "beta")
	otherMember := b.invite(t, other, "member@beta.test", RoleManager)
	own := b.matrixObjects(t, a, "acme", manager)
	foreign := b.matrixObjects(t, other, "beta", otherMember)

	routes := b.svc.registeredRoutes()
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		allowed, ok := accessPolicy[rt.Pattern]
		if !ok {
			t.Errorf("route %q (%s) is not in accessPolicy: say who may use it", rt.Pattern, rt.Kind)
			continue
		}
		hasParams := paramRE.MatchString(rt.Path)
		ownPath, ownReal := fill(t, rt.Path, own)
		foreignPath, _ := fill(t, rt.Path, foreign)
		for _, role := range matrixRole {
			c := callers[role]
			// Changes are sent only where they must be refused: what is
			// allowed would change the objects the rest of the matrix uses.
			if !isUnsafe(rt.Method) || !allowed.has(role) {
				w := c.send(b, rt.Method, ownPath, rt.Kind)
				switch {
				case !allowed.has(role) && succeeded(b, w):
					t.Errorf("%s %s as %s: status %d (Location %q), want a refusal", rt.Method, ownPath, role, w.Code, w.Header().Get("Location"))
				case allowed.has(role) && ownReal && role != roleAnon && !needsState[rt.Pattern] && refused(w.Code):
					t.Errorf("%s %s as %s: status %d, want it allowed: %.200s", rt.Method, ownPath, role, w.Code, w.Body.String())
				}
			}
			// Another agency's objects are no one's but a public route's.
			if hasParams && !allowed.has(roleAnon) {
				if w := c.send(b, rt.Method, foreignPath, rt.Kind); succeeded(b, w) {
					t.Errorf("%s %s (other agency) as %s: status %d, want a refusal", rt.Method, foreignPath, role, w.Code)
				}
			}
		}
	}
	for p := range accessPolicy {
		if !seen[p] {
			t.Errorf("accessPolicy lists %q, which no route has", p)
		}
	}
	// The other agency's objects are all still there.
	oc := other.owner
	oc.must(http.StatusOK, oc.do("GET", "/api/v1/posts/"+foreign["post"], nil))
	oc.must(http.StatusOK, oc.do("GET", "/api/v1/accounts/"+foreign["account"], nil))
	oc.must(http.StatusOK, oc.do("GET", "/api/v1/media/"+foreign["media"], nil))
	if n := len(oc.must(http.StatusOK, oc.do("GET", "/api/v1/workspaces/"+other.workspace+"/members", nil)).json(t)["members"].([]any)); n != 2 {
		t.Errorf("other agency has %d members, want 2", n)
	}
}

// TestCSRFOnEveryRoute sends every state-changing browser route from
// another site without the CSRF token, as the signed-in owner: each must
// be refused. The list is the router's, so a new form is covered as it is
// added.
func TestCSRFOnEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	objs := b.matrixObjects(t, a, "acme", a.owner)
	n := 0
	for _, rt := range b.svc.registeredRoutes() {
		if !isUnsafe(rt.Method) || rt.Kind == kindRaw {
			continue
		}
		path, _ := fill(t, rt.Path, objs)
		for _, site := range []string{"cross-site", "same-site"} {
			r := httptest.NewRequest(rt.Method, path, strings.NewReader(""))
			if rt.Kind == kindAuthed || strings.HasPrefix(path, "/api/") {
				r = httptest.NewRequest(rt.Method, path, strings.NewReader(`{}`))
				r.Header.Set("Content-Type", "application/json")
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			r.RemoteAddr = "192.0.2.9:40000"
			r.Header.Set("Sec-Fetch-Site", site)
			r.Header.Set("Origin", "https://evil.example")
			r.AddCookie(&http.Cookie{Name: "herald_session", Value: a.owner.cookie})
			w := httptest.NewRecorder()
			b.handler.ServeHTTP(w, r)
			n++
			if succeeded(b, w) || (w.Code != http.StatusForbidden && rt.Kind != kindReviewer) {
				t.Errorf("%s %s from %s without a CSRF token: status %d, want 403", rt.Method, path, site, w.Code)
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d state-changing requests sent; is the route list empty?", n)
	}
}
