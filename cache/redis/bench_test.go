package redis_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/cache/redis"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// The adapter beside go-redis itself, on the same server in the same run,
// with the same timeouts and pool: 1 KiB values over 1,000 keys.
//
//	go test -run '^$' -bench . -benchtime 3s ./cache/redis/
func BenchmarkRedis(b *testing.B) {
	addr := server(b)
	adapter := open(b, "redis://"+addr+"/0")
	raw := goredis.NewClient(&goredis.Options{
		Addr:        addr,
		DialTimeout: redis.DefaultTimeout, ReadTimeout: redis.DefaultTimeout, WriteTimeout: redis.DefaultTimeout,
	})
	b.Cleanup(func() { _ = raw.Close() })

	value := bytes.Repeat([]byte("v"), 1024)
	keys := make([]string, 1000)
	prefix := id.New("redisbench")
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
		if err := adapter.Set(b.Context(), keys[i], value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	key := func(i int) string { return keys[i%len(keys)] }
	b.Run("get/adapter", func(b *testing.B) {
		servertest.Ops(b, func(i int) error {
			_, ok, err := adapter.Get(b.Context(), key(i))
			if err == nil && !ok {
				err = errors.New("miss")
			}
			return err
		})
	})
	b.Run("get/go-redis", func(b *testing.B) {
		servertest.Ops(b, func(i int) error { return raw.Get(b.Context(), key(i)).Err() })
	})
	b.Run("set/adapter", func(b *testing.B) {
		servertest.Ops(b, func(i int) error { return adapter.Set(b.Context(), key(i), value, time.Hour) })
	})
	b.Run("set/go-redis", func(b *testing.B) {
		servertest.Ops(b, func(i int) error { return raw.Set(b.Context(), key(i), value, time.Hour).Err() })
	})
}
