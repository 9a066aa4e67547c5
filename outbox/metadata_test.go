package outbox_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/storetest"
)

// The process's propagator is W3C trace context, as telemetry installs it.
var installPropagator = sync.OnceFunc(func() { otel.SetTextMapPropagator(propagation.TraceContext{}) })

var metadataStores = []struct {
	name    string
	dialect store.Dialect
}{{"sqlite", store.SQLite}, {"postgres", store.Postgres}}

func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithSpanContext(t.Context(), sc), sc
}

// The trace context of the transaction that wrote an event reaches the
// consumer in the message's metadata; an event written without one carries
// no metadata.
func TestMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	installPropagator()
	for _, st := range metadataStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			db, err := store.Open(t.Context(), storetest.URLFor(t, st.dialect))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			b := mem.New()
			t.Cleanup(func() { _ = b.Close() })
			ob := outbox.New(db, prefix, b, slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err := ob.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			got := map[string]map[string]string{}
			if _, err := b.Subscribe(t.Context(), topic, "test", func(_ context.Context, m *bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				got[m.ID] = m.Metadata
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ctx, sc := spanContext(t)
			var traced, plain []string
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				var err error
				if traced, err = ob.AddBatch(ctx, tx, topic, []proto.Message{wrapperspb.String("a"), wrapperspb.String("b")}); err != nil {
					return err
				}
				plain, err = ob.AddBatch(t.Context(), tx, topic, []proto.Message{wrapperspb.String("c")})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); ob.Run(rctx) }()
			t.Cleanup(func() { cancel(); <-done })
			eventually(t, "all three events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })

			mu.Lock()
			defer mu.Unlock()
			for _, eid := range traced {
				md := got[eid]
				back := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(md)))
				if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || !back.IsSampled() {
					t.Errorf("event %s metadata %v carries span %v, want trace %s span %s sampled", eid, md, back, sc.TraceID(), sc.SpanID())
				}
			}
			if md := got[plain[0]]; len(md) != 0 {
				t.Errorf("event written without a trace carries metadata %v, want none", md)
			}
		})
	}
}

// An outbox table from before the metadata column gains it on Migrate, and
// the rows already in it are relayed.
func TestMigrateAddsMetadataColumn(t *testing.T) {
	t.Parallel()
	installPropagator()
	for _, st := range metadataStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			db, err := store.Open(t.Context(), storetest.URLFor(t, st.dialect))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			// The table as outbox created it before.
			if _, err := db.Exec(t.Context(), `CREATE TABLE `+prefix+`outbox (
				seq_id     TEXT PRIMARY KEY,
				topic      TEXT NOT NULL,
				payload    BYTEA NOT NULL,
				created_at BIGINT NOT NULL,
				attempts   INTEGER NOT NULL DEFAULT 0,
				next_at    BIGINT NOT NULL DEFAULT 0
			)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(t.Context(), `INSERT INTO `+prefix+`outbox (seq_id, topic, payload, created_at) VALUES (?, ?, ?, ?)`,
				"evt_old", topic, []byte{}, int64(1)); err != nil {
				t.Fatal(err)
			}
			b := mem.New()
			t.Cleanup(func() { _ = b.Close() })
			ob := outbox.New(db, prefix, b, slog.New(slog.NewTextHandler(t.Output(), nil)))
			for range 2 { // and again: idempotent
				if err := ob.Migrate(t.Context()); err != nil {
					t.Fatalf("Migrate over the old table: %v", err)
				}
			}
			seen := make(chan *bus.Message, 4)
			if _, err := b.Subscribe(t.Context(), topic, "test", func(_ context.Context, m *bus.Message) error { seen <- m; return nil }); err != nil {
				t.Fatal(err)
			}
			ctx, _ := spanContext(t)
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				_, err := ob.Add(ctx, tx, topic, wrapperspb.String("new"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); ob.Run(rctx) }()
			t.Cleanup(func() { cancel(); <-done })
			var old, fresh *bus.Message
			for old == nil || fresh == nil {
				select {
				case m := <-seen:
					if m.ID == "evt_old" {
						old = m
					} else {
						fresh = m
					}
				case <-time.After(timeout):
					t.Fatalf("timed out after %v waiting for both events", timeout)
				}
			}
			if len(old.Metadata) != 0 {
				t.Errorf("the old row arrived with metadata %v, want none", old.Metadata)
			}
			if fresh.Metadata["traceparent"] == "" {
				t.Errorf("the new row arrived with metadata %v, want a traceparent", fresh.Metadata)
			}
		})
	}
}

// Nodes of one service that start together migrate its outbox at once:
// on PostgreSQL they race to create the same tables, and every one of them
// must succeed.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	for _, st := range metadataStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			u := storetest.URLFor(t, st.dialect)
			const nodes = 8
			dbs := make([]*store.DB, nodes)
			for i := range dbs {
				db, err := store.Open(t.Context(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				dbs[i] = db
			}
			b := mem.New()
			t.Cleanup(func() { _ = b.Close() })
			var wg sync.WaitGroup
			errs := make([]error, nodes)
			start := make(chan struct{})
			for i, db := range dbs {
				wg.Go(func() {
					<-start
					errs[i] = outbox.New(db, prefix, b, nil).Migrate(t.Context())
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("node %d: Migrate: %v", i+1, err)
				}
			}
		})
	}
}
