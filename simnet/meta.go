package simnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Meta's networks (Facebook Pages and Instagram under /graph/, the way
// graph.facebook.com serves both, and Threads under /threads/, the way
// graph.threads.net does) share one in-memory store: users, pages and
// professional accounts, tokens, apps, and the per-object call budgets
// reported in Meta's usage headers. The Graph API version in paths is
// accepted whatever it is, as Meta accepts every live version.

// Meta defaults, which a zero MetaOptions reproduces.
const (
	DefaultMetaCallLimit      = 200
	DefaultMetaCallWindow     = time.Hour
	DefaultInstagramQuota     = 100
	DefaultThreadsQuota       = 250
	DefaultThreadsReplyQuota  = 1000
	metaShortTokenTTL         = 2 * time.Hour
	metaLongTokenTTL          = 60 * 24 * time.Hour
	metaContainerTTL          = 24 * time.Hour
	metaMaxImageBytes         = 8 << 20
	metaMaxFacebookPhotoBytes = 10 << 20
)

// MetaOptions configure the simulated Meta networks.
type MetaOptions struct {
	// CallLimit is how many calls a page, an Instagram or Threads account,
	// or a user token may make per CallWindow before Meta refuses them
	// (default 200 an hour); negative: no limit, and no usage headers.
	CallLimit  int
	CallWindow time.Duration
	// Processing is how long a new Instagram or Threads container stays
	// IN_PROGRESS before it is FINISHED (default 0: at once).
	Processing time.Duration
	// VideoProcessing is the same for a video container (an Instagram reel
	// or carousel video, a Threads video) and for a Facebook page video
	// (default 0: Processing applies).
	VideoProcessing time.Duration
	// InstagramQuota and ThreadsQuota are the posts an account may publish
	// through the API in 24 hours (defaults 100 and 250).
	InstagramQuota int
	ThreadsQuota   int
	// ThreadsReplyQuota is the replies a Threads profile may publish in 24
	// hours (default 1,000).
	ThreadsReplyQuota int
}

func (o MetaOptions) withDefaults() MetaOptions {
	if o.CallLimit == 0 {
		o.CallLimit = DefaultMetaCallLimit
	}
	if o.CallWindow <= 0 {
		o.CallWindow = DefaultMetaCallWindow
	}
	if o.InstagramQuota <= 0 {
		o.InstagramQuota = DefaultInstagramQuota
	}
	if o.ThreadsQuota <= 0 {
		o.ThreadsQuota = DefaultThreadsQuota
	}
	if o.ThreadsReplyQuota <= 0 {
		o.ThreadsReplyQuota = DefaultThreadsReplyQuota
	}
	return o
}

type metaNet struct {
	nodesOnce sync.Once

	mu       sync.Mutex
	opts     MetaOptions
	optsSet  bool
	users    map[string]*metaUser // Facebook users, by id
	logins   map[string]*metaUser // by lower-cased login name
	pages    map[string]*fbPage
	igUsers  map[string]*igUser
	thUsers  map[string]*thUser
	thLogins map[string]*thUser
	tokens   map[string]*metaToken
	apps     map[string]*metaApp
	codes    map[string]*metaCode
	budgets  map[string]*bucket

	fbPosts  map[string]*fbPost
	fbOrder  []*fbPost
	fbPhotos map[string]*fbPhoto

	igContainers map[string]*igContainer
	igMedia      map[string]*igMediaObj
	igOrder      []*igMediaObj

	thContainers map[string]*thContainer
	thPosts      map[string]*thPost
	thOrder      []*thPost
}

type metaUser struct {
	id, login, name string
	pages           []*fbPage
}

type metaToken struct {
	value   string
	kind    string // "user", "page", "threads"
	subject string // user, page or Threads user id
	scopes  map[string]bool
	expires time.Time // zero: never
	revoked bool
	issued  time.Time
}

type metaApp struct {
	clientID, secret string
}

type metaCode struct {
	app         *metaApp
	subject     string
	kind        string
	redirectURI string
	scope       string
	expires     time.Time
	used        bool
}

// SetMeta replaces the simulated Meta networks' options.
func (s *Server) SetMeta(o MetaOptions) {
	s.meta.mu.Lock()
	s.meta.opts, s.meta.optsSet = o.withDefaults(), true
	s.meta.mu.Unlock()
}

// metaLocked returns the store with its maps made; call with mu held.
func (s *Server) metaLocked() *metaNet {
	m := &s.meta
	if !m.optsSet {
		m.opts, m.optsSet = MetaOptions{}.withDefaults(), true
	}
	if m.tokens == nil {
		m.users, m.logins, m.pages = map[string]*metaUser{}, map[string]*metaUser{}, map[string]*fbPage{}
		m.igUsers, m.thUsers, m.thLogins = map[string]*igUser{}, map[string]*thUser{}, map[string]*thUser{}
		m.tokens, m.apps, m.codes, m.budgets = map[string]*metaToken{}, map[string]*metaApp{}, map[string]*metaCode{}, map[string]*bucket{}
		m.fbPosts, m.fbPhotos = map[string]*fbPost{}, map[string]*fbPhoto{}
		m.igContainers, m.igMedia = map[string]*igContainer{}, map[string]*igMediaObj{}
		m.thContainers, m.thPosts = map[string]*thContainer{}, map[string]*thPost{}
	}
	return m
}

// lockMeta locks the store and returns it.
func (s *Server) lockMeta() *metaNet {
	s.meta.mu.Lock()
	return s.metaLocked()
}

func (m *metaNet) unlock() { m.mu.Unlock() }

// newMetaToken makes a token; call with mu held.
func (s *Server) newMetaToken(m *metaNet, kind, subject, scope string, ttl time.Duration) *metaToken {
	t := &metaToken{value: "EAA" + randomToken(), kind: kind, subject: subject, scopes: map[string]bool{}, issued: s.now()}
	if kind == "threads" {
		t.value = "TH" + randomToken()
	}
	for _, sc := range strings.FieldsFunc(scope, func(r rune) bool { return r == ',' || r == ' ' }) {
		t.scopes[sc] = true
	}
	if ttl > 0 {
		t.expires = s.now().Add(ttl)
	}
	m.tokens[t.value] = t
	return t
}

// ExpireMetaToken makes a Facebook, Instagram or Threads token expired:
// calls with it get error 190, subcode 463.
func (s *Server) ExpireMetaToken(token string) {
	m := s.lockMeta()
	defer m.unlock()
	if t := m.tokens[token]; t != nil {
		t.expires = s.now().Add(-time.Second)
	}
}

// RevokeMetaToken makes a token refused as when the user removes the app:
// error 190, subcode 458.
func (s *Server) RevokeMetaToken(token string) {
	m := s.lockMeta()
	defer m.unlock()
	if t := m.tokens[token]; t != nil {
		t.revoked = true
	}
}

// CreateMetaApp registers a Meta app and returns its id and secret, for
// the connect flows.
func (s *Server) CreateMetaApp() (clientID, clientSecret string) {
	m := s.lockMeta()
	defer m.unlock()
	a := &metaApp{clientID: s.nextID(), secret: randomToken()}
	m.apps[a.clientID] = a
	return a.clientID, a.secret
}

// AddMetaApp registers a Meta app with the id and secret Herald is
// configured with (networks.meta or networks.threads), so a Herald pointed
// at this simnet can run its connect flows.
func (s *Server) AddMetaApp(clientID, clientSecret string) {
	m := s.lockMeta()
	defer m.unlock()
	m.apps[clientID] = &metaApp{clientID: clientID, secret: clientSecret}
}

// controlMetaApps handles POST /_simnet/meta/apps {"app_id", "app_secret"}:
// it registers that app, or a new one when app_id is empty, and answers
// its id and secret.
func (s *Server) controlMetaApps(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		writeInvalid(w, errs.E(errs.Invalid, "the body must be JSON or a form"))
		return
	}
	id, secret := strings.TrimSpace(v.Get("app_id")), v.Get("app_secret")
	switch {
	case id == "":
		id, secret = s.CreateMetaApp()
	case secret == "":
		var f errs.Fields
		f.Add("app_secret", "must not be empty")
		writeInvalid(w, f.Err())
		return
	default:
		s.AddMetaApp(id, secret)
	}
	writeJSON(w, http.StatusOK, map[string]string{"app_id": id, "app_secret": secret})
}

// graphError writes the Graph API error object.
func graphError(w http.ResponseWriter, status, code, subcode int, typ, msg string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": "Sim" + randomToken()[:16]}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func badParam(w http.ResponseWriter, msg string) {
	graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) "+msg)
}

// metaParams reads a request's parameters: the query, then an urlencoded
// or multipart body (Graph API takes them anywhere).
func metaParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	v := url.Values{}
	for k, vs := range r.URL.Query() {
		v[k] = vs
	}
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		return v, nil
	}
	limit := int64(metaMaxFacebookPhotoBytes)
	if strings.HasSuffix(r.URL.Path, "/videos") {
		limit = metaMaxFacebookVideoBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+maxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxFormBytes); err != nil {
			return nil, err
		}
		for k, vs := range r.MultipartForm.Value {
			v[k] = vs
		}
	case "application/json":
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, err
		}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			default:
				b, _ := json.Marshal(x)
				v.Set(k, string(b))
			}
		}
	default:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, vs := range r.PostForm {
			v[k] = vs
		}
	}
	return v, nil
}

type metaHandler func(w http.ResponseWriter, r *http.Request, t *metaToken, p url.Values)

// metaAPI wraps a Graph endpoint: parameters, the access token (from the
// Authorization header or access_token), its validity, the scope check,
// and the call budget of the object the token acts for, with its usage
// header on every answer.
func (s *Server) metaAPI(scopes []string, h metaHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := metaParams(w, r)
		if err != nil {
			badParam(w, "the request body could not be read")
			return
		}
		value := p.Get("access_token")
		if scheme, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth")) {
			value = strings.TrimSpace(v)
		}
		if value == "" {
			graphError(w, http.StatusBadRequest, 2500, 0, "OAuthException", "An active access token must be used to query information about the current user.")
			return
		}
		m := s.lockMeta()
		t := m.tokens[value]
		var tok metaToken
		if t != nil {
			tok = *t
		}
		m.unlock()
		switch {
		case t == nil:
			graphError(w, http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
			return
		case tok.revoked:
			graphError(w, http.StatusBadRequest, 190, 458, "OAuthException", "Error validating access token: The user has not authorized application.")
			return
		case !tok.expires.IsZero() && !s.now().Before(tok.expires):
			graphError(w, http.StatusBadRequest, 190, 463, "OAuthException", "Error validating access token: Session has expired on "+tok.expires.UTC().Format(time.RFC1123)+".")
			return
		}
		for _, sc := range scopes {
			if !tok.scopes[sc] {
				graphError(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) The permission "+sc+" is required for this action.")
				return
			}
		}
		if !s.metaBudget(w, &tok) {
			return
		}
		h(w, r, &tok, p)
	})
}

// metaBudget spends one call of the token's object and writes the usage
// header (X-Business-Use-Case-Usage for pages and Instagram accounts,
// X-App-Usage otherwise); it answers the throttling error and returns
// false when the budget is spent.
func (s *Server) metaBudget(w http.ResponseWriter, t *metaToken) bool {
	m := s.lockMeta()
	o := m.opts
	if o.CallLimit < 0 {
		m.unlock()
		return true
	}
	key := t.kind + ":" + t.subject
	b := m.budgets[key]
	if b == nil {
		b = &bucket{}
		m.budgets[key] = b
	}
	m.unlock()
	now := s.now()
	remaining, reset, ok := b.take(now, o.CallLimit, o.CallWindow)
	pct := 100 * (o.CallLimit - remaining) / o.CallLimit
	if !ok {
		pct = 100
	}
	regain := 0
	if pct >= 100 {
		regain = int(reset.Sub(now).Minutes() + 0.999)
	}
	u := map[string]any{"call_count": pct, "total_cputime": pct / 4, "total_time": pct / 4}
	switch t.kind {
	case "page":
		u["type"], u["estimated_time_to_regain_access"] = "pages", regain
		hdr, _ := json.Marshal(map[string]any{t.subject: []any{u}})
		w.Header().Set("X-Business-Use-Case-Usage", string(hdr))
	default:
		hdr, _ := json.Marshal(u)
		w.Header().Set("X-App-Usage", string(hdr))
	}
	if !ok {
		s.stats.rateLimited.Add(1)
		switch t.kind {
		case "page":
			graphError(w, http.StatusBadRequest, 32, 0, "OAuthException", "(#32) Page request limit reached")
		case "threads":
			graphError(w, http.StatusBadRequest, 4, 0, "OAuthException", "(#4) Application request limit reached")
		default:
			graphError(w, http.StatusBadRequest, 17, 0, "OAuthException", "(#17) User request limit reached")
		}
	}
	return ok
}

// instagramBudget is metaBudget for calls on an Instagram account: they
// count against the account, reported in X-Business-Use-Case-Usage with
// type "instagram" and refused with code 80002.
func (s *Server) instagramBudget(w http.ResponseWriter, igID string) bool {
	m := s.lockMeta()
	o := m.opts
	if o.CallLimit < 0 {
		m.unlock()
		return true
	}
	b := m.budgets["ig:"+igID]
	if b == nil {
		b = &bucket{}
		m.budgets["ig:"+igID] = b
	}
	m.unlock()
	now := s.now()
	remaining, reset, ok := b.take(now, o.CallLimit, o.CallWindow)
	pct := 100 * (o.CallLimit - remaining) / o.CallLimit
	regain := 0
	if !ok || pct >= 100 {
		pct, regain = 100, int(reset.Sub(now).Minutes()+0.999)
	}
	hdr, _ := json.Marshal(map[string]any{igID: []any{map[string]any{
		"type": "instagram", "call_count": pct, "total_cputime": pct / 4, "total_time": pct / 4, "estimated_time_to_regain_access": regain,
	}}})
	w.Header().Set("X-Business-Use-Case-Usage", string(hdr))
	if !ok {
		s.stats.rateLimited.Add(1)
		graphError(w, http.StatusBadRequest, 80002, 0, "OAuthException", "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.")
	}
	return ok
}

// fetchMedia downloads a public media URL as Meta does when a container
// or a photo names one; it returns the bytes' type and size, or what went
// wrong.
func fetchMedia(ctx context.Context, raw string, limit int64) (mimeType string, size int64, problem string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", 0, "the media URL is not a public http(s) URL"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return "", 0, "the media URL is not valid"
	}
	res, err := mediaFetcher.Do(req)
	if err != nil {
		return "", 0, "the media could not be downloaded"
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", 0, fmt.Sprintf("downloading the media answered %d", res.StatusCode)
	}
	// Keep the first bytes for their type and count the rest: a video
	// may be hundreds of megabytes.
	head := make([]byte, 512)
	h, err := io.ReadFull(res.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", 0, "the media download broke off"
	}
	rest, err := io.Copy(io.Discard, io.LimitReader(res.Body, limit+1-int64(h)))
	if err != nil {
		return "", 0, "the media download broke off"
	}
	n := int64(h) + rest
	if n > limit {
		return "", n, "the media is larger than " + megabytes(limit)
	}
	return sniffMedia(head[:h]), n, ""
}

// sniffMedia is the standard sniffer, which tells MP4 from its brands,
// taught QuickTime's ("qt  "), which it does not know.
func sniffMedia(head []byte) string {
	mt := http.DetectContentType(head)
	if mt == "application/octet-stream" && len(head) >= 12 && string(head[4:12]) == "ftypqt  " {
		return "video/quicktime"
	}
	return mt
}

// videoProcessing is how long a video container stays IN_PROGRESS.
func (o MetaOptions) videoProcessing() time.Duration {
	if o.VideoProcessing > 0 {
		return o.VideoProcessing
	}
	return o.Processing
}

var mediaFetcher = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// metaConsent is the dialog page shared by Facebook Login and Threads.
var metaConsentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><title>simnet {{.Network}} login</title></head><body>
{{if .Error}}<h1>Error</h1><p>{{.Error}}</p>{{else}}
<h1>Continue to the app?</h1>
<p>The app would like: {{.Scope}}</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="state" value="{{.State}}">
<label>Log in to simnet as <input type="text" name="login" required></label>
<button type="submit" name="decision" value="authorize">Continue</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>{{end}}
</body></html>
`))

type metaConsentView struct {
	Network, Error, Scope, Action, ClientID, RedirectURI, State string
}

// metaDialog serves a consent dialog at action (GET shows it, POST decides)
// for kind "user" (Facebook Login) or "threads"; login names whom to act
// as and returns the subject id, or "" when there is no such account.
func (s *Server) metaDialog(network, kind string, login func(name string) string) (get, post http.HandlerFunc) {
	check := func(v url.Values) (*metaApp, string) {
		m := s.lockMeta()
		a := m.apps[v.Get("client_id")]
		m.unlock()
		if a == nil {
			return nil, "Invalid App ID: the app is not registered with simnet."
		}
		u, err := url.Parse(v.Get("redirect_uri"))
		if err != nil || u.Host == "" {
			return nil, "URL blocked: the redirect_uri is not a valid absolute URL."
		}
		return a, ""
	}
	get = func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		view := metaConsentView{Network: network, Action: r.URL.Path, Scope: v.Get("scope"), ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state")}
		status := http.StatusOK
		if _, problem := check(v); problem != "" {
			view.Error, status = problem, http.StatusBadRequest
		} else if v.Get("response_type") != "" && v.Get("response_type") != "code" {
			view.Error, status = "Only response_type=code is supported.", http.StatusBadRequest
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = metaConsentTmpl.Execute(w, view)
	}
	post = func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form", http.StatusBadRequest)
			return
		}
		v := r.PostForm
		a, problem := check(v)
		if problem != "" {
			http.Error(w, problem, http.StatusBadRequest)
			return
		}
		back, _ := url.Parse(v.Get("redirect_uri"))
		q := back.Query()
		q.Set("state", v.Get("state"))
		if v.Get("decision") != "authorize" {
			q.Set("error", "access_denied")
			q.Set("error_reason", "user_denied")
			q.Set("error_description", "Permissions error")
		} else {
			subject := login(strings.TrimSpace(v.Get("login")))
			if subject == "" {
				http.Error(w, "no such simnet account", http.StatusUnprocessableEntity)
				return
			}
			code := randomToken()
			m := s.lockMeta()
			m.codes[code] = &metaCode{app: a, subject: subject, kind: kind, redirectURI: v.Get("redirect_uri"), scope: v.Get("scope"), expires: s.now().Add(codeTTL)}
			m.unlock()
			q.Set("code", code)
		}
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	return get, post
}

// redeemCode checks a code exchange's client and code and returns the
// code's grant, or writes the Graph error and returns nil.
func (s *Server) redeemCode(w http.ResponseWriter, v url.Values, kind string) *metaCode {
	m := s.lockMeta()
	defer m.unlock()
	a := m.apps[v.Get("client_id")]
	switch {
	case a == nil:
		graphError(w, http.StatusBadRequest, 101, 0, "OAuthException", "Error validating application. Invalid application ID.")
		return nil
	case v.Get("client_secret") != a.secret:
		graphError(w, http.StatusBadRequest, 1, 0, "OAuthException", "Error validating client secret.")
		return nil
	}
	c := m.codes[v.Get("code")]
	switch {
	case c == nil || c.kind != kind || c.app != a:
		badParam(w, "Invalid verification code format.")
		return nil
	case c.used:
		graphError(w, http.StatusBadRequest, 100, 36009, "OAuthException", "This authorization code has been used.")
		return nil
	case !s.now().Before(c.expires):
		graphError(w, http.StatusBadRequest, 100, 36007, "OAuthException", "This authorization code has expired.")
		return nil
	case c.redirectURI != v.Get("redirect_uri"):
		graphError(w, http.StatusBadRequest, 100, 36008, "OAuthException", "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request")
		return nil
	}
	c.used = true
	return c
}

// appBySecret checks a client_id (optional) and client_secret pair.
func (s *Server) appBySecret(v url.Values) bool {
	m := s.lockMeta()
	defer m.unlock()
	if id := v.Get("client_id"); id != "" {
		a := m.apps[id]
		return a != nil && a.secret == v.Get("client_secret")
	}
	for _, a := range m.apps {
		if a.secret == v.Get("client_secret") {
			return true
		}
	}
	return false
}

func metaTokenJSON(t *metaToken, now time.Time) map[string]any {
	out := map[string]any{"access_token": t.value, "token_type": "bearer"}
	if !t.expires.IsZero() {
		out["expires_in"] = int(t.expires.Sub(now).Seconds())
	}
	return out
}

// countWithin counts instants in ts no older than d before now.
func countWithin(ts []time.Time, now time.Time, d time.Duration) int {
	n := 0
	for _, t := range ts {
		if now.Sub(t) < d {
			n++
		}
	}
	return n
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
