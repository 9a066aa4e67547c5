package simnet

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oauthNet is one network's OAuth 2.0 authorization server, as X and
// LinkedIn run theirs: authorization codes (with PKCE where the network
// wants it), access tokens that expire, and refresh tokens that the
// refresh_token grant renews (rotating them, as X does, or keeping them,
// as LinkedIn does). It also keeps the network's users.
type oauthNet struct {
	now          func() time.Time
	prefix       string // user ids and token prefixes: "x", "li"
	requirePKCE  bool
	rotate       bool
	accessTTL    time.Duration
	refreshTTL   time.Duration // zero: refresh tokens do not expire
	refreshScope string        // when set, refresh tokens only for grants with this scope

	// nextID hands out ids for users, posts and media, from the Server's
	// sequence so that ids never repeat across networks.
	nextID    func() string
	refreshes atomic.Int64

	mu       sync.Mutex
	clients  map[string]*netClient
	users    map[string]*netUser // by id
	names    map[string]*netUser // by lower-cased username
	codes    map[string]*netCode
	access   map[string]*netToken
	refresh  map[string]*netRefresh
	defaultS string // scope of tokens made by createUser
}

type netClient struct {
	id, secret string
}

type netUser struct {
	id, username, name string
	created            time.Time
}

type netCode struct {
	client, redirectURI, scope string
	challenge, method          string
	user                       *netUser
	expires                    time.Time
}

type netToken struct {
	value   string
	user    *netUser
	scope   string
	expires time.Time
}

func (t *netToken) has(scope string) bool {
	return slices.Contains(strings.Fields(t.scope), scope)
}

type netRefresh struct {
	value   string
	client  string
	user    *netUser
	scope   string
	expires time.Time // zero: never
}

func newOAuthNet(now func() time.Time, nextID func() string, prefix, defaultScope string) *oauthNet {
	o := &oauthNet{
		now: now, nextID: nextID, prefix: prefix, defaultS: defaultScope,
		clients: map[string]*netClient{}, users: map[string]*netUser{}, names: map[string]*netUser{},
		codes: map[string]*netCode{}, access: map[string]*netToken{}, refresh: map[string]*netRefresh{},
	}
	return o
}

func (o *oauthNet) addClient(id, secret string) {
	o.mu.Lock()
	o.clients[id] = &netClient{id: id, secret: secret}
	o.mu.Unlock()
}

func (o *oauthNet) ensureUser(username string) *netUser {
	key := strings.ToLower(username)
	o.mu.Lock()
	defer o.mu.Unlock()
	if u := o.names[key]; u != nil {
		return u
	}
	u := &netUser{id: o.nextID(), username: username, name: strings.ToUpper(username[:1]) + username[1:], created: o.now()}
	o.users[u.id] = u
	o.names[key] = u
	return u
}

// grant issues an access token (and a refresh token when wanted) to u.
func (o *oauthNet) grant(u *netUser, client, scope string, withRefresh bool) (*netToken, *netRefresh) {
	now := o.now()
	t := &netToken{value: o.prefix + "-at-" + randomToken(), user: u, scope: scope, expires: now.Add(o.accessTTL)}
	var r *netRefresh
	if withRefresh {
		r = &netRefresh{value: o.prefix + "-rt-" + randomToken(), client: client, user: u, scope: scope}
		if o.refreshTTL > 0 {
			r.expires = now.Add(o.refreshTTL)
		}
	}
	o.mu.Lock()
	o.access[t.value] = t
	if r != nil {
		o.refresh[r.value] = r
	}
	o.mu.Unlock()
	return t, r
}

func (o *oauthNet) createUser(username, client string) Grant {
	u := o.ensureUser(username)
	t, r := o.grant(u, client, o.defaultS, true)
	return Grant{UserID: u.id, Username: u.username, AccessToken: t.value, RefreshToken: r.value, ExpiresAt: t.expires}
}

// expireAccessTokens makes every access token issued so far expired.
func (o *oauthNet) expireAccessTokens() {
	past := o.now().Add(-time.Second)
	o.mu.Lock()
	for _, t := range o.access {
		t.expires = past
	}
	o.mu.Unlock()
}

func (o *oauthNet) revokeRefreshTokens() {
	o.mu.Lock()
	clear(o.refresh)
	o.mu.Unlock()
}

// authenticate finds the request's bearer token; problem is what to say
// in a 401 when it is missing, unknown or expired.
func (o *oauthNet) authenticate(r *http.Request) (t *netToken, problem string) {
	scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, "no bearer token"
	}
	o.mu.Lock()
	t = o.access[strings.TrimSpace(value)]
	o.mu.Unlock()
	switch {
	case t == nil:
		return nil, "invalid token"
	case !o.now().Before(t.expires):
		return nil, "expired token"
	}
	return t, ""
}

// authorize handles the authorization endpoint. simnet has no logins: the
// user is named by a "username" query parameter (default "alice") and
// consents at once; the browser is sent back with a code and the state.
func (o *oauthNet) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o.mu.Lock()
	c := o.clients[q.Get("client_id")]
	o.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case c == nil:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case err != nil || !redirect.IsAbs():
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		rq := redirect.Query()
		for k, v := range params {
			rq[k] = v
		}
		if s := q.Get("state"); s != "" {
			rq.Set("state", s)
		}
		redirect.RawQuery = rq.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if o.requirePKCE && (challenge == "" || (method != "S256" && method != "plain")) {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"code_challenge and code_challenge_method are required"}})
		return
	}
	if q.Get("deny") != "" {
		back(url.Values{"error": {"access_denied"}})
		return
	}
	username := strings.TrimSpace(q.Get("username"))
	if username == "" {
		username = "alice"
	}
	if msg := validUsername(username); msg != "" {
		http.Error(w, "username "+msg, http.StatusBadRequest)
		return
	}
	u := o.ensureUser(username)
	code := randomToken()
	o.mu.Lock()
	o.codes[code] = &netCode{client: c.id, redirectURI: q.Get("redirect_uri"), scope: q.Get("scope"), challenge: challenge, method: method, user: u, expires: o.now().Add(codeTTL)}
	o.mu.Unlock()
	back(url.Values{"code": {code}})
}

// tokenAnswer is the token endpoint's success body.
type tokenAnswer struct {
	TokenType             string `json:"token_type"`
	AccessToken           string `json:"access_token"`
	ExpiresIn             int64  `json:"expires_in"`
	Scope                 string `json:"scope"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
}

// token handles the token endpoint: the authorization_code grant (with the
// PKCE check) and the refresh_token grant. The client authenticates with
// HTTP Basic or with client_id (and client_secret) in the body; a client
// registered without a secret is a public one and sends only its id.
func (o *oauthNet) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed body")
		return
	}
	v := r.PostForm
	id, secret := v.Get("client_id"), v.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	o.mu.Lock()
	c := o.clients[id]
	o.mu.Unlock()
	if c == nil || c.secret != secret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	now := o.now()
	switch v.Get("grant_type") {
	case "authorization_code":
		code := v.Get("code")
		o.mu.Lock()
		ac := o.codes[code]
		delete(o.codes, code) // single use
		o.mu.Unlock()
		if ac == nil || ac.client != c.id || ac.redirectURI != v.Get("redirect_uri") || !now.Before(ac.expires) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Value passed for the authorization code was invalid.")
			return
		}
		if ac.challenge != "" && !pkceMatches(ac.challenge, ac.method, v.Get("code_verifier")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The code_verifier does not match the code_challenge.")
			return
		}
		withRefresh := o.refreshScope == "" || slices.Contains(strings.Fields(ac.scope), o.refreshScope)
		t, rt := o.grant(ac.user, c.id, ac.scope, withRefresh)
		o.answer(w, t, rt)
	case "refresh_token":
		value := v.Get("refresh_token")
		o.mu.Lock()
		old := o.refresh[value]
		if old != nil && (old.client != c.id || (!old.expires.IsZero() && !now.Before(old.expires))) {
			old = nil
		}
		if old != nil && o.rotate {
			delete(o.refresh, value)
		}
		o.mu.Unlock()
		if old == nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Value passed for the token was invalid.")
			return
		}
		o.refreshes.Add(1)
		t, _ := o.grant(old.user, c.id, old.scope, false)
		rt := old
		if o.rotate {
			_, rt = o.grant(old.user, c.id, old.scope, true)
		}
		o.answer(w, t, rt)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

func (o *oauthNet) answer(w http.ResponseWriter, t *netToken, rt *netRefresh) {
	now := o.now()
	a := tokenAnswer{TokenType: "bearer", AccessToken: t.value, ExpiresIn: int64(t.expires.Sub(now).Round(time.Second) / time.Second), Scope: t.scope}
	if rt != nil {
		a.RefreshToken = rt.value
		if !rt.expires.IsZero() {
			a.RefreshTokenExpiresIn = int64(rt.expires.Sub(now).Round(time.Second) / time.Second)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, a)
}

// pkceMatches checks a code_verifier against the challenge (RFC 7636).
func pkceMatches(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	if method == "plain" {
		return verifier == challenge
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}
