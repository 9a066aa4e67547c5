package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/bus"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/telemetry"
)

func recorded(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp
}

// A record logged inside a span names it; one logged outside does not, and
// handlers derived with attributes or groups keep doing so.
func TestLogHandlerAddsTraceIDs(t *testing.T) {
	t.Parallel()
	_, tp := recorded(t)
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "trigger")
	ctx, span := tp.Tracer("test").Start(context.Background(), "work")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 records, got %q", buf.String())
	}
	var in, out map[string]any
	_ = json.Unmarshal(lines[0], &in)
	_ = json.Unmarshal(lines[1], &out)
	sc := span.SpanContext()
	if in["trace_id"] != sc.TraceID().String() || in["span_id"] != sc.SpanID().String() || in["service"] != "trigger" {
		t.Errorf("record inside the span: %s, want trace_id %s span_id %s and service", lines[0], sc.TraceID(), sc.SpanID())
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("record outside any span names a trace: %s", lines[1])
	}
	if h := telemetry.LogHandler(log.Handler()); h != log.Handler() {
		t.Error("wrapping twice should not add the ids twice")
	}
}

// Spans go to the configured OTLP/HTTP collector, at /v1/traces when the
// endpoint names no path.
func TestTracerProviderExportsOverOTLP(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	tp, err := telemetry.NewTracerProvider(t.Context(), telemetry.Config{ServiceName: "herald-test", NodeID: "n1", OTLPEndpoint: collector.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "exported")
	span.End()
	if err := tp.ForceFlush(t.Context()); err != nil {
		t.Fatalf("flushing: %v", err)
	}
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Error("the collector received no spans at /v1/traces")
	}
	if _, err := telemetry.NewTracerProvider(t.Context(), telemetry.Config{OTLPEndpoint: "collector:4318"}); err == nil {
		t.Error("an endpoint that is not a URL was accepted")
	}
}

// Without an HTTP server span in front (a handler mounted bare), the
// handler side of the interceptor continues the caller's trace from the
// headers the client side sent, and both sides count the call.
func TestInterceptorCarriesTraceContext(t *testing.T) {
	t.Parallel()
	rec, tp := recorded(t)
	m := telemetry.NewMetrics()
	mux := http.NewServeMux()
	mux.Handle(triggerv1connect.NewTriggerServiceHandler(triggerv1connect.UnimplementedTriggerServiceHandler{},
		connect.WithInterceptors(telemetry.Interceptor(tp, m))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := triggerv1connect.NewTriggerServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(telemetry.Interceptor(tp, m)))

	ctx, root := tp.Tracer("test").Start(t.Context(), "portal call")
	_, err := client.ListQueues(ctx, &triggerv1.ListQueuesRequest{})
	root.End()
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("ListQueues: %v, want unimplemented", err)
	}
	var cs, ss sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindClient:
			cs = s
		case trace.SpanKindServer:
			ss = s
		}
	}
	if cs == nil || ss == nil {
		t.Fatalf("want a client and a server span, got %d spans", len(rec.Ended()))
	}
	if cs.Parent().SpanID() != root.SpanContext().SpanID() || ss.Parent().SpanID() != cs.SpanContext().SpanID() {
		t.Errorf("spans do not chain root -> client -> server")
	}
	if ss.Name() != "herald.trigger.v1.TriggerService/ListQueues" {
		t.Errorf("server span %q, want the procedure", ss.Name())
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, f := range fams {
		if f.GetName() == "herald_rpc_calls_total" {
			for _, s := range f.GetMetric() {
				calls += int(s.GetCounter().GetValue())
			}
		}
	}
	if calls != 2 {
		t.Errorf("herald_rpc_calls_total sums to %d, want 2 (client and server)", calls)
	}
}

// A consumer handles a message inside a span whose parent is the one its
// metadata names; a message without metadata starts a trace of its own.
func TestConsumeContinuesTheEventsTrace(t *testing.T) {
	t.Parallel()
	telemetry.InstallPropagator()
	rec, tp := recorded(t)
	var got trace.SpanContext
	h := telemetry.Consume(func(ctx context.Context, m *bus.Message) error {
		got = trace.SpanContextFromContext(ctx)
		return nil
	}, "group", tp, telemetry.NewMetrics())
	md := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	if err := h(t.Context(), &bus.Message{ID: "evt_1", Topic: "post.due", Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("handled in trace %s, want the event's", got.TraceID())
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "post.due process" || spans[0].Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("want one consumer span child of the event's span, got %v", spans)
	}
	if err := h(t.Context(), &bus.Message{ID: "evt_2", Topic: "post.due"}); err != nil {
		t.Fatal(err)
	}
	if !got.IsValid() || got.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("a message without metadata should start its own trace, got %v", got)
	}
}
