package mem_test

import (
	"testing"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/cachetest"
	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/errs"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Cache { return mem.New(8<<20, 0) })
}

func TestConformanceThroughOpen(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		c, err := cache.Open(t.Context(), "mem://?max_bytes=8388608&ttl=1h")
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url       string
		wantField string // "" when Open must succeed
	}{
		{"mem://", ""},
		{"mem:///", ""},
		{"mem://?max_bytes=1048576", ""},
		{"mem://?ttl=30s", ""},
		{"mem://?ttl=0", ""},
		{"mem://?max_bytes=1024&ttl=5m", ""},
		{"mem://?max_bytes=0", "max_bytes"},
		{"mem://?max_bytes=-5", "max_bytes"},
		{"mem://?max_bytes=64MB", "max_bytes"},
		{"mem://?ttl=5", "ttl"},
		{"mem://?ttl=-1s", "ttl"},
		{"mem://?size=5", "size"},
		{"mem://somehost", "url"},
		{"mem:///some/path", "url"},
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
		})
	}
}
