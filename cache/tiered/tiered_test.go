package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	busmem "github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/cachetest"
	"github.com/heraldhq/herald/cache/mem"
	_ "github.com/heraldhq/herald/cache/redis"
	"github.com/heraldhq/herald/cache/tiered"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// redisURL is the distributed tier of the tests: the test Redis.
func redisURL(t testing.TB) string {
	t.Helper()
	return "redis://" + servertest.Addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379") + "/0"
}

func openRemote(t testing.TB) cache.Cache {
	t.Helper()
	c, err := cache.Open(t.Context(), redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var nodes atomic.Int64

// node is one Herald node's tiered cache: its own local tier, its own
// client of the shared Redis, on bus b. It is closed when the test ends.
func node(t testing.TB, b bus.Bus, remote cache.Cache, opts tiered.Options) *tiered.Cache {
	t.Helper()
	if remote == nil {
		remote = openRemote(t)
	}
	c, err := tiered.New(t.Context(), mem.New(1<<20, 0), remote, b, fmt.Sprintf("node%d", nodes.Add(1)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newBus(t testing.TB) *busmem.Bus {
	t.Helper()
	b := busmem.New()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func get(t testing.TB, c cache.Cache, k string) (string, bool) {
	t.Helper()
	v, ok, err := c.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return string(v), ok
}

func set(t testing.TB, c cache.Cache, k, v string) {
	t.Helper()
	if err := c.Set(t.Context(), k, []byte(v), time.Hour); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

// eventually waits for node c to read want (or a miss, for want == "").
func eventually(t testing.TB, c cache.Cache, k, want string) {
	t.Helper()
	servertest.Eventually(t, 10*time.Second, "reading "+k, func() error {
		got, ok := get(t, c, k)
		if got != want || ok != (want != "") {
			return fmt.Errorf("Get = %q, %v; want %q", got, ok, want)
		}
		return nil
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		c, err := tiered.New(t.Context(), mem.New(1<<20, 0), openRemote(t), b, fmt.Sprintf("node%d", nodes.Add(1)), tiered.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// Two nodes over one Redis and one bus: what one writes, the other reads,
// once the invalidation has reached it, although it held the old value in
// memory.
func TestWritesReachOtherNodes(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	a, other := node(t, b, nil, tiered.Options{LocalTTL: time.Hour}), node(t, b, nil, tiered.Options{LocalTTL: time.Hour})
	k := id.New("tieredtest")

	set(t, a, k, "v1")
	eventually(t, other, k, "v1") // now in other's local tier, for an hour
	set(t, a, k, "v2")
	eventually(t, other, k, "v2")
	set(t, other, k, "v3") // and back
	eventually(t, a, k, "v3")
	if err := a.Delete(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	eventually(t, other, k, "")
}

// Without invalidations, a node serves what it holds in memory until its
// local ttl runs out: the local tier is really used, and the local ttl
// bounds how stale it can get.
func TestLocalTTLBoundsStaleness(t *testing.T) {
	t.Parallel()
	const localTTL = 300 * time.Millisecond
	remote := openRemote(t)
	// Two buses: nothing a writes reaches deaf.
	a := node(t, newBus(t), nil, tiered.Options{})
	deaf := node(t, newBus(t), remote, tiered.Options{LocalTTL: localTTL})
	k := id.New("tieredtest")

	set(t, a, k, "old")
	if got, _ := get(t, deaf, k); got != "old" {
		t.Fatalf("Get = %q, want old", got)
	}
	written := time.Now()
	set(t, a, k, "new")
	got, _ := get(t, deaf, k)
	if time.Since(written) < localTTL && got != "old" {
		t.Fatalf("Get right after another node's write = %q, want the old value from memory", got)
	}
	eventually(t, deaf, k, "new")
	// Proof that the fresh value came from Redis, not from a local tier
	// that was never used: the remote holds it too.
	if v, ok, err := remote.Get(t.Context(), k); err != nil || !ok || !strings.HasSuffix(string(v), "new") {
		t.Errorf("remote Get = %q, %v, %v", v, ok, err)
	}
}

// gatedRemote holds a Get after it has read the distributed tier, until the
// test lets it return: a read in flight while an invalidation arrives.
type gatedRemote struct {
	cache.Cache
	gate    atomic.Bool
	fetched chan struct{}
	release chan struct{}
}

func (g *gatedRemote) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := g.Cache.Get(ctx, key)
	if g.gate.CompareAndSwap(true, false) {
		g.fetched <- struct{}{}
		<-g.release
	}
	return v, ok, err
}

// A read that fetched the old value while an invalidation of its key came in
// must not keep that value: the invalidation wins, and the next read sees
// the new value.
func TestInvalidationWinsOverReadInFlight(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	gated := &gatedRemote{Cache: openRemote(t), fetched: make(chan struct{}), release: make(chan struct{})}
	writer := node(t, b, nil, tiered.Options{LocalTTL: time.Hour})
	reader := node(t, b, gated, tiered.Options{LocalTTL: time.Hour})
	k := id.New("tieredtest")
	set(t, writer, k, "old")

	gated.gate.Store(true)
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, _, err := reader.Get(context.Background(), k)
		done <- result{string(v), err}
	}()
	<-gated.fetched
	set(t, writer, k, "new") // the in-process bus returns once reader has dropped k
	close(gated.release)
	r := <-done
	if r.err != nil || r.v != "old" {
		t.Fatalf("the read in flight = %q, %v; want the old value it fetched", r.v, r.err)
	}
	if got, _ := get(t, reader, k); got != "new" {
		t.Fatalf("Get after the invalidation = %q, want new (the read in flight kept the old value)", got)
	}
}

// failingBus takes subscriptions but cannot publish.
type failingBus struct{ bus.Bus }

func (failingBus) Publish(context.Context, ...*bus.Message) error {
	return errors.New("broker unreachable")
}

// When the invalidation cannot be published, the write stands, this node
// reads the new value, and the caller is told other nodes may not.
func TestUnpublishedInvalidationIsReported(t *testing.T) {
	t.Parallel()
	b := failingBus{newBus(t)}
	c := node(t, b, nil, tiered.Options{})
	k := id.New("tieredtest")
	err := c.Set(t.Context(), k, []byte("v"), time.Hour)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "invalidation was not published") {
		t.Fatalf("Set = %v, want Unavailable saying the invalidation was not published", err)
	}
	if got, ok := get(t, c, k); !ok || got != "v" {
		t.Errorf("Get = %q, %v; want v", got, ok)
	}
	if err := c.Delete(t.Context(), k); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Delete = %v, want Unavailable", err)
	}
	if _, ok := get(t, c, k); ok {
		t.Error("Get after Delete hit")
	}
}

// A value in the distributed tier that no tiered cache wrote is not
// returned as if it were one.
func TestForeignValueIsAMiss(t *testing.T) {
	t.Parallel()
	remote := openRemote(t)
	c := node(t, newBus(t), nil, tiered.Options{})
	k := id.New("tieredtest")
	if err := remote.Set(t.Context(), k, []byte("written by something else"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, c, k); ok {
		t.Errorf("Get = %q, want a miss", v)
	}
	t.Cleanup(func() { _ = remote.Close() })
}

func TestNewRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	local, remote := mem.New(1<<20, 0), mem.New(1<<20, 0)
	tests := []struct {
		name   string
		local  cache.Cache
		remote cache.Cache
		bus    bus.Bus
		node   string
		opts   tiered.Options
		field  string
	}{
		{"no local", nil, remote, b, "n1", tiered.Options{}, "local"},
		{"no remote", local, nil, b, "n1", tiered.Options{}, "remote"},
		{"no bus", local, remote, nil, "n1", tiered.Options{}, "bus"},
		{"empty node id", local, remote, b, "", tiered.Options{}, "node_id"},
		{"node id with a dot", local, remote, b, "node.1", tiered.Options{}, "node_id"},
		{"node id too long", local, remote, b, strings.Repeat("n", 65), tiered.Options{}, "node_id"},
		{"negative local ttl", local, remote, b, "n1", tiered.Options{LocalTTL: -1}, "local_ttl"},
		{"negative default ttl", local, remote, b, "n1", tiered.Options{DefaultTTL: -1}, "default_ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tiered.New(t.Context(), tc.local, tc.remote, tc.bus, tc.node, tc.opts)
			if err == nil {
				_ = c.Close()
				t.Fatal("New succeeded, want an error")
			}
			if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Fields[tc.field] == "" {
				t.Errorf("New = %v, want an Invalid error naming %q", err, tc.field)
			}
		})
	}
}

// Close stops the subscription and closes both tiers, which the cache owns.
func TestCloseClosesBothTiers(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	local, remote := mem.New(1<<20, 0), openRemote(t)
	c, err := tiered.New(t.Context(), local, remote, b, "closing", tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if local.Ping(t.Context()) == nil || remote.Ping(t.Context()) == nil {
		t.Error("a tier still answers after Close")
	}
	// Nobody listens any more: an invalidation is acknowledged at once.
	m := &bus.Message{ID: id.New("test"), Topic: tiered.Topic, Payload: []byte("k")}
	if err := b.Publish(t.Context(), m); err != nil {
		t.Errorf("Publish after Close: %v", err)
	}
}
