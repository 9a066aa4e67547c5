package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/telemetry"
)

// Spans and series are named by the innermost matched pattern, never the
// path with its ids; a streaming handler can still flush through the
// wrapper.
func TestHTTPHandlerNamesByRoute(t *testing.T) {
	t.Parallel()
	rec, tp := recorded(t)
	m := telemetry.NewMetrics()
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/v1/posts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	})
	inner.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flushing through the wrapper: %v", err)
		}
	})
	outer := http.NewServeMux()
	outer.Handle("/", inner)
	srv := httptest.NewServer(telemetry.HTTPHandler(outer, tp, m))
	defer srv.Close()
	for _, p := range []string{"/api/v1/posts/post_01HZX", "/stream"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			names[s.Name()] = true
		}
	}
	if !names["GET /api/v1/posts/{id}"] || !names["GET /stream"] {
		t.Errorf("server spans %v, want them named by route pattern", names)
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fams {
		if f.GetName() != "herald_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "/api/v1/posts/{id}" && labels["code"] == "4xx" && labels["method"] == "GET" {
				found = true
			}
			if labels["route"] == "/api/v1/posts/post_01HZX" {
				t.Errorf("a series is labelled with the raw path: %v", labels)
			}
		}
	}
	if !found {
		t.Error("no herald_http_requests_total{route=/api/v1/posts/{id},method=GET,code=4xx}")
	}
}
