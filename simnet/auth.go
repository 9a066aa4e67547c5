package simnet

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type account struct {
	id        string
	username  string
	createdAt time.Time
	posted    atomic.Int64
	limit     bucket

	// mu serialises this account's posting, so two requests with one
	// Idempotency-Key cannot both create a status.
	mu   sync.Mutex
	idem map[string]idemEntry
	// swept is when idem was last cleared of expired keys.
	swept time.Time
}

type idemEntry struct {
	status *status
	at     time.Time
}

type token struct {
	value     string
	account   *account // nil for an app token (client_credentials)
	app       *app     // nil for tokens made by CreateAccount
	scope     string
	scopes    map[string]bool
	createdAt time.Time
	// expires is when an expiring token stops working (zero: never);
	// refresh renews it (Options.AccessTokenTTL).
	expires time.Time
	refresh string
}

// allows reports whether the token's scopes cover any of want. A top-level
// scope ("write") covers its granular ones ("write:statuses").
func (t *token) allows(want []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if t.scopes[w] {
			return true
		}
		if top, _, ok := strings.Cut(w, ":"); ok && t.scopes[top] {
			return true
		}
	}
	return false
}

func parseScopes(scope string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(scope) {
		m[s] = true
	}
	return m
}

// The scopes that let a token use an endpoint, any one of them.
var (
	scopeStatuses = []string{"write:statuses"}
	scopeMedia    = []string{"write:media"}
	scopeProfile  = []string{"read:accounts", "profile"}
)

type authMode int

const (
	authNone authMode = iota
	authOptional
	authRequired
)

type apiHandler func(w http.ResponseWriter, r *http.Request, t *token)

// api wraps an endpoint with what Mastodon does around every API call:
// bearer-token authentication, the scope check, and the per-account rate
// limit with its headers on every authenticated response.
func (s *Server) api(mode authMode, scopes []string, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode == authNone {
			h(w, r, nil)
			return
		}
		t, presented := s.authenticate(r)
		if t == nil && (presented || mode == authRequired) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"`)
			writeError(w, http.StatusUnauthorized, "The access token is invalid")
			return
		}
		if t != nil && s.expired(t) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token expired"`)
			writeError(w, http.StatusUnauthorized, "The access token expired")
			return
		}
		if t != nil && !s.rateLimit(w, t) {
			return
		}
		if t != nil && !t.allows(scopes) {
			writeError(w, http.StatusForbidden, "This action is outside the authorized scopes")
			return
		}
		h(w, r, t)
	})
}

// expired reports whether an expiring token's time is up.
func (s *Server) expired(t *token) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !t.expires.IsZero() && !s.now().Before(t.expires)
}

// authenticate finds the request's token; presented says whether the
// request carried one at all.
func (s *Server) authenticate(r *http.Request) (t *token, presented bool) {
	h := r.Header.Get("Authorization")
	scheme, value, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, h != ""
	}
	value = strings.TrimSpace(value)
	s.mu.RLock()
	t = s.tokens[value]
	s.mu.RUnlock()
	return t, true
}

// bucket counts requests in fixed windows aligned to the clock, as Mastodon
// (Rack::Attack) does, so every client sees the same reset instant.
type bucket struct {
	mu    sync.Mutex
	start time.Time
	used  int
}

// take spends one request if the window has any left.
func (b *bucket) take(now time.Time, limit int, window time.Duration) (remaining int, reset time.Time, ok bool) {
	start := now.Truncate(window)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.start.Equal(start) {
		b.start, b.used = start, 0
	}
	reset = start.Add(window)
	if b.used >= limit {
		return 0, reset, false
	}
	b.used++
	return limit - b.used, reset, true
}

// rateLimit spends one request from the token's account (or app) budget and
// sets the X-RateLimit-* headers; it answers 429 and returns false when the
// budget is spent.
func (s *Server) rateLimit(w http.ResponseWriter, t *token) bool {
	var b *bucket
	switch {
	case s.opts.RateLimit < 0:
		return true
	case t.account != nil:
		b = &t.account.limit
	case t.app != nil:
		b = &t.app.limit
	default:
		return true
	}
	remaining, reset, ok := b.take(s.now(), s.opts.RateLimit, s.opts.RateWindow)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000000Z"))
	if !ok {
		s.stats.rateLimited.Add(1)
		writeError(w, http.StatusTooManyRequests, "Too many requests")
	}
	return ok
}
