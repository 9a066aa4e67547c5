package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/config"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
)

// syncBuffer is a log destination safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type tracedNode struct {
	n    *Node
	rec  *tracetest.SpanRecorder
	logs *syncBuffer
}

// startTracedNode runs every service on one node, but reaches Trigger over
// the gRPC transport at the node's own address, so Portal's calls to it
// cross a real network hop; spans are recorded in memory.
func startTracedNode(t *testing.T, extraEnv ...string) *tracedNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := "http://" + ln.Addr().String()
	env := append([]string{
		"HERALD_DATA_DIR=" + t.TempDir(),
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_INTERNAL_TOKEN=telemetry-test",
		"HERALD_SERVICES__TRIGGER__TRANSPORT=grpc",
		"HERALD_SERVICES__TRIGGER__URL=" + self,
	}, extraEnv...)
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	logs := new(syncBuffer)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(t.Context(), cfg, log, WithListener(ln), WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return &tracedNode{n: n, rec: rec, logs: logs}
}

// api is a browser-like client of the node's REST API.
type api struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (a *api) call(method, path string, body any, header http.Header, want int) map[string]any {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func findSpan(spans []sdktrace.ReadOnlySpan, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name && s.SpanKind() == kind {
			return s
		}
	}
	return nil
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind().String()+" "+s.Name()+" "+s.SpanContext().TraceID().String())
	}
	return out
}

const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// A trace begun by the caller of a Portal API request continues in the
// node's HTTP span (named by route pattern), in the Connect client span of
// Portal's call to Trigger and in Trigger's server span across the gRPC
// hop: one trace id throughout, each span the child of the one before.
func TestTraceFollowsPortalCallToTrigger(t *testing.T) {
	tn := startTracedNode(t)
	jar, _ := cookiejar.New(nil)
	a := &api{t: t, base: tn.n.URL(), hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	sess := a.call(http.MethodPost, "/api/v1/setup", map[string]any{"agency_name": "Traced", "name": "Owner", "email": "owner@example.com", "password": "correct horse battery"}, nil, http.StatusCreated)
	a.csrf, _ = sess["csrf_token"].(string)
	ws := a.call(http.MethodPost, "/api/v1/workspaces", map[string]any{"name": "Client", "timezone": "UTC"}, nil, http.StatusCreated)
	wsID, _ := ws["id"].(string)

	h := http.Header{"Traceparent": {"00-" + callerTrace + "-00f067aa0ba902b7-01"}}
	a.call(http.MethodGet, "/api/v1/workspaces/"+wsID+"/queues", nil, h, http.StatusOK)

	var spans []sdktrace.ReadOnlySpan
	for _, s := range tn.rec.Ended() {
		if s.SpanContext().TraceID().String() == callerTrace {
			spans = append(spans, s)
		}
	}
	httpSpan := findSpan(spans, "GET /api/v1/workspaces/{id}/queues", trace.SpanKindServer)
	client := findSpan(spans, "herald.trigger.v1.TriggerService/ListQueues", trace.SpanKindClient)
	server := findSpan(spans, "herald.trigger.v1.TriggerService/ListQueues", trace.SpanKindServer)
	if httpSpan == nil || client == nil || server == nil {
		t.Fatalf("spans of trace %s: %v; want the API route's server span, and Trigger's ListQueues as client and server", callerTrace, spanNames(tn.rec.Ended()))
	}
	if got := httpSpan.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("the API span's parent is %s, want the caller's span", got)
	}
	// The server span's parent is the HTTP span of the gRPC request, whose
	// parent is the client span: the hop carried the context.
	var hop sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().SpanID() == server.Parent().SpanID() {
			hop = s
		}
	}
	if hop == nil || hop.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Errorf("Trigger's span does not descend from Portal's client span: %v", spanNames(spans))
	}
	if strings.Contains(httpSpan.Name(), wsID) {
		t.Errorf("span name %q holds an id", httpSpan.Name())
	}
}

// An event written by a transaction inside a span is handled, on the far
// side of the outbox and the bus, inside a consumer span of the same
// trace, and what the consumer logs names that trace.
func TestTraceFollowsEventThroughOutbox(t *testing.T) {
	tn := startTracedNode(t)
	const topic = "telemetry.test"
	db := tn.n.db(config.Trigger)
	ob := outbox.New(db, "obstest_", tn.n.gate, tn.n.log)
	if err := ob.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		span trace.SpanContext
		id   string
	}
	got := make(chan seen, 1)
	sub, err := tn.n.gate.Subscribe(t.Context(), topic, "test", func(ctx context.Context, m *bus.Message) error {
		tn.n.log.InfoContext(ctx, "handled the test event", "id", m.ID)
		got <- seen{trace.SpanContextFromContext(ctx), m.ID}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	rctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ctx, span := tn.n.tp.Tracer("test").Start(t.Context(), "change")
	var eid string
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		eid, err = ob.Add(ctx, tx, topic, wrapperspb.String("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	span.End()
	var s seen
	select {
	case s = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the event was not handled")
	}
	if s.id != eid || s.span.TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("handled %s in trace %s, want %s in trace %s", s.id, s.span.TraceID(), eid, span.SpanContext().TraceID())
	}
	consumer := findSpan(tn.rec.Ended(), topic+" process", trace.SpanKindConsumer)
	if consumer == nil || consumer.Parent().SpanID() != span.SpanContext().SpanID() {
		t.Errorf("no consumer span child of the producing span: %v", spanNames(tn.rec.Ended()))
	}
	var line string
	for _, l := range strings.Split(tn.logs.String(), "\n") {
		if strings.Contains(l, "handled the test event") {
			line = l
		}
	}
	var rec map[string]any
	_ = json.Unmarshal([]byte(line), &rec)
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["span_id"] != s.span.SpanID().String() {
		t.Errorf("log record %q does not name trace %s span %s", line, span.SpanContext().TraceID(), s.span.SpanID())
	}
}

func scrape(t *testing.T, url string, header http.Header) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return res.StatusCode, families
}

// /metrics serves every family the topology view and operators read.
func TestMetricsExposeTheFamilies(t *testing.T) {
	tn := startTracedNode(t)
	base := tn.n.URL()
	// Some traffic: an HTTP request, an RPC over the gRPC hop, a cache read.
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// A call to Trigger without the internal token: refused, and counted.
	tc := triggerv1connect.NewTriggerServiceClient(http.DefaultClient, base)
	if _, err := tc.ListQueues(t.Context(), &triggerv1.ListQueuesRequest{TenantId: "agency_x"}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a call without the token: %v, want unauthenticated", err)
	}
	if _, _, err := tn.n.Cache.Get(t.Context(), "absent"); err != nil {
		t.Fatal(err)
	}
	// A publish and a consume through the gate.
	handled := make(chan struct{}, 1)
	sub, err := tn.n.gate.Subscribe(t.Context(), "metrics.test", "test", func(context.Context, *bus.Message) error {
		handled <- struct{}{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := tn.n.gate.Publish(t.Context(), &bus.Message{ID: "evt_metrics", Topic: "metrics.test"}); err != nil {
		t.Fatal(err)
	}
	<-handled

	code, fams := scrape(t, base+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d", code)
	}
	for _, name := range []string{
		"go_goroutines", "process_cpu_seconds_total",
		"herald_http_requests_total", "herald_http_request_duration_seconds",
		"herald_bus_published_total", "herald_bus_consumed_total", "herald_bus_consume_duration_seconds",
		"herald_outbox_pending", "herald_cache_gets_total", "herald_node_info",
		"herald_trigger_fired_total", "herald_trigger_stale_total", "herald_trigger_fenced_total",
		"herald_trigger_in_memory", "herald_trigger_owned_shards", "herald_trigger_lateness_seconds",
		"herald_trigger_lateness_max_seconds", "herald_trigger_feed_polls_total",
	} {
		if fams[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if got := labelled(fams["herald_http_requests_total"], map[string]string{"route": "/healthz", "method": "GET", "code": "2xx"}); got != 1 {
		t.Errorf("herald_http_requests_total{route=/healthz,method=GET,code=2xx} = %v, want 1", got)
	}
	if got := labelled(fams["herald_rpc_calls_total"], map[string]string{"side": "server", "service": "herald.trigger.v1.TriggerService", "method": "ListQueues", "code": "unauthenticated"}); got != 1 {
		t.Errorf("herald_rpc_calls_total for the refused call = %v, want 1", got)
	}
	if fams["herald_rpc_call_duration_seconds"] == nil {
		t.Error("/metrics has no herald_rpc_call_duration_seconds")
	}
	if got := labelled(fams["herald_cache_gets_total"], map[string]string{"name": "port", "result": "miss"}); got != 1 {
		t.Errorf("herald_cache_gets_total{name=port,result=miss} = %v, want 1", got)
	}
	// The kinds Portal reads through the cache have series from the start.
	for _, kind := range []string{"portal.post_lists", "portal.accounts"} {
		if got := labelled(fams["herald_cache_gets_total"], map[string]string{"name": kind, "result": "hit"}); got != 0 {
			t.Errorf("herald_cache_gets_total{name=%s,result=hit} = %v, want 0", kind, got)
		}
	}
	if got := labelled(fams["herald_bus_consumed_total"], map[string]string{"topic": "metrics.test", "outcome": "ok"}); got != 1 {
		t.Errorf("herald_bus_consumed_total{topic=metrics.test,outcome=ok} = %v, want 1", got)
	}
	services := map[string]bool{}
	for _, m := range fams["herald_outbox_pending"].GetMetric() {
		for _, l := range m.GetLabel() {
			services[l.GetValue()] = true
		}
	}
	for _, s := range config.AllServices {
		if !services[s] {
			t.Errorf("herald_outbox_pending has no series for %s: %v", s, services)
		}
	}
}

// labelled is the value of the series of f whose labels include want
// (a counter's, or a histogram's sample count).
func labelled(f *dto.MetricFamily, want map[string]string) float64 {
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// With metrics.token set, /metrics answers only a scraper that sends it.
func TestMetricsToken(t *testing.T) {
	tn := startTracedNode(t, "HERALD_METRICS__TOKEN=scrape-me")
	if code, _ := scrape(t, tn.n.URL()+"/metrics", nil); code != http.StatusUnauthorized {
		t.Errorf("without the token: status %d, want 401", code)
	}
	if code, fams := scrape(t, tn.n.URL()+"/metrics", http.Header{"Authorization": {"Bearer scrape-me"}}); code != http.StatusOK || fams["go_goroutines"] == nil {
		t.Errorf("with the token: status %d", code)
	}
}
