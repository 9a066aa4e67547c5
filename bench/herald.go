package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/postgres"
	_ "github.com/heraldhq/herald/store/sqlite"
	"github.com/heraldhq/herald/trigger"
)

const heraldTenant = "tnt_bench"

// heraldURL is the store URL of a Herald run.
func heraldURL(sp spec) string {
	if sp.SQLite != "" {
		return sp.SQLite
	}
	return withSearchPath(sp.PG, sp.Schema)
}

// prepareHerald makes a fresh store (a SQLite file in dir, or a schema of
// its own), applies the Trigger's migrations and stores the backlog: future
// firings due days later, written straight to the table, as many as asked.
func prepareHerald(dialect store.Dialect) func(ctx context.Context, env *runEnv, sp *spec, backlog int) (func(), error) {
	return func(ctx context.Context, env *runEnv, sp *spec, backlog int) (func(), error) {
		var cleanup func()
		switch dialect {
		case store.SQLite:
			dir, err := os.MkdirTemp(env.tmp, "herald-sqlite-")
			if err != nil {
				return nil, err
			}
			sp.SQLite = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "herald.db"))
			cleanup = func() { os.RemoveAll(dir) }
		default:
			schema, drop, err := freshSchema(ctx, env.pg)
			if err != nil {
				return nil, err
			}
			sp.PG, sp.Schema = env.pg, schema
			cleanup = drop
		}
		if err := migrateHerald(ctx, *sp, backlog); err != nil {
			cleanup()
			return nil, err
		}
		return cleanup, nil
	}
}

func migrateHerald(ctx context.Context, sp spec, backlog int) error {
	db, err := store.Open(ctx, heraldURL(sp))
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := trigger.New(trigger.DefaultConfig(), trigger.Deps{DB: db, Bus: &recordingBus{}, Log: quietLog()})
	if err != nil {
		return err
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if backlog == 0 {
		return nil
	}
	later := time.Now().Add(72 * time.Hour).UnixMicro()
	shards := trigger.DefaultConfig().Shards
	if db.Dialect() == store.SQLite {
		_, err := db.Exec(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO trigger_schedules (tenant_id, id, post_id, revision, zone, due_at, shard, state, version, created_at, updated_at)
			SELECT 'tnt_backlog', 'backlog_' || i, 'post_' || i, 1, 'UTC', CAST(? AS BIGINT) + i, i % ?, 'pending', 1, 0, 0 FROM n`,
			backlog, later, shards)
		return err
	}
	conn, err := pgConnect(ctx, sp.PG, sp.Schema)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"trigger_schedules"},
		[]string{"tenant_id", "id", "post_id", "revision", "zone", "due_at", "shard", "state", "version", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == backlog {
				return nil, nil
			}
			i++
			return []any{"tnt_backlog", "backlog_" + strconv.Itoa(i), "post_" + strconv.Itoa(i), int64(1), "UTC",
				later + int64(i), int32(i % shards), "pending", int64(1), int64(0), int64(0)}, nil
		}))
	if err != nil {
		return fmt.Errorf("copying the backlog: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE trigger_schedules")
	return err
}

// heraldNode is the Trigger service, as Herald runs it (default
// configuration, one node owning every shard), with a bus that notes when
// each post.due event is published.
type heraldNode struct {
	db  *store.DB
	svc *trigger.Service
}

func (h *heraldNode) start(ctx context.Context, sp spec, rec *recorder) error {
	db, err := store.Open(ctx, heraldURL(sp))
	if err != nil {
		return err
	}
	s, err := trigger.New(trigger.DefaultConfig(), trigger.Deps{DB: db, Bus: &recordingBus{rec: rec}, Log: quietLog()})
	if err != nil {
		db.Close()
		return err
	}
	if err := s.Start(ctx); err != nil {
		db.Close()
		return err
	}
	h.db, h.svc = db, s
	return nil
}

func (h *heraldNode) enqueue(ctx context.Context, sp spec) error {
	return parallel(ctx, sp.N, sp.Callers, func(ctx context.Context, i int) error {
		req := &triggerv1.ScheduleRequest{
			TenantId: heraldTenant, ScheduleId: heraldID(i), PostId: "post_" + heraldID(i), Revision: 1, Zone: "UTC",
		}
		if sp.Period > 0 {
			if sp.Period != time.Minute {
				return errors.New("herald: recurring runs fire every minute")
			}
			req.Rrule = fmt.Sprintf("FREQ=MINUTELY;COUNT=%d", sp.Occurrences)
			req.StartLocal = sp.due(i).UTC().Format("2006-01-02T15:04:05")
		} else {
			req.DueAt = timestamppb.New(sp.due(i))
		}
		_, err := h.svc.Schedule(ctx, req)
		return err
	})
}

func (h *heraldNode) stop() {
	if h.svc != nil {
		h.svc.Close()
	}
	if h.db != nil {
		h.db.Close()
	}
}

func heraldID(i int) string { return fmt.Sprintf("b%07d", i) }

// recordingBus is the bus the Trigger publishes to: it notes the instant
// each post.due event reached it, which is when a consumer could act on
// it, and the fired_at the engine stamped on it.
type recordingBus struct{ rec *recorder }

func (b *recordingBus) Publish(_ context.Context, msgs ...*bus.Message) error {
	now := time.Now()
	if b.rec == nil {
		return nil
	}
	for _, m := range msgs {
		if m.Topic != bus.TopicPostDue {
			continue
		}
		ev := &eventsv1.PostDue{}
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			return err
		}
		job, err := strconv.Atoi(strings.TrimPrefix(ev.GetScheduleId(), "b"))
		if err != nil {
			return fmt.Errorf("schedule id %q: %w", ev.GetScheduleId(), err)
		}
		b.rec.fire(now, job, ev.GetDueAt().AsTime(), m.ID, ev.GetFiredAt().AsTime())
	}
	return nil
}

func (b *recordingBus) Subscribe(context.Context, string, string, bus.Handler, ...bus.SubscribeOption) (bus.Subscription, error) {
	return nil, errors.New("the bench bus only records")
}
func (b *recordingBus) Features() bus.Features     { return bus.Features{} }
func (b *recordingBus) Ping(context.Context) error { return nil }
func (b *recordingBus) Close() error               { return nil }

// quietLog keeps the systems' warnings and errors, on standard error.
func quietLog() *slog.Logger {
	if os.Getenv("HERALD_BENCH_QUIET") != "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
