package memcached_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/heraldhq/herald/cache/memcached"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// The adapter beside gomemcache itself, on the same server in the same run,
// with the same pool size and timeout: 1 KiB values over 1,000 keys.
//
//	go test -run '^$' -bench . -benchtime 3s ./cache/memcached/
func BenchmarkMemcached(b *testing.B) {
	addr := server(b)
	adapter := open(b, "memcached://"+addr)
	raw := memcache.New(addr)
	raw.Timeout, raw.MaxIdleConns = memcached.DefaultTimeout, memcached.DefaultMaxIdleConns
	b.Cleanup(func() { _ = raw.Close() })

	value := bytes.Repeat([]byte("v"), 1024)
	keys := make([]string, 1000)
	prefix := id.New("mcbench")
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
	b.Run("get/gomemcache", func(b *testing.B) {
		servertest.Ops(b, func(i int) error {
			_, err := raw.Get(key(i))
			return err
		})
	})
	b.Run("set/adapter", func(b *testing.B) {
		servertest.Ops(b, func(i int) error { return adapter.Set(b.Context(), key(i), value, time.Hour) })
	})
	b.Run("set/gomemcache", func(b *testing.B) {
		servertest.Ops(b, func(i int) error {
			return raw.Set(&memcache.Item{Key: key(i), Value: value, Expiration: 3600})
		})
	})
}
