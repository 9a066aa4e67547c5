package nats_test

import (
	"context"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/id"
)

// Both benchmarks push the same events through the same server the same
// way (brokertest.Measure); their msgs/s ratio is the adapter's cost.
//
//	go test -run '^$' -bench . -benchtime 20000x ./bus/nats/

// BenchmarkBus: Publish -> JetStream -> Subscribe handler, through the
// adapter.
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

// BenchmarkRawClient: the same path with nats.go's jetstream package alone:
// async publishes awaited per batch, a durable pull consumer pulling as many
// as the adapter's subscriber may handle at once (with the adapter's pull
// expiry and heartbeat), explicit acks, the handler run inline.
func BenchmarkRawClient(b *testing.B) {
	nc, err := natsgo.Connect(server(b))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	open(b).Close() // makes sure the test stream exists
	subject := "heraldtestlimits.bench." + strings.ToLower(id.New("t"))
	brokertest.Run(b, brokertest.Pipeline{
		Publish: func(ctx context.Context, payloads [][]byte) error {
			futures := make([]jetstream.PubAckFuture, len(payloads))
			for i, p := range payloads {
				f, err := js.PublishMsgAsync(&natsgo.Msg{Subject: subject, Data: p}, jetstream.WithMsgID(id.New("evt")))
				if err != nil {
					return err
				}
				futures[i] = f
			}
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		},
		Subscribe: func(ctx context.Context, deliver func([]byte)) (func(), error) {
			cons, err := js.CreateOrUpdateConsumer(ctx, "HERALD_TEST_LIMITS", jetstream.ConsumerConfig{
				Durable:           "raw-" + strings.ToLower(id.New("c")),
				FilterSubject:     subject,
				AckPolicy:         jetstream.AckExplicitPolicy,
				DeliverPolicy:     jetstream.DeliverNewPolicy, // as the adapter: no scan of the stream
				InactiveThreshold: 10 * time.Minute,
			})
			if err != nil {
				return nil, err
			}
			cc, err := cons.Consume(func(m jetstream.Msg) {
				deliver(m.Data())
				_ = m.Ack()
			}, jetstream.PullMaxMessages(brokertest.BenchConcurrency), jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(time.Second))
			if err != nil {
				return nil, err
			}
			return cc.Stop, nil
		},
	})
}
