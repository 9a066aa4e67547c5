package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/bus"
)

// Consume wraps a subscription's handler: each message is handled inside a
// consumer span that continues the trace its metadata carries (written by
// the outbox from the producing transaction), and counted in m by topic and
// outcome. The handler's ctx carries the span, so what it logs, calls and
// publishes joins the same trace.
func Consume(h bus.Handler, group string, tp trace.TracerProvider, m *Metrics) bus.Handler {
	t := tracer(tp)
	prop := Propagator()
	return func(ctx context.Context, msg *bus.Message) error {
		began := time.Now()
		if len(msg.Metadata) > 0 {
			ctx = prop.Extract(ctx, propagation.MapCarrier(msg.Metadata))
		}
		ctx, span := t.Start(ctx, msg.Topic+" process", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", msg.Topic),
				attribute.String("messaging.consumer.group.name", group),
				attribute.String("messaging.message.id", msg.ID),
				attribute.Int("messaging.delivery", msg.Delivery),
			))
		err := h(ctx, msg)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if m != nil {
			m.consumed(msg.Topic, time.Since(began), err)
		}
		return err
	}
}
