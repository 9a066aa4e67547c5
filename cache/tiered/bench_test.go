package tiered_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/cache/tiered"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// What the local tier buys: reads of 1 KiB entries held in memory, beside
// the same reads from Redis alone, and a write (Redis, then an invalidation
// through the in-process bus to one other node).
//
//	go test -run '^$' -bench . -benchtime 3s ./cache/tiered/
func BenchmarkTiered(b *testing.B) {
	bus := newBus(b)
	redis := openRemote(b)
	b.Cleanup(func() { _ = redis.Close() })
	c := node(b, bus, nil, tiered.Options{LocalTTL: time.Hour})
	_ = node(b, bus, nil, tiered.Options{LocalTTL: time.Hour}) // hears every invalidation

	value := bytes.Repeat([]byte("v"), 1024)
	keys := make([]string, 1000)
	prefix := id.New("tieredbench")
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
		if err := c.Set(b.Context(), keys[i], value, time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := redis.Set(b.Context(), keys[i]+":plain", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Get(b.Context(), keys[i]); err != nil { // into the local tier
			b.Fatal(err)
		}
	}
	key := func(i int) string { return keys[i%len(keys)] }
	b.Run("get/tiered-local-hit", func(b *testing.B) {
		servertest.Ops(b, func(i int) error {
			_, ok, err := c.Get(b.Context(), key(i))
			if err == nil && !ok {
				err = errors.New("miss")
			}
			return err
		})
	})
	b.Run("get/redis-adapter", func(b *testing.B) {
		servertest.Ops(b, func(i int) error {
			_, ok, err := redis.Get(b.Context(), key(i)+":plain")
			if err == nil && !ok {
				err = errors.New("miss")
			}
			return err
		})
	})
	b.Run("set/tiered", func(b *testing.B) {
		servertest.Ops(b, func(i int) error { return c.Set(b.Context(), key(i), value, time.Hour) })
	})
}
