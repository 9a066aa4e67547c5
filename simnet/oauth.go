package simnet

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

type app struct {
	id           string
	name         string
	website      string
	clientID     string
	clientSecret string
	redirectURIs []string
	scopes       []string
	limit        bucket
}

func (a *app) websitePtr() *string {
	if a.website == "" {
		return nil
	}
	w := a.website
	return &w
}

type authCode struct {
	app         *app
	account     *account
	redirectURI string
	scope       string
	expires     time.Time
}

// oob is the redirect URI that asks the server to show the code instead of
// redirecting.
const oob = "urn:ietf:wg:oauth:2.0:oob"

// codeTTL is how long an authorization code can be exchanged (Doorkeeper's
// default is ten minutes).
const codeTTL = 10 * time.Minute

// formValues reads a form or JSON body into url.Values, since Mastodon
// takes either on these endpoints. JSON arrays become repeated values. A
// body that is plainly JSON is read as JSON whatever its Content-Type, so
// that `curl -d '{"username":"demo"}'` (sent as a form) works.
func formValues(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(maxFormBytes); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	if ct != "application/json" && !bytes.HasPrefix(trimmed, []byte("{")) {
		return url.ParseQuery(string(body))
	}
	var raw map[string]any
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, x := range raw {
		switch x := x.(type) {
		case string:
			v.Set(k, x)
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					v.Add(k, s)
				}
			}
		}
	}
	return v, nil
}

// createApp handles POST /api/v1/apps.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request, _ *token) {
	v, err := formValues(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed request body")
		return
	}
	name := strings.TrimSpace(v.Get("client_name"))
	var redirects []string
	for _, raw := range append(v["redirect_uris"], v["redirect_uris[]"]...) {
		redirects = append(redirects, strings.Fields(raw)...)
	}
	scope := v.Get("scopes")
	if scope == "" {
		scope = "read"
	}
	var problems []string
	if name == "" {
		problems = append(problems, "Application name can't be blank")
	}
	if len(redirects) == 0 {
		problems = append(problems, "Redirect URI can't be blank")
	}
	for _, ru := range redirects {
		if ru == oob {
			continue
		}
		if u, err := url.Parse(ru); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			problems = append(problems, "Redirect URI must be an absolute URI.")
			break
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: "+strings.Join(problems, ", "))
		return
	}
	a := &app{
		id:           s.nextID(),
		name:         name,
		website:      v.Get("website"),
		clientID:     randomToken(),
		clientSecret: randomToken(),
		redirectURIs: redirects,
		scopes:       strings.Fields(scope),
	}
	s.mu.Lock()
	s.apps[a.clientID] = a
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, applicationJSON{
		ID:           a.id,
		Name:         a.name,
		Website:      a.websitePtr(),
		Scopes:       a.scopes,
		RedirectURI:  strings.Join(a.redirectURIs, "\n"),
		RedirectURIs: a.redirectURIs,
		ClientID:     a.clientID,
		ClientSecret: a.clientSecret,
	})
}

// authRequest is a checked authorization request.
type authRequest struct {
	app         *app
	redirectURI string
	scope       string
	state       string
}

// checkAuthRequest validates the authorization request parameters; the
// message explains the first problem.
func (s *Server) checkAuthRequest(v url.Values) (authRequest, string) {
	if rt := v.Get("response_type"); rt != "code" {
		return authRequest{}, "The authorization server does not support this response type (only \"code\")."
	}
	s.mu.RLock()
	a := s.apps[v.Get("client_id")]
	s.mu.RUnlock()
	if a == nil {
		return authRequest{}, "Client authentication failed due to unknown client."
	}
	req := authRequest{app: a, redirectURI: v.Get("redirect_uri"), scope: v.Get("scope"), state: v.Get("state")}
	if req.redirectURI == "" && len(a.redirectURIs) == 1 {
		req.redirectURI = a.redirectURIs[0]
	}
	if !slices.Contains(a.redirectURIs, req.redirectURI) {
		return authRequest{}, "The redirect uri included is not valid."
	}
	if req.scope == "" {
		req.scope = strings.Join(a.scopes, " ")
	}
	for _, sc := range strings.Fields(req.scope) {
		if !slices.Contains(a.scopes, sc) {
			return authRequest{}, "The requested scope is invalid, unknown, or malformed."
		}
	}
	return req, ""
}

var authorizeTmpl = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {{.App}} - simnet</title></head>
<body>
{{if .Error}}
<h1>An error has occurred</h1>
<p id="error">{{.Error}}</p>
{{else if .Code}}
<h1>Authorization code</h1>
<p>Copy this code and paste it into the application.</p>
<p><code id="code">{{.Code}}</code></p>
{{else}}
<h1>Authorization required</h1>
<p><strong>{{.App}}</strong> would like permission to access your account. It is a third-party application.</p>
<p>Scopes: {{.Scope}}</p>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="state" value="{{.State}}">
<label>Sign in to simnet as <input type="text" name="username" value="{{.Username}}" required pattern="[A-Za-z0-9_]{1,30}"></label>
<button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{end}}
</body></html>
`))

type authorizeView struct {
	App, Scope, ClientID, RedirectURI, State, Username, Code, Error string
}

func renderAuthorize(w http.ResponseWriter, status int, v authorizeView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = authorizeTmpl.Execute(w, v)
}

// authorizePage handles GET /oauth/authorize: the consent page a user sees
// after an app sends them to their instance. simnet has no logins: the
// page asks which account to act as and creates it if needed.
func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request) {
	req, problem := s.checkAuthRequest(r.URL.Query())
	if problem != "" {
		renderAuthorize(w, http.StatusBadRequest, authorizeView{Error: problem})
		return
	}
	renderAuthorize(w, http.StatusOK, authorizeView{
		App:         req.app.name,
		Scope:       req.scope,
		ClientID:    req.app.clientID,
		RedirectURI: req.redirectURI,
		State:       req.state,
		Username:    "alice",
	})
}

// authorizeDecision handles the consent form: it redirects back to the app
// with a code (or an access_denied error), or shows the code for oob.
func (s *Server) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderAuthorize(w, http.StatusBadRequest, authorizeView{Error: "The request is malformed."})
		return
	}
	req, problem := s.checkAuthRequest(r.PostForm)
	if problem != "" {
		renderAuthorize(w, http.StatusBadRequest, authorizeView{Error: problem})
		return
	}
	if r.PostForm.Get("decision") == "deny" {
		s.redirectBack(w, r, req, url.Values{"error": {"access_denied"}, "error_description": {"The resource owner or authorization server denied the request."}})
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	if msg := validUsername(username); msg != "" {
		renderAuthorize(w, http.StatusUnprocessableEntity, authorizeView{Error: "username " + msg})
		return
	}
	code := randomToken()
	ac := &authCode{app: req.app, account: s.ensureAccount(username), redirectURI: req.redirectURI, scope: req.scope, expires: s.now().Add(codeTTL)}
	s.mu.Lock()
	s.codes[code] = ac
	s.mu.Unlock()
	if req.redirectURI == oob {
		renderAuthorize(w, http.StatusOK, authorizeView{App: req.app.name, Code: code})
		return
	}
	s.redirectBack(w, r, req, url.Values{"code": {code}})
}

func (s *Server) redirectBack(w http.ResponseWriter, r *http.Request, req authRequest, params url.Values) {
	if req.redirectURI == oob {
		renderAuthorize(w, http.StatusOK, authorizeView{Error: params.Get("error_description")})
		return
	}
	u, _ := url.Parse(req.redirectURI) // validated when the app was registered
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// clientFrom authenticates the client by body parameters or HTTP Basic.
func (s *Server) clientFrom(r *http.Request, v url.Values) *app {
	id, secret := v.Get("client_id"), v.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	s.mu.RLock()
	a := s.apps[id]
	s.mu.RUnlock()
	if a == nil || secret == "" || a.clientSecret != secret {
		return nil
	}
	return a
}

// issueToken handles POST /oauth/token for the authorization_code and
// client_credentials grants, and refresh_token when tokens expire.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.")
		return
	}
	a := s.clientFrom(r, v)
	if a == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	var t *token
	switch v.Get("grant_type") {
	case "authorization_code":
		code := v.Get("code")
		s.mu.Lock()
		ac := s.codes[code]
		delete(s.codes, code) // single use, even when the exchange fails
		s.mu.Unlock()
		if ac == nil || ac.app != a || ac.redirectURI != v.Get("redirect_uri") || !s.now().Before(ac.expires) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
		t = s.issue(ac.account, a, ac.scope)
	case "client_credentials":
		scope := v.Get("scope")
		if scope == "" {
			scope = "read"
		}
		t = s.issue(nil, a, scope)
	case "refresh_token":
		if s.opts.AccessTokenTTL <= 0 {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
			return
		}
		// The refresh token is single use, and renewing revokes the access
		// token it was issued with (Doorkeeper with refresh tokens on).
		s.mu.Lock()
		old := s.refreshes[v.Get("refresh_token")]
		if old != nil && old.app == a {
			delete(s.refreshes, old.refresh)
			delete(s.tokens, old.value)
		}
		s.mu.Unlock()
		if old == nil || old.app != a {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
		s.stats.refreshes.Add(1)
		t = s.issue(old.account, a, old.scope)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	writeJSON(w, http.StatusOK, s.tokenAnswer(t))
}

func (s *Server) tokenAnswer(t *token) tokenJSON {
	out := tokenJSON{AccessToken: t.value, TokenType: "Bearer", Scope: t.scope, CreatedAt: t.createdAt.Unix(), RefreshToken: t.refresh}
	if !t.expires.IsZero() {
		out.ExpiresIn = int64(t.expires.Sub(t.createdAt) / time.Second)
	}
	return out
}

// Grant is the credentials simnet issued for one account: an access token
// and, for expiring tokens, its refresh token and expiry. UserID and
// Username are set by the networks that name the account in the grant (X,
// LinkedIn).
type Grant struct {
	UserID       string    `json:"id,omitempty"`
	Username     string    `json:"username,omitempty"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// GrantToken issues a token for the app clientID (registered through
// POST /api/v1/apps) on username's account, as if the user had authorized
// it through /oauth/authorize; the account is created if need be. It
// panics for an unknown client.
func (s *Server) GrantToken(clientID, username string) Grant {
	s.mu.RLock()
	a := s.apps[clientID]
	s.mu.RUnlock()
	if a == nil {
		panic("simnet: GrantToken: unknown client " + clientID)
	}
	t := s.issue(s.ensureAccount(username), a, strings.Join(a.scopes, " "))
	return Grant{AccessToken: t.value, RefreshToken: t.refresh, ExpiresAt: t.expires}
}

// ExpireToken makes an expiring access token expire now, ahead of its
// time (as when an instance shortens token lifetimes).
func (s *Server) ExpireToken(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[accessToken]; t != nil && !t.expires.IsZero() {
		t.expires = s.now()
	}
}

// Refreshes counts the access tokens renewed with grant_type=refresh_token.
func (s *Server) Refreshes() int64 { return s.stats.refreshes.Load() }

// revokeToken handles POST /oauth/revoke. Like Doorkeeper it answers 200
// for a token it does not know, so a client cannot probe for tokens.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request is malformed.")
		return
	}
	a := s.clientFrom(r, v)
	if a == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	s.mu.Lock()
	if t := s.tokens[v.Get("token")]; t != nil && t.app == a {
		delete(s.tokens, t.value)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}
