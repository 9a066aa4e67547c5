package amqp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/id"
)

// Both benchmarks push the same events through the same broker the same
// way (brokertest.Run); their msgs/s ratio is the adapter's cost.
//
//	go test -run '^$' -bench . -benchtime 20000x ./bus/amqp/

// BenchmarkBus: Publish -> exchange -> quorum queue -> Subscribe handler,
// through the adapter.
func BenchmarkBus(b *testing.B) {
	bs := open(b)
	topic := "bench." + strings.ToLower(id.New("t"))
	brokertest.Run(b, brokertest.Pipeline{
		Publish: func(ctx context.Context, payloads [][]byte) error {
			msgs := make([]*bus.Message, len(payloads))
			for i, p := range payloads {
				msgs[i] = &bus.Message{ID: id.New("evt"), Topic: topic, Payload: p}
			}
			return bs.Publish(ctx, msgs...)
		},
		Subscribe: func(ctx context.Context, deliver func([]byte)) (func(), error) {
			sub, err := bs.Subscribe(ctx, topic, "bench", func(_ context.Context, m *bus.Message) error {
				deliver(m.Payload)
				return nil
			}, bus.WithConcurrency(brokertest.BenchConcurrency))
			if err != nil {
				return nil, err
			}
			return func() { _ = sub.Close() }, nil
		},
	})
}

// BenchmarkRawClient: the same path with amqp091-go alone: persistent
// messages published with confirms awaited per batch, to the same exchange;
// one quorum queue; a consumer with the adapter's prefetch, manual acks, the
// handler run inline.
func BenchmarkRawClient(b *testing.B) {
	open(b).Close() // makes sure the test exchange exists
	conn, err := amqp091.Dial(server(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pub, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}
	topic := "bench." + strings.ToLower(id.New("t"))
	brokertest.Run(b, brokertest.Pipeline{
		Publish: func(ctx context.Context, payloads [][]byte) error {
			confirms := make([]*amqp091.DeferredConfirmation, len(payloads))
			for i, p := range payloads {
				dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "herald_test", topic, false, false, amqp091.Publishing{
					DeliveryMode: amqp091.Persistent,
					MessageId:    id.New("evt"),
					Body:         p,
				})
				if err != nil {
					return err
				}
				confirms[i] = dc
			}
			for _, dc := range confirms {
				if ok, err := dc.WaitContext(ctx); err != nil || !ok {
					return errors.Join(err, errors.New("not confirmed"))
				}
			}
			return nil
		},
		Subscribe: func(ctx context.Context, deliver func([]byte)) (func(), error) {
			ch, err := conn.Channel()
			if err != nil {
				return nil, err
			}
			q, err := ch.QueueDeclare("heraldtest.raw-"+strings.ToLower(id.New("q")), true, false, false, false, amqp091.Table{"x-queue-type": "quorum", "x-expires": int64(600000)})
			if err == nil {
				err = ch.QueueBind(q.Name, topic, "herald_test", false, nil)
			}
			if err == nil {
				err = ch.Qos(brokertest.BenchConcurrency, 0, false)
			}
			var deliveries <-chan amqp091.Delivery
			if err == nil {
				deliveries, err = ch.Consume(q.Name, "", false, false, false, false, nil)
			}
			if err != nil {
				_ = ch.Close()
				return nil, err
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for d := range deliveries {
					deliver(d.Body)
					_ = d.Ack(false)
				}
			}()
			return func() { _ = ch.Close(); <-done }, nil
		},
	})
}
