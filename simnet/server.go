package simnet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mastodon's defaults, which a zero Options reproduces.
const (
	DefaultMaxChars       = 500
	DefaultMaxMedia       = 4
	DefaultMaxImageBytes  = 16 << 20
	DefaultMaxVideoBytes  = 99 << 20
	DefaultRateLimit      = 300
	DefaultRateWindow     = 5 * time.Minute
	DefaultIdempotencyTTL = time.Hour
)

// Options configure a Server. The zero value behaves like a Mastodon server
// with default settings.
type Options struct {
	// BaseURL is the server's public URL ("http://127.0.0.1:8090"), used in
	// the URLs of statuses, accounts and media. Empty means each request's
	// own scheme and Host.
	BaseURL string
	// Title names the instance in /api/v1/instance and /api/v2/instance.
	Title string
	// MaxChars is the status length limit (default 500).
	MaxChars int
	// MaxMedia is the number of attachments per status (default 4).
	MaxMedia int
	// MaxImageBytes and MaxVideoBytes limit uploads (default 16 MiB and
	// 99 MiB, like Mastodon).
	MaxImageBytes int64
	MaxVideoBytes int64
	// RateLimit is how many authenticated API requests an account may make
	// per RateWindow (default 300 per 5 minutes, Mastodon's per-account
	// limit). Negative disables rate limiting and its headers.
	RateLimit  int
	RateWindow time.Duration
	// MediaProcessing, when positive, makes POST /api/v2/media answer 202
	// with a null url, as Mastodon does for media it processes in the
	// background; the media becomes ready this long after the upload.
	MediaProcessing time.Duration
	// VideoProcessing, when positive, is the same for videos and audio
	// only (Mastodon transcodes them in the background even when it
	// resizes images at once); zero means MediaProcessing applies.
	VideoProcessing time.Duration
	// AccessTokenTTL, when positive, makes the access tokens issued to an
	// app for an account (authorization_code and refresh_token grants, and
	// GrantToken) expire after it, as a Mastodon whose OAuth server is set
	// to expire tokens does: the token answer then carries expires_in and
	// a refresh_token, POST /oauth/token takes grant_type=refresh_token,
	// and an expired token gets 401 "The access token expired". Zero means
	// tokens never expire, as on stock Mastodon.
	AccessTokenTTL time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered (default
	// one hour, like Mastodon).
	IdempotencyTTL time.Duration
	// Bluesky configures the Bluesky PDS simulation (simnet/bluesky.go).
	Bluesky BlueskyOptions
	// Faults are injected from the start; see SetFaults.
	Faults Faults
	// Now is the clock (default time.Now); tests move it to expire rate
	// windows and idempotency keys without waiting.
	Now func() time.Time
	// Logger, if set, receives a line when Serve starts and stops.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Title == "" {
		o.Title = "simnet"
	}
	if o.MaxChars <= 0 {
		o.MaxChars = DefaultMaxChars
	}
	if o.MaxMedia <= 0 {
		o.MaxMedia = DefaultMaxMedia
	}
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.MaxVideoBytes <= 0 {
		o.MaxVideoBytes = DefaultMaxVideoBytes
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.RateWindow <= 0 {
		o.RateWindow = DefaultRateWindow
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	return o
}

// Server is a simulated Mastodon server. It is an http.Handler; use it with
// httptest.NewServer in tests or ListenAndServe for a development server.
// All methods are safe for concurrent use.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	seq   atomic.Int64
	stats counters

	// mu guards the maps and order. Lock order: account.mu before mu.
	mu        sync.RWMutex
	accounts  map[string]*account // by id
	usernames map[string]*account // by lower-cased username
	tokens    map[string]*token
	apps      map[string]*app // by client id
	codes     map[string]*authCode
	refreshes map[string]*token // by refresh token: the access token it renews
	statuses  map[string]*status
	order     []*status
	media     map[string]*media

	faultsMu sync.Mutex
	faults   Faults

	// The other networks, each with its own state and lock (simnet/NAME.go).
	telegram telegramNet
	discord  discordNet
	slack    slackNet
	hooks    webhookNet
	bsky     *bluesky
	meta     metaNet // Facebook, Instagram and Threads (meta.go)
	x        *X
	linkedin *LinkedIn
}

type counters struct {
	requests, statuses, duplicates, rateLimited, faults, drops, refreshes atomic.Int64
}

// New returns a Server with no accounts, configured by opts. It panics if
// opts.Faults is invalid; check faults that come from user input with
// Faults.Validate first.
func New(opts Options) *Server {
	if err := opts.Faults.Validate(); err != nil {
		panic("simnet: New: invalid faults: " + err.Error())
	}
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		accounts:  map[string]*account{},
		usernames: map[string]*account{},
		tokens:    map[string]*token{},
		apps:      map[string]*app{},
		codes:     map[string]*authCode{},
		refreshes: map[string]*token{},
		statuses:  map[string]*status{},
		media:     map[string]*media{},
		faults:    opts.Faults,
	}
	// Ids look like Mastodon's snowflakes: time in the high bits, so they
	// sort by creation and do not repeat across restarts.
	s.seq.Store(opts.Now().UnixMilli() << 16)
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("POST /api/v1/statuses", s.api(authRequired, scopeStatuses, s.postStatus))
	m.Handle("GET /api/v1/statuses/{id}", s.api(authOptional, nil, s.getStatus))
	m.Handle("POST /api/v2/media", s.api(authRequired, scopeMedia, s.postMedia(false)))
	m.Handle("POST /api/v1/media", s.api(authRequired, scopeMedia, s.postMedia(true)))
	m.Handle("GET /api/v1/media/{id}", s.api(authRequired, scopeMedia, s.getMedia))
	m.Handle("GET /api/v1/accounts/verify_credentials", s.api(authRequired, scopeProfile, s.verifyCredentials))
	m.Handle("GET /api/v1/instance", s.api(authNone, nil, s.instanceV1))
	m.Handle("GET /api/v2/instance", s.api(authNone, nil, s.instanceV2))
	m.Handle("POST /api/v1/apps", s.api(authNone, nil, s.createApp))
	m.HandleFunc("GET /oauth/authorize", s.authorizePage)
	m.HandleFunc("POST /oauth/authorize", s.authorizeDecision)
	m.HandleFunc("POST /oauth/token", s.issueToken)
	m.HandleFunc("POST /oauth/revoke", s.revokeToken)
	s.mountX(m)
	s.mountLinkedIn(m)

	s.mountBluesky(m)
	s.mountFacebook(m)
	s.mountInstagram(m)
	s.mountThreads(m)

	m.HandleFunc("POST /_simnet/accounts", s.controlCreateAccount)
	m.HandleFunc("GET /_simnet/statuses", s.controlStatuses)
	m.HandleFunc("GET /_simnet/stats", s.controlStats)
	m.HandleFunc("GET /_simnet/faults", s.controlGetFaults)
	m.HandleFunc("POST /_simnet/faults", s.controlSetFaults)
	m.HandleFunc("DELETE /_simnet/faults", s.controlClearFaults)

	s.mountTelegram(m)
	s.mountDiscord(m)
	s.mountSlack(m)
	s.mountWebhook(m)

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Record not found")
	})
	s.mux = m
}

// ServeHTTP serves the Mastodon API, the OAuth endpoints and the control
// endpoints under /_simnet/. Faults apply to everything but the latter.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	if strings.HasPrefix(r.URL.Path, "/_simnet/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.serveWithFaults(w, r, s.mux)
}

// ListenAndServe serves on addr until ctx is cancelled, then shuts down
// gracefully. To learn the address when addr has port 0, listen yourself
// and call Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("simnet: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully,
// giving requests in flight up to five seconds. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if s.opts.Logger != nil {
		s.opts.Logger.Info("simnet listening", "url", "http://"+ln.Addr().String())
	}
	shutdown := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simnet: serve: %w", err)
	}
	err = <-shutdown
	if s.opts.Logger != nil {
		s.opts.Logger.Info("simnet stopped")
	}
	return err
}

// Stats are counters since the server started.
type Stats struct {
	Requests           int64 `json:"requests"`
	Statuses           int64 `json:"statuses"`
	DuplicatesAvoided  int64 `json:"duplicates_avoided"`
	RateLimited        int64 `json:"rate_limited"`
	FaultsInjected     int64 `json:"faults_injected"`
	ConnectionsDropped int64 `json:"connections_dropped"`
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:           s.stats.requests.Load(),
		Statuses:           s.stats.statuses.Load(),
		DuplicatesAvoided:  s.stats.duplicates.Load(),
		RateLimited:        s.stats.rateLimited.Load(),
		FaultsInjected:     s.stats.faults.Load(),
		ConnectionsDropped: s.stats.drops.Load(),
	}
}

// DuplicatesAvoided is how many status requests were answered with an
// earlier status because they repeated its Idempotency-Key.
func (s *Server) DuplicatesAvoided() int64 { return s.stats.duplicates.Load() }

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) nextID() string { return strconv.FormatInt(s.seq.Add(1), 10) }

// baseURL is where links in responses point.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// randomToken returns 32 random bytes in base64url, the shape of Mastodon's
// tokens and secrets.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,30}$`)

// validUsername says what is wrong with a username, or "" if nothing is.
func validUsername(u string) string {
	if u == "" {
		return "must not be empty"
	}
	if !usernameRE.MatchString(u) {
		return "must be 1 to 30 letters, digits or underscores"
	}
	return ""
}

// CreateAccount creates an account (or finds the existing one with that
// username) and returns a new access token for it with scopes
// "read write follow push". It panics if username is not valid (1 to 30
// letters, digits or underscores), like regexp.MustCompile, since it is
// meant for test and benchmark setup; POST /_simnet/accounts reports the
// same problem as a 422.
func (s *Server) CreateAccount(username string) (token string) {
	if msg := validUsername(username); msg != "" {
		panic(fmt.Sprintf("simnet: CreateAccount(%q): username %s", username, msg))
	}
	a := s.ensureAccount(username)
	return s.issue(a, nil, "read write follow push").value
}

// RevokeToken makes token invalid, as when a user revokes an app's access;
// requests with it then get 401.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	delete(s.tokens, token)
	s.mu.Unlock()
}

func (s *Server) ensureAccount(username string) *account {
	key := strings.ToLower(username)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.usernames[key]; ok {
		return a
	}
	a := &account{id: s.nextID(), username: username, createdAt: s.now(), idem: map[string]idemEntry{}}
	s.accounts[a.id] = a
	s.usernames[key] = a
	return a
}

func (s *Server) issue(a *account, ap *app, scope string) *token {
	t := &token{value: randomToken(), account: a, app: ap, scope: scope, scopes: parseScopes(scope), createdAt: s.now()}
	if a != nil && ap != nil && s.opts.AccessTokenTTL > 0 {
		t.expires = t.createdAt.Add(s.opts.AccessTokenTTL)
		t.refresh = randomToken()
	}
	s.mu.Lock()
	s.tokens[t.value] = t
	if t.refresh != "" {
		s.refreshes[t.refresh] = t
	}
	s.mu.Unlock()
	return t
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with Mastodon's error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
