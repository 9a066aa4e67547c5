package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/storetest"
)

// arrivals is a bus that notes, for each event, how long after it was
// written it reached the bus (the payload carries the write instant).
type arrivals struct {
	mu   sync.Mutex
	seen map[string]bool
	lat  []time.Duration
}

func (a *arrivals) Publish(_ context.Context, msgs ...*bus.Message) error {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range msgs {
		if a.seen[m.ID] {
			continue
		}
		a.seen[m.ID] = true
		ts := &timestamppb.Timestamp{}
		if err := proto.Unmarshal(m.Payload, ts); err != nil {
			return err
		}
		a.lat = append(a.lat, now.Sub(ts.AsTime()))
	}
	return nil
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.lat)
}

func (a *arrivals) Subscribe(context.Context, string, string, bus.Handler, ...bus.SubscribeOption) (bus.Subscription, error) {
	return nil, fmt.Errorf("not a consumer")
}
func (a *arrivals) Features() bus.Features     { return bus.Features{} }
func (a *arrivals) Ping(context.Context) error { return nil }
func (a *arrivals) Close() error               { return nil }

// BenchmarkRelayLatency writes events at a steady rate, in small
// transactions as a busy service does, and reports how long each took from
// its commit to the bus: the relay's share of an event's way.
//
//	env $(scripts/test-infra.sh env) go test -run '^$' -bench RelayLatency -benchtime 1x ./outbox/
func BenchmarkRelayLatency(b *testing.B) {
	const duration = 15 * time.Second
	for _, load := range []struct {
		name        string
		rate, perTx int // events a second, events a transaction
	}{
		// A busy service: small transactions all the time.
		{"steady", 2000, 20},
		// Trigger at a second where 2,000 schedules fall due: its fire
		// batches write them within a few transactions.
		{"bursts", 2000, 500},
	} {
		for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
			rate, perTx := load.rate, load.perTx
			b.Run(load.name+"/"+string(d), func(b *testing.B) {
				for range b.N {
					ctx := context.Background()
					db, err := store.Open(ctx, storetest.URLFor(b, d))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					a := &arrivals{seen: map[string]bool{}}
					ob := outbox.New(db, prefix, a, slog.New(slog.DiscardHandler))
					if err := ob.Migrate(ctx); err != nil {
						b.Fatal(err)
					}
					rctx, cancel := context.WithCancel(ctx)
					done := make(chan struct{})
					go func() { defer close(done); ob.Run(rctx) }()
					tick := time.NewTicker(time.Second * time.Duration(perTx) / time.Duration(rate))
					end := time.Now().Add(duration)
					written := 0
					for now := range tick.C {
						if now.After(end) {
							break
						}
						err := db.Tx(ctx, func(tx *store.Tx) error {
							evs := make([]proto.Message, perTx)
							for i := range evs {
								evs[i] = timestamppb.Now()
							}
							_, err := ob.AddBatch(ctx, tx, topic, evs)
							return err
						})
						if err != nil {
							b.Fatal(err)
						}
						written += perTx
					}
					tick.Stop()
					for deadline := time.Now().Add(time.Minute); a.count() < written && time.Now().Before(deadline); {
						time.Sleep(10 * time.Millisecond)
					}
					cancel()
					<-done
					lat := slices.Clone(a.lat)
					slices.Sort(lat)
					if len(lat) < written {
						b.Fatalf("%d of %d events reached the bus", len(lat), written)
					}
					q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
					b.Logf("%s: %d events at %d/s: commit to bus p50 %v p99 %v max %v", d, written, rate,
						q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
					b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99_ms")
				}
			})
		}
	}
}
