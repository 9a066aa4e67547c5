package telemetry

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// HTTPHandler wraps a node's handler: a server span per request, continuing
// a trace the caller sent, and the request counted in m. Both are named by
// the route pattern the ServeMux matched (GET /api/v1/posts/{id}), never by
// the raw path: ids in paths would make every span name and metric series
// unique. A request no pattern matched is "unmatched".
func HTTPHandler(next http.Handler, tp trace.TracerProvider, m *Metrics) http.Handler {
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		// Nested ServeMuxes (the node's, then Portal's) each set Pattern on
		// the request they are given, so the innermost, most precise one is
		// left here once the handler returns.
		// otelhttp renames the span by the formatter below once Pattern is
		// set.
		route := routeOf(r)
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
		if sw, ok := r.Context().Value(statusKey{}).(*statusWriter); ok {
			sw.route = route
		}
	})
	traced := otelhttp.NewHandler(named, "http.server",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern == "" { // at the start, before routing
				return r.Method
			}
			return r.Method + " " + routeOf(r)
		}),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, route: "unmatched"}
		// otelhttp wraps the writer again: the inner handler finds ours
		// through the context to hand back the route.
		traced.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), statusKey{}, sw)))
		if m != nil {
			method := methodLabel(r.Method)
			m.httpRequests.WithLabelValues(sw.route, method, statusClass(sw.status())).Inc()
			m.httpDuration.WithLabelValues(sw.route, method).Observe(time.Since(start).Seconds())
		}
	})
}

// routeOf is the path part of the matched pattern ("GET /x/{id}" gives
// "/x/{id}"; the method is a label of its own).
func routeOf(r *http.Request) string {
	p := r.Pattern
	if p == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = strings.TrimSpace(p[i+1:])
	}
	return p
}

type statusKey struct{}

// statusWriter remembers the response status. It unwraps for
// http.ResponseController and flushes, so streams (the notification
// stream, gRPC) still work through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	route string
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
