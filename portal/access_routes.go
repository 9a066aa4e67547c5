package portal

import (
	"net/http"
	"strings"
)

// routeKind is how a route authenticates, which decides what the access
// matrix test expects of it.
type routeKind string

const (
	// kindRaw: a handler without one of the wrappers below (static files,
	// public media): no sign-in, never a state change.
	kindRaw routeKind = "raw"
	// kindPublic: no sign-in; state changes must be same-origin.
	kindPublic routeKind = "public"
	// kindAuthed: an API principal (session or token); state changes by
	// session need the CSRF token.
	kindAuthed routeKind = "authed"
	// kindPage: a page of a signed-in browser; forms need the CSRF token.
	kindPage routeKind = "page"
	// kindFragment: a piece of a page fetched by its script (GET only).
	kindFragment routeKind = "fragment"
	// kindReviewer: a client review page (review link or client approver).
	kindReviewer routeKind = "reviewer"
)

// kindHandler is a handler that knows its kind, so the router can record
// it without every call site saying so.
type kindHandler struct {
	http.Handler
	kind routeKind
}

func withKind(kind routeKind, f http.HandlerFunc) http.Handler {
	return kindHandler{Handler: f, kind: kind}
}

// route is one registered pattern.
type route struct {
	Method  string
	Path    string
	Kind    routeKind
	Pattern string
}

// routeMux is Portal's router: an http.ServeMux that also remembers what
// was registered, so tests can enumerate every route (the access matrix,
// the OpenAPI document's coverage) and none can be added unseen.
type routeMux struct {
	*http.ServeMux
	routes []route
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	kind := kindRaw
	if k, ok := h.(kindHandler); ok {
		kind = k.kind
	}
	method, path, _ := strings.Cut(pattern, " ")
	m.routes = append(m.routes, route{Method: method, Path: path, Kind: kind, Pattern: pattern})
}

func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// registeredRoutes lists every route of s's handler, built afresh.
func (s *Service) registeredRoutes() []route {
	m := newRouteMux()
	s.routes(m)
	return m.routes
}
