package stomp_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/id"
	stompc "github.com/heraldhq/herald/stomp"
)

// Both benchmarks push the same events through the same broker the same
// way (brokertest.Measure); their msgs/s ratio is the adapter's cost.
//
//	go test -run '^$' -bench . -benchtime 20000x ./bus/stomp/

// BenchmarkBus: Publish -> ActiveMQ virtual topic -> group queue ->
// Subscribe handler, through the adapter.
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

// BenchmarkRawClient: the same path with the STOMP client alone, on two
// connections as the adapter uses: persistent SENDs to the virtual topic,
// a batch's queued in order and their receipts then awaited together; a
// client-individual subscription to the group's queue with the adapter's
// prefetch, the handler run inline, each message acknowledged after it.
func BenchmarkRawClient(b *testing.B) {
	addr := broker(b)
	ctx := context.Background()
	pub, err := stompc.Connect(ctx, addr, stompc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close(ctx)
	sub, err := stompc.Connect(ctx, addr, stompc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close(ctx)
	topic := testPrefix + "rawbench." + strings.ToLower(id.New("t"))
	persistent := stompc.NewFrame(stompc.CmdSend, "persistent", "true").Header
	brokertest.Run(b, brokertest.Pipeline{
		Publish: func(ctx context.Context, payloads [][]byte) error {
			receipts := make([]*stompc.Receipt, len(payloads))
			for i, p := range payloads {
				r, err := pub.SendAsync(ctx, "/topic/VirtualTopic."+topic, p, persistent)
				if err != nil {
					return err
				}
				receipts[i] = r
			}
			for _, r := range receipts {
				if err := r.Wait(ctx); err != nil {
					return err
				}
			}
			return nil
		},
		Subscribe: func(ctx context.Context, deliver func([]byte)) (func(), error) {
			prefetch := stompc.NewFrame(stompc.CmdSubscribe, "activemq.prefetchSize", strconv.Itoa(brokertest.BenchConcurrency)).Header
			s, err := sub.Subscribe(ctx, "/queue/Consumer.raw.VirtualTopic."+topic, stompc.AckClientIndividual, prefetch)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					m, err := s.Next(ctx)
					if err != nil {
						return
					}
					deliver(m.Body)
					_ = sub.Ack(ctx, m)
				}
			}()
			return func() {
				cancel()
				<-done
				_ = s.Unsubscribe(context.Background())
			}, nil
		},
	})
}
