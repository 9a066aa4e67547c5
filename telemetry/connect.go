package telemetry

import (
	"context"
	"errors"
	"strings"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Interceptor traces and counts Connect calls between services, on the
// client and on the handler side. The client sends the caller's trace
// context in the request headers; the handler continues it (or the server
// span HTTPHandler already started from those headers). One span per call,
// named by its procedure (herald.trigger.v1.TriggerService/Schedule).
func Interceptor(tp trace.TracerProvider, m *Metrics) connect.Interceptor {
	return &interceptor{tracer: tracer(tp), metrics: m, prop: Propagator()}
}

type interceptor struct {
	tracer  trace.Tracer
	metrics *Metrics
	prop    propagation.TextMapPropagator
}

// splitProcedure turns "/pkg.Service/Method" into its two labels.
func splitProcedure(p string) (service, method string) {
	p = strings.TrimPrefix(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String()
	}
	return connect.CodeOf(err).String()
}

func (i *interceptor) start(ctx context.Context, procedure string, client bool, header interface {
	Get(string) string
	Set(string, string)
	Values(string) []string
}) (context.Context, trace.Span) {
	kind := trace.SpanKindServer
	if client {
		kind = trace.SpanKindClient
	} else if !trace.SpanContextFromContext(ctx).IsValid() {
		// No server span from HTTPHandler (a handler mounted without it):
		// continue the caller's trace from the headers here.
		ctx = i.prop.Extract(ctx, headerCarrier{header})
	}
	service, method := splitProcedure(procedure)
	ctx, span := i.tracer.Start(ctx, service+"/"+method, trace.WithSpanKind(kind),
		trace.WithAttributes(attribute.String("rpc.system", "connect_rpc"),
			attribute.String("rpc.service", service), attribute.String("rpc.method", method)))
	if client {
		i.prop.Inject(ctx, headerCarrier{header})
	}
	return ctx, span
}

func (i *interceptor) end(span trace.Span, procedure string, client bool, began time.Time, err error) {
	code := codeOf(err)
	span.SetAttributes(attribute.String("rpc.connect_rpc.error_code", code))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	if i.metrics != nil {
		side := "server"
		if client {
			side = "client"
		}
		service, method := splitProcedure(procedure)
		i.metrics.rpcCalls.WithLabelValues(side, service, method, code).Inc()
		i.metrics.rpcDuration.WithLabelValues(side, service, method).Observe(time.Since(began).Seconds())
	}
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		began := time.Now()
		client := req.Spec().IsClient
		ctx, span := i.start(ctx, req.Spec().Procedure, client, req.Header())
		res, err := next(ctx, req)
		i.end(span, req.Spec().Procedure, client, began, err)
		return res, err
	}
}

// WrapStreamingClient only sends the trace context: the stream's span would
// last as long as the stream (the notification stream lives for hours).
func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		i.prop.Inject(ctx, headerCarrier{conn.RequestHeader()})
		return conn
	}
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		began := time.Now()
		ctx, span := i.start(ctx, conn.Spec().Procedure, false, conn.RequestHeader())
		err := next(ctx, conn)
		i.end(span, conn.Spec().Procedure, false, began, err)
		return err
	}
}

// headerCarrier adapts http.Header (behind an interface, so both request
// and stream headers fit) to the propagator.
type headerCarrier struct {
	h interface {
		Get(string) string
		Set(string, string)
		Values(string) []string
	}
}

func (c headerCarrier) Get(k string) string { return c.h.Get(k) }
func (c headerCarrier) Set(k, v string)     { c.h.Set(k, v) }
func (c headerCarrier) Keys() []string      { return nil }
