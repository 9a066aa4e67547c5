package readthrough_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	busmem "github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/cache/readthrough"
	_ "github.com/heraldhq/herald/cache/redis"
	"github.com/heraldhq/herald/cache/tiered"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// source is what a kind caches: a value that tests change, and how often it
// was read.
type source struct {
	mu    sync.Mutex
	value []string
	loads atomic.Int64
}

func (s *source) set(v ...string) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

func (s *source) load(context.Context) ([]string, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.value...), nil
}

func stat(t *testing.T, c *readthrough.Cache, name string) readthrough.Stat {
	t.Helper()
	for _, s := range c.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stats for %q in %v", name, c.Stats())
	return readthrough.Stat{}
}

func get(t *testing.T, k *readthrough.Kind[[]string], key string, src *source) []string {
	t.Helper()
	v, err := k.Get(t.Context(), key, src.load)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func TestMissLoadsThenHits(t *testing.T) {
	t.Parallel()
	c := readthrough.New(mem.New(1<<20, 0))
	k := readthrough.NewKind[[]string](c, "test.list", time.Hour)
	src := &source{}
	src.set("a", "b")
	for range 3 {
		if got := get(t, k, "w1", src); fmt.Sprint(got) != "[a b]" {
			t.Fatalf("got %v, want [a b]", got)
		}
	}
	if n := src.loads.Load(); n != 1 {
		t.Errorf("loads = %d, want 1", n)
	}
	if s := stat(t, c, "test.list"); s.Hits != 2 || s.Misses != 1 || s.Errors != 0 {
		t.Errorf("stats = %+v, want 2 hits, 1 miss", s)
	}
	// Without invalidation the cached value stays: it is a cache.
	src.set("c")
	if got := get(t, k, "w1", src); fmt.Sprint(got) != "[a b]" {
		t.Errorf("got %v, want the cached [a b]", got)
	}
}

func TestNoCacheLoadsEveryTime(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*readthrough.Cache{"nil": nil, "no port": readthrough.New(nil)} {
		k := readthrough.NewKind[[]string](c, "test.none", 0)
		src := &source{}
		src.set("a")
		get(t, k, "x", src)
		src.set("b")
		if got := get(t, k, "x", src); fmt.Sprint(got) != "[b]" {
			t.Errorf("%s: got %v, want [b]", name, got)
		}
		if c.Generation(t.Context(), "s") != "" || c.Invalidate(t.Context(), "s") != nil {
			t.Errorf("%s: generations without a cache should be empty no-ops", name)
		}
		if n := src.loads.Load(); n != 2 {
			t.Errorf("%s: loads = %d, want 2", name, n)
		}
	}
}

func TestGenerationInvalidates(t *testing.T) {
	t.Parallel()
	c := readthrough.New(mem.New(1<<20, 0))
	k := readthrough.NewKind[[]string](c, "test.gen", time.Hour)
	src := &source{}
	src.set("old")
	read := func(scope string) []string {
		return get(t, k, scope+":"+c.Generation(t.Context(), scope)+":page1", src)
	}
	read("ws1")
	read("ws2")
	src.set("new")
	if got := read("ws1"); fmt.Sprint(got) != "[old]" {
		t.Fatalf("before invalidation got %v, want the cached [old]", got)
	}
	if err := c.Invalidate(t.Context(), "ws1"); err != nil {
		t.Fatal(err)
	}
	if got := read("ws1"); fmt.Sprint(got) != "[new]" {
		t.Errorf("after invalidating ws1 got %v, want [new]", got)
	}
	if got := read("ws2"); fmt.Sprint(got) != "[old]" {
		t.Errorf("ws2 was not invalidated, got %v, want its cached [old]", got)
	}
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	c := readthrough.New(mem.New(1<<20, 0))
	k := readthrough.NewKind[[]string](c, "test.flight", time.Hour)
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(context.Context) ([]string, error) {
		loads.Add(1)
		<-release
		return []string{"v"}, nil
	}
	const callers = 16
	var wg sync.WaitGroup
	got := make([][]string, callers)
	for i := range callers {
		wg.Go(func() {
			v, err := k.Get(t.Context(), "same", load)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	// Every caller has missed; give the last ones a moment to join the
	// flight before it lands.
	servertest.Eventually(t, 10*time.Second, "every caller missed", func() error {
		if n := stat(t, c, "test.flight").Misses; n != callers {
			return fmt.Errorf("%d misses", n)
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("loads = %d for %d concurrent misses, want 1", n, callers)
	}
	got[0][0] = "changed by caller 0"
	for i, v := range got[1:] {
		if fmt.Sprint(v) != "[v]" {
			t.Errorf("caller %d got %v, want its own [v]", i+1, v)
		}
	}
}

func TestLoadErrorIsNotCached(t *testing.T) {
	t.Parallel()
	c := readthrough.New(mem.New(1<<20, 0))
	k := readthrough.NewKind[[]string](c, "test.err", time.Hour)
	boom := errors.New("boom")
	if _, err := k.Get(t.Context(), "x", func(context.Context) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	src := &source{}
	src.set("ok")
	if got := get(t, k, "x", src); fmt.Sprint(got) != "[ok]" {
		t.Errorf("got %v, want [ok]", got)
	}
}

// failing is a cache that cannot answer.
type failing struct{ cache.Cache }

var errDown = errors.New("cache down")

func (failing) Get(context.Context, string) ([]byte, bool, error)        { return nil, false, errDown }
func (failing) Set(context.Context, string, []byte, time.Duration) error { return errDown }
func (failing) Delete(context.Context, ...string) error                  { return errDown }

func TestFailingCacheStillReads(t *testing.T) {
	t.Parallel()
	c := readthrough.New(failing{})
	k := readthrough.NewKind[[]string](c, "test.down", time.Hour)
	src := &source{}
	for _, v := range []string{"a", "b"} {
		src.set(v)
		scope := c.Generation(t.Context(), "ws")
		if got := get(t, k, scope, src); fmt.Sprint(got) != "["+v+"]" {
			t.Errorf("got %v, want [%s]", got, v)
		}
	}
	if s := stat(t, c, "test.down"); s.Errors != 2 || s.Hits != 0 {
		t.Errorf("stats = %+v, want 2 errors", s)
	}
}

// Two nodes, each with its own local tier, over one Redis and one bus: a
// write on one node, then its invalidation, is seen by a read on the other.
func TestInvalidationReachesOtherNode(t *testing.T) {
	t.Parallel()
	b := busmem.New()
	t.Cleanup(func() { _ = b.Close() })
	node := func(name string) *readthrough.Cache {
		remote, err := cache.Open(t.Context(), "redis://"+servertest.Addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379")+"/0")
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tiered.New(t.Context(), mem.New(1<<20, 0), remote, b, id.New(name), tiered.Options{LocalTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tc.Close() })
		return readthrough.New(tc)
	}
	a, z := node("a"), node("z")
	ka := readthrough.NewKind[[]string](a, "test.nodes", time.Hour)
	kz := readthrough.NewKind[[]string](z, "test.nodes", time.Hour)
	scope := id.New("ws")
	src := &source{}
	src.set("v1")
	read := func(c *readthrough.Cache, k *readthrough.Kind[[]string]) string {
		return fmt.Sprint(get(t, k, scope+":"+c.Generation(t.Context(), scope), src))
	}
	read(a, ka)
	if got := read(z, kz); got != "[v1]" {
		t.Fatalf("z read %s, want [v1]", got)
	}
	if s := stat(t, z, "test.nodes"); s.Hits != 1 {
		t.Fatalf("z's first read should hit what a cached: %+v", s)
	}
	if got := read(z, kz); got != "[v1]" { // now from z's local tier
		t.Fatalf("z read %s, want [v1]", got)
	}

	src.set("v2") // the write, committed on a
	if err := a.Invalidate(t.Context(), scope); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 10*time.Second, "z reads the write", func() error {
		if got := read(z, kz); got != "[v2]" {
			return fmt.Errorf("z read %s", got)
		}
		return nil
	})
	if got := read(a, ka); got != "[v2]" {
		t.Errorf("a read %s, want [v2]", got)
	}
}
