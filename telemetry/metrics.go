package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one node's Prometheus registry and the instruments Herald's
// shared layers (HTTP, RPC, bus) record into. Each node has its own
// registry, not the process-wide default, so nodes built side by side in
// one process (tests) do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	rpcCalls     *prometheus.CounterVec
	rpcDuration  *prometheus.HistogramVec
	busPublished *prometheus.CounterVec
	busConsumed  *prometheus.CounterVec
	busDuration  *prometheus.HistogramVec
}

// NewMetrics returns a registry holding the Go runtime and process
// collectors and Herald's HTTP, RPC and bus instruments.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status class.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		rpcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_rpc_calls_total",
			Help: "Connect/gRPC calls between services, by side (client or server), service, method and code.",
		}, []string{"side", "service", "method", "code"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_rpc_call_duration_seconds",
			Help:    "Duration of Connect/gRPC calls between services.",
			Buckets: prometheus.DefBuckets,
		}, []string{"side", "service", "method"}),
		busPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_bus_published_total",
			Help: "Messages handed to the event bus, by topic and outcome (ok, error).",
		}, []string{"topic", "outcome"}),
		busConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_bus_consumed_total",
			Help: "Messages handled from the event bus, by topic and outcome (ok, error: redelivered later).",
		}, []string{"topic", "outcome"}),
		busDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_bus_consume_duration_seconds",
			Help:    "Time a consumer took to handle one message, by topic.",
			Buckets: prometheus.DefBuckets,
		}, []string{"topic"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.rpcCalls, m.rpcDuration,
		m.busPublished, m.busConsumed, m.busDuration,
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Published counts n messages of topic handed to the bus.
func (m *Metrics) Published(topic string, n int, err error) {
	m.busPublished.WithLabelValues(topic, outcome(err)).Add(float64(n))
}

func (m *Metrics) consumed(topic string, took time.Duration, err error) {
	m.busConsumed.WithLabelValues(topic, outcome(err)).Inc()
	m.busDuration.WithLabelValues(topic).Observe(took.Seconds())
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// statusClass keeps the code label to five values: 2xx, 3xx, ...
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// knownMethods bounds the method label: any other is "other", so a client
// inventing methods cannot grow the series without limit.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}
