package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/errs"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
)

// This file is the plumbing of the web UI: templates, static assets,
// authentication of pages, CSRF, flash messages and error pages. The UI is
// server-rendered HTML over the same domain methods as the JSON API (the
// ui_*.go files); its few scripts only improve it (live counts, a character
// counter) and nothing depends on them. Every state change is a POST form
// carrying the session's CSRF token; a GET never changes anything.

// webFS holds the templates, the static assets and the time zone list.
//
//go:embed web/templates/*.html web/static/* web/zones.txt
var webFS embed.FS

// uiAssets are the static files with the version (content hash) their URL
// carries, so they can be cached for long and still change with a release.
var uiAssets = func() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(webFS, "web/static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(webFS, "web/static/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
}()

// uiPages are the parsed templates, one set per page: the shared layouts
// and partials plus the page's own file, executed by the page's file name.
var uiPages = func() map[string]*template.Template {
	base := template.Must(template.New("base").Funcs(uiFuncs).ParseFS(webFS, "web/templates/_*.html"))
	files, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := path.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(webFS, f))
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out
}()

var uiFuncs = template.FuncMap{
	"asset": func(name string) string {
		return "/static/" + name + "?v=" + uiAssets[name]
	},
	"statusLabel":  statusLabel,
	"roleLabel":    roleLabel,
	"networkLabel": networkLabel,
	"bytes":        humanBytes,
	"initials":     initials,

	// The composer's per-network sections (compose.go).
	"composeNetworks": composeNetworks,
	"variantsLine":    variantsLine,

	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2 Jan 2006, 15:04 UTC")
	},
	"wall":         wallLabel,
	"wallOfTime":   formatWall,
	"account":      accountName,
	"accountShort": accountShort,
	"field":        newInputView,
	"kindClass":    notificationClass,
}

// wallLabel shows a stored wall time ("2026-12-01T09:30") for people.
func wallLabel(local string) string {
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, local); err == nil {
			if t.Second() != 0 {
				return t.Format("Mon 2 Jan 2006, 15:04:05")
			}
			return t.Format("Mon 2 Jan 2006, 15:04")
		}
	}
	return local
}

// webUI serves the browser pages of one Service.
type webUI struct {
	s      *Service
	zones  []zoneGroup
	limits *limitCache
}

// mountUI adds the web UI's routes to Portal's router.
func (s *Service) mountUI(mux *routeMux) {
	u := &webUI{s: s, zones: loadZones(), limits: &limitCache{byNetwork: map[string]cachedLimit{}}}
	u.routes(mux)
}

func (u *webUI) routes(mux *routeMux) {
	form, upload := u.s.cfg.MaxJSONBytes, u.s.cfg.MaxUploadBytes+(1<<20)

	mux.HandleFunc("GET /static/{file}", u.static)
	mux.Handle("GET /{$}", u.public(form, u.home))
	mux.Handle("POST /setup", u.public(form, u.setup))
	mux.Handle("GET /login", u.public(form, u.loginPage))
	mux.Handle("POST /login", u.public(form, u.login))
	mux.Handle("POST /logout", u.signedIn(form, u.logout))
	mux.Handle("GET /invites/{token}", u.public(form, u.invitePage))
	mux.Handle("POST /invites/{token}", u.public(form, u.acceptInvite))

	mux.Handle("POST /workspaces", u.signedIn(form, u.createWorkspace))
	mux.Handle("GET /workspaces/{id}", u.signedIn(form, u.workspace))
	mux.Handle("GET /workspaces/{id}/posts", u.fragment(u.postsFragment))
	mux.Handle("POST /workspaces/{id}/posts", u.signedIn(form, u.createPost))
	mux.Handle("POST /workspaces/{id}/compose/check", u.signedIn(form, u.composeCheck))
	mux.Handle("GET /workspaces/{id}/posts/{post}", u.signedIn(form, u.postLink))
	mux.Handle("POST /workspaces/{id}/posts/{post}/delete", u.signedIn(form, u.deletePost))
	mux.Handle("POST /workspaces/{id}/posts/{post}/targets/{account}/retry", u.signedIn(form, u.settleTarget(true)))
	mux.Handle("POST /workspaces/{id}/posts/{post}/targets/{account}/published", u.signedIn(form, u.settleTarget(false)))
	mux.Handle("GET /workspaces/{id}/posts/{post}/edit", u.signedIn(form, u.editPost))
	mux.Handle("POST /workspaces/{id}/posts/{post}", u.signedIn(form, u.updatePost))
	mux.Handle("GET /workspaces/{id}/queues", u.signedIn(form, u.queues))
	mux.Handle("POST /workspaces/{id}/queues", u.signedIn(form, u.createQueue))
	mux.Handle("GET /workspaces/{id}/queues/{queue}", u.signedIn(form, u.queue))
	mux.Handle("POST /workspaces/{id}/queues/{queue}", u.signedIn(form, u.updateQueue))
	mux.Handle("POST /workspaces/{id}/queues/{queue}/pause", u.signedIn(form, u.pauseQueue))
	mux.Handle("POST /workspaces/{id}/queues/{queue}/delete", u.signedIn(form, u.deleteQueue))
	mux.Handle("POST /workspaces/{id}/accounts/{account}/pause", u.signedIn(form, u.pauseAccount))
	mux.Handle("GET /workspaces/{id}/automations", u.signedIn(form, u.automations))
	mux.Handle("POST /workspaces/{id}/automations", u.signedIn(form, u.createAutomation))
	mux.Handle("GET /workspaces/{id}/automations/{auto}", u.signedIn(form, u.automation))
	mux.Handle("POST /workspaces/{id}/automations/{auto}", u.signedIn(form, u.updateAutomation))
	mux.Handle("POST /workspaces/{id}/automations/{auto}/pause", u.signedIn(form, u.pauseAutomation))
	mux.Handle("POST /workspaces/{id}/automations/{auto}/delete", u.signedIn(form, u.deleteAutomation))
	mux.Handle("POST /workspaces/{id}/accounts", u.signedIn(form, u.connectAccount))
	mux.Handle("POST /workspaces/{id}/accounts/oauth", u.signedIn(form, u.startOAuth))
	mux.Handle("POST /workspaces/{id}/accounts/form", u.signedIn(form, u.connectFormAccount))
	mux.Handle("GET /workspaces/{id}/accounts/pick", u.signedIn(form, u.pickPage))
	mux.Handle("POST /workspaces/{id}/accounts/pick", u.signedIn(form, u.pickAccounts))
	mux.Handle("GET /workspaces/{id}/accounts/{account}", u.signedIn(form, u.accountLink))
	mux.Handle("POST /workspaces/{id}/accounts/{account}/delete", u.signedIn(form, u.deleteAccount))
	mux.Handle("POST /workspaces/{id}/media", u.signedIn(upload, u.uploadMedia))
	mux.Handle("GET /workspaces/{id}/media", u.signedIn(form, u.mediaLibrary))
	mux.Handle("POST /workspaces/{id}/media/upload", u.signedIn(maxUploadFiles*upload, u.uploadMediaFiles))
	mux.Handle("POST /workspaces/{id}/media/{media}", u.signedIn(form, u.updateMediaFile))
	mux.Handle("GET /workspaces/{id}/library", u.signedIn(form, u.library))
	mux.Handle("POST /workspaces/{id}/library", u.signedIn(form, u.createLibraryItem))
	mux.Handle("GET /workspaces/{id}/library/{item}", u.signedIn(form, u.libraryItem))
	mux.Handle("POST /workspaces/{id}/library/{item}", u.signedIn(form, u.updateLibraryItem))
	mux.Handle("POST /workspaces/{id}/library/{item}/delete", u.signedIn(form, u.deleteLibraryItem))
	mux.Handle("GET /workspaces/{id}/library/{item}/compose", u.signedIn(form, u.composeFromTemplate))
	mux.Handle("POST /workspaces/{id}/invites", u.signedIn(form, u.createInvite))
	mux.Handle("POST /workspaces/{id}/members/{user}/remove", u.signedIn(form, u.removeMember))
	mux.Handle("POST /settings/transfer-ownership", u.signedIn(form, u.transferOwnership))

	mux.Handle("GET /notifications", u.signedIn(form, u.notifications))
	mux.Handle("POST /notifications/read", u.signedIn(form, u.markRead))
	u.routesApprovals(mux, form)
	mux.Handle("GET /workspaces/{id}/import", u.signedIn(form, u.importPage))
	mux.Handle("POST /workspaces/{id}/import", u.signedIn(maxImportBytes+(1<<20), u.importPosts))
	mux.Handle("GET /workspaces/{id}/reports", u.signedIn(form, u.reportPage))
	mux.Handle("GET /workspaces/{id}/audit", u.signedIn(form, u.auditPage))
	mux.Handle("GET /settings/emails", u.signedIn(form, u.failedEmailsPage))
	mux.Handle("POST /settings/emails/{id}/resend", u.signedIn(form, u.resendEmail))
	mux.Handle("GET /settings/password", u.signedIn(form, u.passwordPage))
	mux.Handle("POST /settings/password", u.signedIn(form, u.changePassword))
	mux.Handle("GET /settings/notifications", u.signedIn(form, u.notificationPrefs))
	mux.Handle("POST /settings/notifications", u.signedIn(form, u.saveNotificationPrefs))
	mux.Handle("GET /settings/branding", u.signedIn(form, u.brandingPage))
	mux.Handle("GET /settings/topology", u.signedIn(form, u.topologyPage))
	mux.Handle("POST /settings/branding", u.signedIn(form, u.saveBranding))
	mux.Handle("GET /unsubscribe", u.public(form, u.unsubscribePage))
	mux.Handle("POST /unsubscribe", u.public(form, u.unsubscribe))
	u.webhookRoutes(mux, form)
	u.routesCalendar(mux, form)
}

// static serves an embedded asset. A URL carrying the asset's current
// version may be cached for a year; any other only briefly.
func (u *webUI) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	version, ok := uiAssets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(webFS, "web/static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+version+`"`)
	if r.URL.Query().Get("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// uiPublicFunc handles a page that needs no sign-in.
type uiPublicFunc func(w http.ResponseWriter, r *http.Request) error

// uiPageFunc handles a page of a signed-in user.
type uiPageFunc func(w http.ResponseWriter, r *http.Request, p *Principal) error

// public wraps a page open to anyone. Its forms (setup, sign-in, accepting
// an invitation) must come from Portal's own origin, so another site cannot
// sign a browser in to an account of its choosing, and are rate-limited per
// client address.
func (u *webUI) public(maxBody int64, f uiPublicFunc) http.Handler {
	return withKind(kindPublic, func(w http.ResponseWriter, r *http.Request) {
		if isUnsafe(r.Method) {
			if ok, after := u.s.publicByIP.allow(u.s.clientIP(r)); !ok {
				u.fail(w, r, nil, errRateLimited(after, "too many requests; wait a moment and try again"))
				return
			}
			if err := u.s.crossOrigin.Check(r); err != nil {
				u.fail(w, r, nil, errs.Wrap(err, errs.Forbidden, "this form was sent from another site and was refused"))
				return
			}
			if err := u.parseForm(w, r, maxBody); err != nil {
				u.fail(w, r, nil, err)
				return
			}
		}
		if err := f(w, r); err != nil {
			u.fail(w, r, nil, err)
		}
	})
}

// signedIn wraps a page of a signed-in user: it authenticates the session,
// applies the per-user rate limit and, for a form, checks its CSRF token.
// Someone not signed in is sent to the sign-in page.
func (u *webUI) signedIn(maxBody int64, f uiPageFunc) http.Handler {
	return withKind(kindPage, func(w http.ResponseWriter, r *http.Request) {
		p, err := u.principal(r)
		if errs.Is(err, errs.Unauthenticated) {
			u.toLogin(w, r)
			return
		}
		if err != nil {
			u.fail(w, r, nil, err)
			return
		}
		if isUnsafe(r.Method) {
			if err := u.parseForm(w, r, maxBody); err != nil {
				u.fail(w, r, p, err)
				return
			}
			if err := u.s.CheckCSRF(r, p); err != nil {
				u.fail(w, r, p, errs.Wrap(err, errs.Forbidden, "this form has expired or came from another site; reload the page and try again"))
				return
			}
		}
		if err := f(w, r, p); err != nil {
			u.fail(w, r, p, err)
		}
	})
}

// fragment wraps a piece of a page fetched by the page's script: failures
// are bare statuses, which the script understands, not pages.
func (u *webUI) fragment(f uiPageFunc) http.Handler {
	return withKind(kindFragment, func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		p, err := u.principal(r)
		if err == nil {
			err = f(w, r, p)
		}
		if err != nil {
			if errs.KindOf(err) == errs.Internal {
				u.s.log.Error("ui fragment failed", "path", r.URL.Path, "err", err)
			}
			http.Error(w, errs.PublicMessage(err), errs.HTTPStatus(err))
		}
	})
}

// principal authenticates a browser by its session cookie and takes one
// request from the user's rate-limit budget. The pages are for browsers:
// an API token gets no further than the API.
func (u *webUI) principal(r *http.Request) (*Principal, error) {
	p, err := u.s.Authenticate(r)
	if err != nil {
		return nil, err
	}
	if p.ViaToken {
		return nil, errs.E(errs.Forbidden, "the web pages are for signed-in browsers; scripts use the API under /api/v1/")
	}
	if ok, after := u.s.apiByUser.allow(p.limitKey()); !ok {
		return nil, errRateLimited(after, "too many requests; wait a moment and try again")
	}
	return p, nil
}

// parseForm reads a form body (URL-encoded or multipart) within maxBody.
func (u *webUI) parseForm(w http.ResponseWriter, r *http.Request, maxBody int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var err error
	multipart := false
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		multipart = true
		// Small parts stay in memory; a file spills to a temporary file the
		// server removes after the request.
		err = r.ParseMultipartForm(8 << 20)
	} else {
		err = r.ParseForm()
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		if multipart {
			return tooLarge(u.s.cfg.MaxUploadBytes, err)
		}
		return errs.Wrap(err, errs.TooLarge, "what you sent is larger than "+humanBytes(maxBody)+"; send less at once")
	}
	return errs.Wrap(err, errs.Invalid, "the form could not be read; reload the page and try again")
}

// refusedStatus is the status of a page showing a refused form again, with
// the Retry-After of a refusal that passes.
func refusedStatus(w http.ResponseWriter, err error) int {
	status := errs.HTTPStatus(err)
	if secs := retryAfterSeconds(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	return status
}

// toLogin sends someone who is not (or no longer) signed in to the sign-in
// page, coming back to the page they asked for afterwards.
func (u *webUI) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet {
		if r.URL.Path != "/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
	} else if c, err := r.Cookie(u.s.cookieName()); err == nil && c.Value != "" {
		// A form sent after the session ended loses what was typed: say why.
		u.setFlash(w, flash{Kind: "error", Message: "Your session has ended. Sign in again, then repeat what you were doing."})
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination only if it is a path on this
// site, never another site ("//evil.example", "/\evil.example").
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// setPageHeaders applies to every HTML response: pages carry private data
// and must not be cached, framed or allowed to run foreign scripts. There
// is no form-action rule because connecting an account through OAuth
// answers a form with a redirect to the account's server.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
}

// render writes a page. It executes the template fully before writing, so
// a template failure is a clean error rather than half a page.
func (u *webUI) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t := uiPages[page]
	var buf bytes.Buffer
	if t == nil {
		u.s.log.Error("ui: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, page+".html", data); err != nil {
		u.s.log.Error("ui: rendering page", "page", page, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect answers a form with "see other": the browser then GETs target,
// so reloading it does not send the form again.
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// errorView is the error page.
type errorView struct {
	chrome
	Status  int
	Heading string
	Message string
	Back    string
}

// fail shows an error page for err with its status. Internal errors are
// logged and shown without their details.
func (u *webUI) fail(w http.ResponseWriter, r *http.Request, p *Principal, err error) {
	status := errs.HTTPStatus(err)
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	kind := errs.KindOf(err)
	switch {
	case kind == errs.Internal:
		u.s.log.Error("ui request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case status == http.StatusServiceUnavailable:
		u.s.log.Warn("ui request refused: dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	refusedStatus(w, err)
	v := errorView{Status: status, Message: errs.PublicMessage(err), Back: "/"}
	switch kind {
	case errs.NotFound:
		v.Heading = "Not found"
		v.Message = "This page does not exist, or you do not have access to it."
	case errs.Forbidden:
		v.Heading = "Not allowed"
	case errs.Unauthenticated:
		v.Heading = "Sign in first"
		v.Back = "/login"
	case errs.RateLimited:
		v.Heading = "Slow down"
	case errs.Unavailable:
		v.Heading = "Temporarily unavailable"
	case errs.TooLarge:
		v.Heading = "Too large"
	case errs.Internal:
		v.Heading = "Something went wrong"
		v.Message = "Herald could not finish this request. Try again; if it keeps happening, tell your administrator."
	default:
		v.Heading = "That did not work"
	}
	if r.Referer() != "" {
		if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
			v.Back = safeNext(ref.RequestURI())
		}
	}
	v.chrome = u.chrome(w, r, p, v.Heading, "")
	u.render(w, r, status, "error", v)
}

// --- chrome: what every signed-in page shows around its content ---

// chrome is the frame of a page: the top bar (agency, user, bell) and the
// list of workspaces.
type chrome struct {
	Title       string
	User        *Principal
	Agency      string
	Workspaces  []Workspace
	Current     string // the workspace being shown, if any
	Section     string // "dashboard", "workspace" or "notifications"
	Unread      int
	UnreadKnown bool
	CSRF        string
	Flash       *flash
}

// chrome loads the frame for p (nil on public pages) and takes the flash
// message waiting for this page. Parts that cannot be loaded are left out
// rather than failing the page: the bell without a count is still a bell.
func (u *webUI) chrome(w http.ResponseWriter, r *http.Request, p *Principal, title, section string) chrome {
	c := chrome{Title: title, Section: section, Flash: u.takeFlash(w, r)}
	if p == nil {
		return c
	}
	ctx := r.Context()
	c.User, c.CSRF = p, p.CSRFToken
	c.Agency = u.agencyName(ctx, p)
	if ws, err := u.s.ListWorkspaces(ctx, p); err == nil {
		c.Workspaces = ws
	} else {
		u.s.log.Warn("ui: listing workspaces", "err", err)
	}
	// The bell must not hold the page up when Notification is slow.
	bellCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if res, err := u.s.ListNotifications(bellCtx, p, 1, true); err == nil {
		c.Unread, c.UnreadKnown = int(res.GetUnread()), true
	} else {
		u.s.log.Warn("ui: counting unread notifications", "err", err)
	}
	return c
}

// agencyName is the name of the principal's agency, for the top bar.
func (u *webUI) agencyName(ctx context.Context, p *Principal) string {
	var name string
	if err := u.s.db.QueryRow(ctx, `SELECT name FROM portal_agencies WHERE id = ?`, p.AgencyID).Scan(&name); err != nil {
		u.s.log.Warn("ui: loading agency name", "agency_id", p.AgencyID, "err", err)
	}
	return name
}

// --- flash messages ---

// flash is a message for the next page, after a form redirected there.
type flash struct {
	Kind    string `json:"k"` // "success" or "error"
	Message string `json:"m"`
	// Secret is something shown once, with a button to copy it (an
	// invitation link).
	Secret string `json:"s,omitempty"`
	// Expires bounds how long an unread flash can surprise someone later.
	Expires int64 `json:"e"`
}

const flashTTL = 2 * time.Minute

// flashAAD binds sealed flash cookies to their purpose: no other sealed
// value of Portal opens as a flash, nor a flash as anything else.
const flashAAD = "ui-flash"

func (u *webUI) flashCookie() string {
	if u.s.cfg.CookieSecure {
		return "__Host-herald_flash"
	}
	return "herald_flash"
}

// setFlash leaves a message for the next page. The cookie is sealed with
// Portal's key: it may carry a secret (an invitation link), and a planted
// cookie must not put words in Herald's mouth.
func (u *webUI) setFlash(w http.ResponseWriter, f flash) {
	f.Expires = time.Now().Add(flashTTL).Unix()
	js, err := json.Marshal(f)
	if err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: u.flashCookie(), Value: base64.RawURLEncoding.EncodeToString(u.s.keys.seal(string(js), flashAAD)),
		Path: "/", MaxAge: int(flashTTL.Seconds()), HttpOnly: true, Secure: u.s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the waiting message, if any, and removes it.
func (u *webUI) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(u.flashCookie())
	if err != nil || c.Value == "" {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: u.flashCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: u.s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	js, err := u.s.keys.open(sealed, flashAAD)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal([]byte(js), &f) != nil || time.Now().Unix() > f.Expires {
		return nil
	}
	return &f
}

// --- network limits for the composer's character counter ---

// limitCache keeps what Publisher says each network allows: limits change
// with a release, not from one page view to the next.
type limitCache struct {
	mu        sync.Mutex
	byNetwork map[string]cachedLimit
}

type cachedLimit struct {
	chars int
	until time.Time
}

const limitTTL = 10 * time.Minute

// textLimit is the smallest text limit among networks, or 0 when none is
// known (the counter then only counts).
func (u *webUI) textLimit(ctx context.Context, networks []string) int {
	limit := 0
	for _, n := range networks {
		c := u.networkTextLimit(ctx, n)
		if c > 0 && (limit == 0 || c < limit) {
			limit = c
		}
	}
	return limit
}

func (u *webUI) networkTextLimit(ctx context.Context, network string) int {
	now := time.Now()
	u.limits.mu.Lock()
	c, ok := u.limits.byNetwork[network]
	u.limits.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.chars
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Validating an empty text costs Publisher nothing and answers with
	// the network's limits.
	res, err := u.s.publisher.Validate(ctx, &publisherv1.ValidateRequest{Network: network})
	if err != nil {
		u.s.log.Warn("ui: asking Publisher for network limits", "network", network, "err", err)
		return 0
	}
	chars := int(res.GetLimits().GetMaxTextChars())
	u.limits.mu.Lock()
	u.limits.byNetwork[network] = cachedLimit{chars: chars, until: now.Add(limitTTL)}
	u.limits.mu.Unlock()
	return chars
}
