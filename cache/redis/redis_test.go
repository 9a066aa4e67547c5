package redis_test

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/cachetest"
	_ "github.com/heraldhq/herald/cache/redis"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// server returns the test Redis's address, skipping (failing in CI) when it
// is not running.
func server(t testing.TB) string {
	t.Helper()
	return servertest.Addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379")
}

func open(t testing.TB, rawURL string) cache.Cache {
	t.Helper()
	c, err := cache.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	addr := server(t)
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		c, err := cache.Open(t.Context(), "redis://"+addr+"/0")
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	addr := server(t)
	tests := []struct {
		url       string
		wantField string // "" when Open must succeed
	}{
		{"redis://" + addr, ""},
		{"redis://" + addr + "/", ""},
		{"redis://" + addr + "/3", ""},
		{"redis://" + addr + "/0?ttl=30s&timeout=250ms&pool_size=4", ""},
		{"redis://" + addr + "?ttl=0", ""},
		{"redis://" + addr + "/x", "db"},
		{"redis://" + addr + "/-1", "db"},
		{"redis://" + addr + "/0/1", "db"},
		{"redis://" + addr + "?ttl=-1s", "ttl"},
		{"redis://" + addr + "?ttl=5", "ttl"},
		{"redis://" + addr + "?timeout=0s", "timeout"},
		{"redis://" + addr + "?pool_size=0", "pool_size"},
		{"redis://" + addr + "?colour=blue", "colour"},
		{"redis://:s3cret@/0", "host"},
		{"redis://user:s3cret@" + addr + "/x", "db"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := cache.Open(t.Context(), tc.url)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Open(%q): %v", tc.url, err)
				}
				defer c.Close()
				if err := c.Ping(t.Context()); err != nil {
					t.Errorf("Ping: %v", err)
				}
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("Open(%q) succeeded, want an error about %q", tc.url, tc.wantField)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("Open(%q) = %v, want an errs.Invalid error", tc.url, err)
			}
			if _, ok := e.Fields[tc.wantField]; !ok {
				t.Errorf("Open(%q) = %v, want it to name %q", tc.url, err, tc.wantField)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) = %v, shows the password", tc.url, err)
			}
		})
	}
}

// A node whose cache is down, or refuses its credentials, says so at
// start-up, at once, in one line naming the port, the server and the cause,
// without the password.
func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	addr := server(t)
	closed := servertest.ClosedAddr(t)
	tests := []struct {
		name   string
		url    string
		kind   errs.Kind
		prefix string
		cause  string
	}{
		{"nothing listens", "redis://:s3cret@" + closed + "/0", errs.Unavailable,
			"unavailable: cache redis://:xxxxx@" + closed + "/0: cannot reach the server: ", "connection refused"},
		{"a name that does not resolve", "redis://no-such-host.invalid:6379", errs.Unavailable,
			"unavailable: cache redis://no-such-host.invalid:6379: cannot reach the server: ", "no-such-host.invalid"},
		{"TLS to a plain server", "rediss://" + addr, errs.Unavailable,
			"unavailable: cache rediss://" + addr + ": cannot reach the server: ", ""},
		{"an unknown user", "redis://nobody:s3cret@" + addr, errs.Unauthenticated,
			"unauthenticated: cache redis://nobody:xxxxx@" + addr + ": the server refused the credentials: ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c, err := cache.Open(t.Context(), tc.url)
			if err == nil {
				_ = c.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.url)
			}
			// Generous: the point is that Open does not hang or retry forever.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %v, want a few seconds at most", d)
			}
			msg := err.Error()
			if !errs.Is(err, tc.kind) || !strings.HasPrefix(msg, tc.prefix) || !strings.Contains(msg, tc.cause) {
				t.Errorf("Open(%q) =\n%q\nwant kind %s, starting %q, with the cause %q", tc.url, msg, tc.kind, tc.prefix, tc.cause)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
				t.Errorf("Open(%q) = %q, want one line without the password", tc.url, msg)
			}
		})
	}
}

// Each database number is its own key space.
func TestDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	addr := server(t)
	one, two := open(t, "redis://"+addr+"/1"), open(t, "redis://"+addr+"/2")
	ctx := t.Context()
	k := id.New("redistest")
	if err := one.Set(ctx, k, []byte("in one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := two.Get(ctx, k); err != nil || ok {
		t.Errorf("Get from database 2 = %q, %v, %v; want a miss", v, ok, err)
	}
	if v, ok, err := one.Get(ctx, k); err != nil || !ok || string(v) != "in one" {
		t.Errorf("Get from database 1 = %q, %v, %v; want a hit", v, ok, err)
	}
}

// Times to live reach Redis to the millisecond, rounded up; the default
// applies to a ttl of 0, and a default of 0 means no expiry.
func TestTTLReachesTheServer(t *testing.T) {
	t.Parallel()
	addr := server(t)
	raw := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = raw.Close() })
	ctx := t.Context()
	tests := []struct {
		url      string
		ttl      time.Duration
		min, max time.Duration // bounds of the PTTL Redis reports; -1: none
	}{
		{"redis://" + addr, 1500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
		{"redis://" + addr, 1, time.Millisecond - time.Millisecond, time.Millisecond},
		{"redis://" + addr + "?ttl=90s", 0, 80 * time.Second, 90 * time.Second},
		{"redis://" + addr + "?ttl=0", 0, -1, -1},
	}
	for _, tc := range tests {
		c := open(t, tc.url)
		k := id.New("redistest")
		if err := c.Set(ctx, k, []byte("v"), tc.ttl); err != nil {
			t.Fatal(err)
		}
		got, err := raw.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if tc.min == -1 {
			if got != -1 {
				t.Errorf("%s, ttl %v: PTTL = %v, want -1 (no expiry)", tc.url, tc.ttl, got)
			}
			continue
		}
		// A ttl that already ran out is -2 (gone): that is within bounds too.
		if got != -2 && (got < tc.min || got > tc.max) {
			t.Errorf("%s, ttl %v: PTTL = %v, want within [%v, %v]", tc.url, tc.ttl, got, tc.min, tc.max)
		}
	}
}

// When every pooled connection dies at once, as in a server restart, the
// next call still succeeds: the adapter reconnects by itself.
func TestReconnectsAfterConnectionsDrop(t *testing.T) {
	t.Parallel()
	p := servertest.NewProxy(t, server(t))
	c := open(t, "redis://"+p.Addr())
	ctx := t.Context()
	k := id.New("redistest")
	if err := c.Set(ctx, k, []byte("before"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if n := p.Cut(); n == 0 {
			t.Fatalf("round %d: no pooled connection to cut", i)
		}
		v, ok, err := c.Get(ctx, k)
		if err != nil || !ok || string(v) != "before" {
			t.Fatalf("round %d: Get after the connections dropped = %q, %v, %v; want a hit", i, v, ok, err)
		}
	}
}

// A server that goes away is reported by Ping and fails calls as
// Unavailable, and the adapter works again once it is back.
func TestServerDownThenBack(t *testing.T) {
	t.Parallel()
	p := servertest.NewProxy(t, server(t))
	c := open(t, "redis://"+p.Addr()+"?timeout=200ms")
	ctx := t.Context()
	p.Pause()
	if err := c.Ping(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Ping with the server down = %v, want Unavailable", err)
	}
	if _, _, err := c.Get(ctx, id.New("redistest")); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Get with the server down = %v, want Unavailable", err)
	}
	p.Resume()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping with the server back: %v", err)
	}
}

// The real restart: Redis stops and starts again (losing its entries: the
// test server keeps nothing on disk), and the same cache works again without
// being reopened.
func TestRestartRedis(t *testing.T) {
	servertest.RequireRestarts(t)
	c := open(t, "redis://"+server(t))
	ctx := t.Context()
	k := id.New("redistest")
	if err := c.Set(ctx, k, []byte("before"), time.Hour); err != nil {
		t.Fatal(err)
	}
	servertest.Restart(t, "redis")
	// The first calls after the restart succeed: no retry by the caller.
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	if _, _, err := c.Get(ctx, k); err != nil {
		t.Fatalf("Get after the restart: %v", err)
	}
	if err := c.Set(ctx, k, []byte("after"), time.Hour); err != nil {
		t.Fatalf("Set after the restart: %v", err)
	}
	if v, ok, err := c.Get(ctx, k); err != nil || !ok || string(v) != "after" {
		t.Fatalf("Get = %q, %v, %v; want after", v, ok, err)
	}
}
