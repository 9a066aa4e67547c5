package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverPoll is River's tuning: how often a worker looks for available jobs
// and the shortest pause between two looks.
const riverPoll = 10 * time.Millisecond

// riverArgs is a bench job: which job it is, when it is due, and how many
// occurrences follow it (each enqueued by the one before, a period later).
type riverArgs struct {
	Job  int   `json:"j"`
	Due  int64 `json:"d"` // Unix µs
	Left int   `json:"l"`
}

func (riverArgs) Kind() string { return "bench" }

type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	rec    *recorder
	period time.Duration
}

func (w *riverWorker) Work(ctx context.Context, job *river.Job[riverArgs]) error {
	now := time.Now()
	due := time.UnixMicro(job.Args.Due)
	w.rec.fire(now, job.Args.Job, due, "", time.Time{})
	if job.Args.Left > 0 {
		next := due.Add(w.period)
		client := river.ClientFromContext[pgx.Tx](ctx)
		_, err := client.Insert(ctx, riverArgs{Job: job.Args.Job, Due: next.UnixMicro(), Left: job.Args.Left - 1},
			&river.InsertOpts{ScheduledAt: next})
		return err
	}
	return nil
}

func riverPool(ctx context.Context, base string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		return nil, err
	}
	// As many connections as Herald's store opens by default.
	cfg.MaxConns = 10
	return pgxpool.NewWithConfig(ctx, cfg)
}

// prepareRiver makes a fresh schema, applies River's migrations to it and
// stores the backlog: jobs scheduled days later, inserted with River's
// COPY-based bulk insert.
func prepareRiver(ctx context.Context, env *runEnv, sp *spec, backlog int) (func(), error) {
	schema, drop, err := freshSchema(ctx, env.pg)
	if err != nil {
		return nil, err
	}
	sp.PG, sp.Schema = env.pg, schema
	if err := migrateRiver(ctx, *sp, backlog); err != nil {
		drop()
		return nil, err
	}
	return drop, nil
}

func migrateRiver(ctx context.Context, sp spec, backlog int) error {
	pool, err := riverPool(ctx, sp.PG)
	if err != nil {
		return err
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: sp.Schema, Logger: quietLog()})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if backlog == 0 {
		return nil
	}
	client, err := river.NewClient(driver, &river.Config{Schema: sp.Schema, Logger: quietLog()})
	if err != nil {
		return err
	}
	later := time.Now().Add(72 * time.Hour)
	const batch = 20_000
	for from := 0; from < backlog; from += batch {
		params := make([]river.InsertManyParams, 0, min(batch, backlog-from))
		for i := from; i < min(from+batch, backlog); i++ {
			at := later.Add(time.Duration(i) * time.Microsecond)
			params = append(params, river.InsertManyParams{
				Args:       riverArgs{Job: -1 - i, Due: at.UnixMicro()},
				InsertOpts: &river.InsertOpts{ScheduledAt: at},
			})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return fmt.Errorf("inserting the backlog: %w", err)
		}
	}
	_, err = pool.Exec(ctx, "ANALYZE "+pgx.Identifier{sp.Schema, "river_job"}.Sanitize())
	return err
}

// riverNode is a River client working the default queue.
type riverNode struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
}

func (r *riverNode) start(ctx context.Context, sp spec, rec *recorder) error {
	pool, err := riverPool(ctx, sp.PG)
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &riverWorker{rec: rec, period: sp.Period})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema:            sp.Schema,
		FetchCooldown:     riverPoll,
		FetchPollInterval: riverPoll,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: sp.Workers}},
		Workers:           workers,
		Logger:            quietLog(),
	})
	if err != nil {
		pool.Close()
		return err
	}
	if err := client.Start(ctx); err != nil {
		pool.Close()
		return err
	}
	r.pool, r.client = pool, client
	return nil
}

func (r *riverNode) enqueue(ctx context.Context, sp spec) error {
	const batch = 5_000
	for from := 0; from < sp.N; from += batch {
		params := make([]river.InsertManyParams, 0, batch)
		for i := from; i < min(from+batch, sp.N); i++ {
			due := sp.due(i)
			params = append(params, river.InsertManyParams{
				Args:       riverArgs{Job: i, Due: due.UnixMicro(), Left: sp.Occurrences - 1},
				InsertOpts: &river.InsertOpts{ScheduledAt: due},
			})
		}
		if _, err := r.client.InsertManyFast(ctx, params); err != nil {
			return err
		}
	}
	return nil
}

func (r *riverNode) stop() {
	if r.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.client.Stop(ctx)
	}
	if r.pool != nil {
		r.pool.Close()
	}
}
