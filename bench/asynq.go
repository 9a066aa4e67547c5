package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynqPoll is asynq's tuning: how often the forwarder moves due tasks from
// the scheduled set to the queue, and how long a worker sleeps when the
// queue is empty.
const asynqPoll = 10 * time.Millisecond

const asynqType = "bench"

func asynqOpt(sp spec) asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: sp.Redis, DB: sp.RedisDB, PoolSize: 32}
}

func asynqPayload(job int, due time.Time, left int) []byte {
	return fmt.Appendf(nil, "%d %d %d", job, due.UnixMicro(), left)
}

func parseAsynqPayload(b []byte) (job int, due time.Time, left int, err error) {
	var us int64
	if _, err = fmt.Sscanf(string(b), "%d %d %d", &job, &us, &left); err != nil {
		return 0, time.Time{}, 0, fmt.Errorf("payload %q: %w", b, err)
	}
	return job, time.UnixMicro(us), left, nil
}

// flushRedis empties the bench's database index, and only that one.
func flushRedis(ctx context.Context, addr string, db int) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer c.Close()
	return c.FlushDB(ctx).Err()
}

// prepareAsynq empties the Redis database and stores the backlog: tasks
// scheduled days later, enqueued through asynq's client from many
// goroutines at once.
func prepareAsynq(ctx context.Context, env *runEnv, sp *spec, backlog int) (func(), error) {
	sp.Redis, sp.RedisDB = env.redis, env.redisDB
	if err := flushRedis(ctx, sp.Redis, sp.RedisDB); err != nil {
		return nil, err
	}
	cleanup := func() { _ = flushRedis(context.Background(), sp.Redis, sp.RedisDB) }
	if backlog == 0 {
		return cleanup, nil
	}
	client := asynq.NewClient(asynqOpt(*sp))
	defer client.Close()
	later := time.Now().Add(72 * time.Hour)
	err := parallel(ctx, backlog, 32, func(ctx context.Context, i int) error {
		at := later.Add(time.Duration(i) * time.Microsecond)
		_, err := client.EnqueueContext(ctx, asynq.NewTask(asynqType, asynqPayload(-1-i, at, 0)), asynq.ProcessAt(at))
		return err
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("enqueueing the backlog: %w", err)
	}
	return cleanup, nil
}

// asynqNode is an asynq server working the default queue, and a client.
type asynqNode struct {
	srv    *asynq.Server
	client *asynq.Client
}

func (a *asynqNode) start(ctx context.Context, sp spec, rec *recorder) error {
	a.client = asynq.NewClient(asynqOpt(sp))
	a.srv = asynq.NewServer(asynqOpt(sp), asynq.Config{
		Concurrency:              sp.Workers,
		DelayedTaskCheckInterval: asynqPoll,
		TaskCheckInterval:        asynqPoll,
		Queues:                   map[string]int{"default": 1},
		LogLevel:                 asynq.WarnLevel,
	})
	return a.srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		now := time.Now()
		job, due, left, err := parseAsynqPayload(t.Payload())
		if err != nil {
			return err
		}
		rec.fire(now, job, due, "", time.Time{})
		if left > 0 {
			next := due.Add(sp.Period)
			_, err = a.client.EnqueueContext(ctx, asynq.NewTask(asynqType, asynqPayload(job, next, left-1)), asynq.ProcessAt(next))
		}
		return err
	}))
}

func (a *asynqNode) enqueue(ctx context.Context, sp spec) error {
	return parallel(ctx, sp.N, sp.Callers, func(ctx context.Context, i int) error {
		due := sp.due(i)
		_, err := a.client.EnqueueContext(ctx, asynq.NewTask(asynqType, asynqPayload(i, due, sp.Occurrences-1)), asynq.ProcessAt(due))
		return err
	})
}

func (a *asynqNode) stop() {
	if a.srv != nil {
		a.srv.Shutdown()
	}
	if a.client != nil {
		a.client.Close()
	}
}
