// Package telemetry is how a Herald node explains itself: OpenTelemetry
// traces that follow a post across services and transports, Prometheus
// metrics on /metrics, and log records that name the trace they belong to.
//
// Traces cross process boundaries two ways: Connect calls carry the W3C
// trace context in their headers (Interceptor), and events carry it in the
// bus message's metadata, written by the outbox from the transaction's
// context and turned back into a parent span where a consumer handles the
// message (Consume). Spans are exported over OTLP/HTTP when an endpoint is
// configured; without one they are still made, so log records carry trace
// ids that tie one post's lines together across nodes.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config chooses where spans go.
type Config struct {
	// ServiceName is the service.name resource attribute ("herald").
	ServiceName string
	// NodeID is the service.instance.id resource attribute.
	NodeID string
	// OTLPEndpoint is an OTLP/HTTP collector (http://collector:4318); the
	// path defaults to /v1/traces. Empty: spans are made but not exported.
	OTLPEndpoint string
	// SampleRatio is the share of new traces kept, 0 to 1 (a trace begun
	// elsewhere follows its parent's decision).
	SampleRatio float64
}

// Propagator is the trace context format on the wire: W3C traceparent and
// baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

var installOnce sync.Once

// InstallPropagator makes Propagator the process's propagator, which code
// without a telemetry dependency (the outbox) injects with. It is the same
// for every node in a process, so installing it more than once is harmless.
func InstallPropagator() {
	installOnce.Do(func() { otel.SetTextMapPropagator(Propagator()) })
}

// NewTracerProvider builds the tracer provider cfg describes. Shutdown
// flushes spans not yet exported.
func NewTracerProvider(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, error) {
	name := cfg.ServiceName
	if name == "" {
		name = "herald"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.NodeID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.NodeID))
	}
	// Not resource.Default(): its schema URL may differ from ours and
	// merging would fail for no benefit.
	res := sdkresource.NewSchemaless(attrs...)
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	}
	if cfg.OTLPEndpoint != "" {
		endpoint, err := tracesURL(cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry.otlp_endpoint: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// tracesURL completes a collector's base URL with the OTLP traces path.
func tracesURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("telemetry.otlp_endpoint: want an http(s) URL such as http://collector:4318")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// TracerName names the instrumentation in every span Herald makes.
const TracerName = "github.com/heraldhq/herald/telemetry"

func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(TracerName)
}
