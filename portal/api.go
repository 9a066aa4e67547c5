package portal

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/mediaurl"
)

// This file is the HTTP plumbing shared by the JSON API (and, later, the
// web UI): routing, authentication, CSRF, rate limits and body limits. The
// api_*.go files hold the handlers; they decode, call a domain method and
// encode, nothing more.

// Handler serves Portal's HTTP surface: the REST API under /api/v1/ and the
// OAuth callbacks under /oauth/.
func (s *Service) Handler() http.Handler {
	s.handlerOnce.Do(func() {
		mux := newRouteMux()
		s.routes(mux)
		s.handler = apiFallback(mux.ServeMux)
	})
	return s.handler
}

func (s *Service) routes(mux *routeMux) {
	json, upload := s.cfg.MaxJSONBytes, s.cfg.MaxUploadBytes+(1<<20)

	mux.HandleFunc("GET "+mediaurl.Path+"{key...}", s.publicMedia)
	mux.Handle("GET /api/v1/setup", s.public(json, s.apiSetupNeeded))
	mux.Handle("POST /api/v1/setup", s.public(json, s.apiSetup))
	mux.Handle("POST /api/v1/login", s.public(json, s.apiLogin))
	mux.Handle("POST /api/v1/logout", s.authed(json, s.apiLogout))
	mux.Handle("POST /api/v1/me/password", s.authed(json, s.apiChangePassword))
	mux.Handle("GET /api/v1/me", s.authed(json, s.apiMe))

	mux.Handle("POST /api/v1/tokens", s.authed(json, s.apiCreateToken))
	mux.Handle("GET /api/v1/tokens", s.authed(json, s.apiListTokens))
	mux.Handle("DELETE /api/v1/tokens/{id}", s.authed(json, s.apiDeleteToken))

	mux.Handle("POST /api/v1/workspaces", s.authed(json, s.apiCreateWorkspace))
	mux.Handle("GET /api/v1/workspaces", s.authed(json, s.apiListWorkspaces))
	mux.Handle("GET /api/v1/workspaces/{id}", s.authed(json, s.apiGetWorkspace))
	mux.Handle("GET /api/v1/workspaces/{id}/members", s.authed(json, s.apiListMembers))
	mux.Handle("POST /api/v1/workspaces/{id}/invites", s.authed(json, s.apiCreateInvite))
	mux.Handle("POST /api/v1/invites/{token}/accept", s.public(json, s.apiAcceptInvite))
	mux.Handle("DELETE /api/v1/workspaces/{id}/members/{user}", s.authed(json, s.apiRemoveMember))
	mux.Handle("POST /api/v1/agency/transfer-ownership", s.authed(json, s.apiTransferOwnership))
	mux.Handle("GET /api/v1/openapi.json", s.public(json, s.apiOpenAPI))

	mux.Handle("POST /api/v1/workspaces/{id}/accounts", s.authed(json, s.apiConnectAccount))
	mux.Handle("GET /api/v1/workspaces/{id}/accounts", s.authed(json, s.apiListAccounts))
	mux.Handle("GET /api/v1/networks", s.authed(json, s.apiListNetworks))
	mux.Handle("POST /api/v1/workspaces/{id}/accounts/oauth", s.authed(json, s.apiStartOAuth))
	mux.Handle("GET /api/v1/accounts/{id}", s.authed(json, s.apiGetAccount))
	mux.Handle("DELETE /api/v1/accounts/{id}", s.authed(json, s.apiDeleteAccount))
	mux.Handle("GET /oauth/{network}/callback", s.authed(json, s.oauthCallback))
	mux.Handle("GET /api/v1/oauth/picks/{pick}", s.authed(json, s.apiGetPick))
	mux.Handle("POST /api/v1/oauth/picks/{pick}", s.authed(json, s.apiPickAccounts))

	mux.Handle("POST /api/v1/workspaces/{id}/media", s.authed(upload, s.apiUploadMedia))
	mux.Handle("GET /api/v1/workspaces/{id}/media", s.authed(json, s.apiSearchMedia))
	mux.Handle("GET /api/v1/media/{id}", s.authed(json, s.apiGetMedia))
	mux.Handle("PATCH /api/v1/media/{id}", s.authed(json, s.apiUpdateMedia))
	mux.Handle("POST /api/v1/workspaces/{id}/library", s.authed(json, s.apiCreateLibraryItem))
	mux.Handle("GET /api/v1/workspaces/{id}/library", s.authed(json, s.apiListLibrary))
	mux.Handle("GET /api/v1/library/{id}", s.authed(json, s.apiGetLibraryItem))
	mux.Handle("PATCH /api/v1/library/{id}", s.authed(json, s.apiUpdateLibraryItem))
	mux.Handle("DELETE /api/v1/library/{id}", s.authed(json, s.apiDeleteLibraryItem))
	mux.Handle("GET /api/v1/media/{id}/content", s.authed(json, s.apiMediaContent))

	mux.Handle("POST /api/v1/workspaces/{id}/posts", s.authed(json, s.apiCreatePost))
	mux.Handle("GET /api/v1/workspaces/{id}/posts", s.authed(json, s.apiListPosts))
	mux.Handle("GET /api/v1/posts/{id}", s.authed(json, s.apiGetPost))
	mux.Handle("PATCH /api/v1/posts/{id}", s.authed(json, s.apiUpdatePost))
	mux.Handle("DELETE /api/v1/posts/{id}", s.authed(json, s.apiDeletePost))
	mux.Handle("POST /api/v1/posts/{id}/targets/{account}/retry", s.authed(json, s.apiRetryTarget))
	mux.Handle("POST /api/v1/posts/{id}/targets/{account}/published", s.authed(json, s.apiMarkTargetPublished))
	mux.Handle("GET /api/v1/posts/{id}/firings", s.authed(json, s.apiListFirings))

	mux.Handle("POST /api/v1/workspaces/{id}/queues", s.authed(json, s.apiCreateQueue))
	mux.Handle("GET /api/v1/workspaces/{id}/queues", s.authed(json, s.apiListQueues))
	mux.Handle("GET /api/v1/queues/{id}", s.authed(json, s.apiGetQueue))
	mux.Handle("PUT /api/v1/queues/{id}", s.authed(json, s.apiUpdateQueue))
	mux.Handle("DELETE /api/v1/queues/{id}", s.authed(json, s.apiDeleteQueue))
	mux.Handle("POST /api/v1/queues/{id}/pause", s.authed(json, s.apiPauseQueue))
	mux.Handle("POST /api/v1/accounts/{id}/pause", s.authed(json, s.apiPauseAccount))

	mux.Handle("POST /api/v1/workspaces/{id}/automations", s.authed(json, s.apiCreateAutomation))
	mux.Handle("GET /api/v1/workspaces/{id}/automations", s.authed(json, s.apiListAutomations))
	mux.Handle("GET /api/v1/automations/{id}", s.authed(json, s.apiGetAutomation))
	mux.Handle("PUT /api/v1/automations/{id}", s.authed(json, s.apiUpdateAutomation))
	mux.Handle("POST /api/v1/automations/{id}/pause", s.authed(json, s.apiPauseAutomation))
	mux.Handle("DELETE /api/v1/automations/{id}", s.authed(json, s.apiDeleteAutomation))

	mux.Handle("GET /api/v1/notifications", s.authed(json, s.apiListNotifications))
	mux.Handle("POST /api/v1/notifications/read", s.authed(json, s.apiMarkRead))
	mux.Handle("GET /api/v1/notifications/stream", s.authed(json, s.apiNotificationStream))
	s.routesApprovals(mux, json)
	mux.Handle("POST /api/v1/workspaces/{id}/imports", s.authed(maxImportBytes+(1<<20), s.apiImportPosts))
	mux.Handle("GET /api/v1/workspaces/{id}/reports", s.authed(json, s.apiReport))
	mux.Handle("GET /api/v1/workspaces/{id}/audit", s.authed(json, s.apiListAudit))
	mux.Handle("GET /api/v1/agency/failed-emails", s.authed(json, s.apiListFailedEmails))
	mux.Handle("GET /api/v1/overview", s.authed(json, s.apiOverview))
	mux.Handle("POST /api/v1/agency/failed-emails/{id}/resend", s.authed(json, s.apiResendEmail))
	mux.Handle("GET /api/v1/me/notification-preferences", s.authed(json, s.apiGetNotificationPrefs))
	mux.Handle("PUT /api/v1/me/notification-preferences", s.authed(json, s.apiPutNotificationPrefs))
	mux.Handle("GET /api/v1/agency/branding", s.authed(json, s.apiGetBranding))
	mux.Handle("PUT /api/v1/agency/branding", s.authed(json, s.apiPutBranding))
	s.webhookRoutes(mux, json)
	s.routesCalendar(mux, json)
	s.mountUI(mux)
}

// apiFallback answers requests no route matched under /api/ with the same
// JSON error shape as everything else, keeping the mux's status (404, or
// 405 with its Allow header).
func apiFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" || !strings.HasPrefix(r.URL.Path, "/api/") {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		e := errs.E(errs.NotFound, "no such API endpoint")
		if rec.status == http.StatusMethodNotAllowed {
			e = errs.E(errs.Invalid, "method %s is not allowed here", r.Method)
		}
		writeErrorStatus(w, rec.status, e)
	})
}

// statusRecorder keeps only the status and headers of a response.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// apiFunc handles an authenticated request; a returned error is written as
// the JSON error (nothing must have been written yet).
type apiFunc func(w http.ResponseWriter, r *http.Request, p *Principal) error

// publicFunc handles a request that needs no sign-in.
type publicFunc func(w http.ResponseWriter, r *http.Request) error

func isUnsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// public wraps a handler for endpoints without sign-in: a per-address rate
// limit, a body limit and, for state changes, the cross-origin check (so
// another site cannot sign a browser in to an account of its choosing).
func (s *Service) public(maxBody int64, f publicFunc) http.Handler {
	return withKind(kindPublic, func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		if ok, after := s.publicByIP.allow(s.clientIP(r)); !ok {
			s.writeError(w, r, errRateLimited(after, "too many requests; slow down"))
			return
		}
		if isUnsafe(r.Method) {
			if err := s.crossOrigin.Check(r); err != nil {
				s.writeError(w, r, errs.Wrap(err, errs.Forbidden, "cross-origin request refused"))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := f(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authed wraps a handler that needs a principal: it authenticates by API
// token or session cookie, applies the per-user rate limit and the body
// limit, and for state-changing requests authenticated by cookie requires
// a same-origin request and the session's CSRF token.
func (s *Service) authed(maxBody int64, f apiFunc) http.Handler {
	return withKind(kindAuthed, func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		p, err := s.Authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ok, after := s.apiByUser.allow(p.limitKey()); !ok {
			s.writeError(w, r, errRateLimited(after, "too many requests; slow down"))
			return
		}
		if err := s.CheckCSRF(r, p); err != nil {
			s.writeError(w, r, err)
			return
		}
		if isUnsafe(r.Method) && !p.may(ScopeWrite) {
			s.writeError(w, r, errs.E(errs.Forbidden, "this API token may only read; make one with the write scope to change anything"))
			return
		}
		if key := r.Header.Get(idempotencyHeader); key != "" && r.Method == http.MethodPost {
			s.idempotent(w, r, p, key, f)
			return
		}
		if err := f(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func setAPIHeaders(w http.ResponseWriter) {
	h := w.Header()
	// Responses carry tokens and private data: no cache may keep them.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Authenticate returns the principal of a request: the holder of the
// "Authorization: Bearer" API token, or else of the session cookie.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return nil, errs.E(errs.Unauthenticated, "the Authorization header must be \"Bearer <API token>\"")
		}
		return s.TokenPrincipal(r.Context(), strings.TrimSpace(token))
	}
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return nil, errNotSignedIn
	}
	return s.SessionPrincipal(r.Context(), c.Value)
}

// CheckCSRF guards a state-changing request authenticated by session
// cookie: it must come from Portal's own origin (Sec-Fetch-Site / Origin)
// and carry the session's token in the X-CSRF-Token header or, for HTML
// forms, the csrf_token field. API-token requests need neither: a browser
// never adds an Authorization header on its own.
func (s *Service) CheckCSRF(r *http.Request, p *Principal) error {
	if !isUnsafe(r.Method) || p.ViaToken {
		return nil
	}
	if err := s.crossOrigin.Check(r); err != nil {
		return errs.Wrap(err, errs.Forbidden, "cross-origin request refused")
	}
	token := r.Header.Get("X-CSRF-Token")
	if token == "" && isForm(r) {
		token = r.PostFormValue("csrf_token")
	}
	if !s.keys.checkCSRF(p.sessionHash, token) {
		return errs.E(errs.Forbidden, "missing or wrong CSRF token: send the csrf_token from sign-in in the X-CSRF-Token header")
	}
	return nil
}

func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
}

// clientIP is the address rate limits are keyed by.
func (s *Service) clientIP(r *http.Request) string {
	if s.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			hops := strings.Split(xff, ",")
			if ip := strings.TrimSpace(hops[len(hops)-1]); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// cookieName carries the __Host- prefix when the cookie is Secure: the
// browser then refuses it unless it is host-only, on path /, over HTTPS.
func (s *Service) cookieName() string {
	if s.cfg.CookieSecure {
		return "__Host-herald_session"
	}
	return "herald_session"
}

// SetSessionCookie gives the browser a session's cookie.
func (s *Service) SetSessionCookie(w http.ResponseWriter, sess *Session) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: sess.Token, Path: "/",
		Expires: sess.ExpiresAt, MaxAge: int(time.Until(sess.ExpiresAt).Seconds()),
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie removes the session cookie from the browser.
func (s *Service) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	})
}

// previousToken is the session cookie a browser still sends, if any.
func (s *Service) previousToken(r *http.Request) string {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		return c.Value
	}
	return ""
}
