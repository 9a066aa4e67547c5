package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/admission"
	"github.com/heraldhq/herald/config"
)

// Admission control (docs/decisions/0025-admission-control.md): every
// request passes the node's adaptive concurrency limit before the mux.
// Calls between services and probes are critical (never refused), so a
// saturated node still hands Publishers their due posts; the public API and
// UI are refused first, browsing (GET) before changes. Long-lived streams
// are not counted: one would hold a slot for hours.

// requestClass is how the node weighs one request.
type requestClass struct {
	priority admission.Priority
	stream   bool // exempt: counted on its own
}

// classify sorts a request by path and method; it must stay cheap.
func classify(r *http.Request) requestClass {
	p := r.URL.Path
	switch {
	case p == StreamPath || strings.HasSuffix(p, "/notifications/stream") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		return requestClass{stream: true}
	case p == "/healthz" || p == "/readyz" || p == "/metrics" || p == TopologyPath || p == NodeTopologyPath:
		// Probes and the operators' view: most wanted when the node is
		// saturated. The topology paths refuse a caller without the
		// internal token before doing work.
		return requestClass{priority: admission.Critical}
	case strings.HasPrefix(p, "/herald."):
		// Connect and gRPC procedures (/herald.portal.v1.PortalService/...):
		// only callers holding the internal token get past their handler.
		return requestClass{priority: admission.Critical}
	case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions:
		return requestClass{priority: admission.Low}
	default:
		return requestClass{priority: admission.Normal}
	}
}

// admitter is the node's admission middleware and its numbers.
type admitter struct {
	lim     *admission.Limiter
	streams atomic.Int64
}

func newAdmitter(l config.Limits) *admitter {
	return &admitter{lim: admission.New(admission.Config{
		Min: l.MinConcurrency, Max: l.MaxConcurrency,
		QueueSize: l.QueueSize, QueueTimeout: l.QueueTimeout,
	})}
}

func (a *admitter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := classify(r)
		if c.stream {
			a.streams.Add(1)
			defer a.streams.Add(-1)
			next.ServeHTTP(w, r)
			return
		}
		tok, err := a.lim.Acquire(r.Context(), c.priority)
		if err != nil {
			if errors.Is(err, admission.ErrShed) {
				a.refuse(w, r)
			}
			return // the client left while waiting: nobody to answer
		}
		defer tok.Done()
		next.ServeHTTP(w, r)
	})
}

// refuse answers work the node cannot take now: 503 with Retry-After, in
// the API's error shape for /api/, a short page for the UI.
func (a *admitter) refuse(w http.ResponseWriter, r *http.Request) {
	secs := int(a.lim.RetryAfter().Seconds())
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	w.Header().Set("Cache-Control", "no-store")
	const msg = "Herald is busy right now; please retry shortly."
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"kind": "unavailable", "message": msg}})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("<!doctype html><html><head><title>Busy</title><meta http-equiv=\"refresh\" content=\"" +
		strconv.Itoa(max(secs, 1)) + "\"></head><body><h1>Busy</h1><p>" + msg + "</p></body></html>\n"))
}

// saturated backs readiness: a node refusing work for a while asks its
// load balancer to route around it; it is ready again once it stops.
func (a *admitter) saturated() bool { return a != nil && a.lim.Saturated() }

var (
	admLimit    = prometheus.NewDesc("herald_admission_limit", "The adaptive concurrency limit of this node's HTTP requests now.", nil, nil)
	admInFlight = prometheus.NewDesc("herald_admission_in_flight", "Requests admitted and running now (streams apart).", nil, nil)
	admQueued   = prometheus.NewDesc("herald_admission_queued", "Requests waiting for a slot now.", nil, nil)
	admStreams  = prometheus.NewDesc("herald_admission_streams", "Long-lived streams open now (not counted against the limit).", nil, nil)
	admShed     = prometheus.NewDesc("herald_admission_shed_total", "Requests refused with 503, by class: low (browsing), normal (changes); critical is never refused.", []string{"class"}, nil)
	admBaseline = prometheus.NewDesc("herald_admission_baseline_seconds", "The unloaded latency the limit compares against.", nil, nil)
	admSat      = prometheus.NewDesc("herald_admission_saturated", "1 while the node has been refusing requests for a while (readiness fails).", nil, nil)
)

func (a *admitter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{admLimit, admInFlight, admQueued, admStreams, admShed, admBaseline, admSat} {
		ch <- d
	}
}

func (a *admitter) Collect(ch chan<- prometheus.Metric) {
	s := a.lim.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(admLimit, float64(s.Limit))
	gauge(admInFlight, float64(s.InFlight))
	gauge(admQueued, float64(s.Queued))
	gauge(admStreams, float64(a.streams.Load()))
	gauge(admBaseline, s.Baseline.Seconds())
	sat := 0.0
	if a.lim.Saturated() {
		sat = 1
	}
	gauge(admSat, sat)
	for _, p := range []admission.Priority{admission.Low, admission.Normal} {
		ch <- prometheus.MustNewConstMetric(admShed, prometheus.CounterValue, float64(s.Shed[p]), p.String())
	}
}

// admission puts the admission control in front of h (when
// limits.admission is on) and registers its metrics.
func (n *Node) admission(h http.Handler) http.Handler {
	if !n.cfg.Limits.Admission {
		return h
	}
	n.admit = newAdmitter(n.cfg.Limits)
	n.metrics.Registry.MustRegister(n.admit)
	return n.admit.wrap(h)
}
