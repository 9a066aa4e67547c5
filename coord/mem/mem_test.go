package mem_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
	"github.com/heraldhq/herald/coord/mem"
	"github.com/heraldhq/herald/errs"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	// Every session the suite opens joins one coordination space, as every
	// node joins one ZooKeeper ensemble.
	space := mem.New()
	t.Cleanup(func() { _ = space.Close() })
	coordtest.Run(t,
		func(t *testing.T) coord.Coordinator { return space.NewSession() },
		coordtest.WithExpire(func(t *testing.T, c coord.Coordinator) { c.(*mem.Coordinator).Expire() }),
	)
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"mem://", false},
		{"mem:///", false},
		{"mem://host", true},
		{"mem:///some/path", true},
		{"mem://?ttl=5s", true},
		{"nosuch://", true},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := coord.Open(t.Context(), tc.url)
			if tc.wantErr {
				if err == nil {
					_ = c.Close()
					t.Fatalf("Open(%q) succeeded, want an error", tc.url)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.url, err)
			}
			defer c.Close()
			if err := c.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

// Two Opens are two separate spaces: the composition root must open the
// coordinator once and share it.
func TestOpenStartsSeparateSpaces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, err := coord.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := coord.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.TryLock(ctx, "leader", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryLock(ctx, "leader", "b"); err != nil {
		t.Fatalf("TryLock in a separate space: %v, want nil", err)
	}
}

func TestExpireKeepsSessionUsable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := mem.New()
	defer c.Close()
	if _, err := c.Register(ctx, coord.Instance{Service: "trigger", ID: "n1"}); err != nil {
		t.Fatal(err)
	}
	c.Expire()
	if got, _ := c.Instances(ctx, "trigger"); len(got) != 0 {
		t.Errorf("Instances after Expire = %v, want none", got)
	}
	if _, err := c.TryLock(ctx, "leader", "n1"); err != nil {
		t.Errorf("TryLock after Expire: %v, want nil", err)
	}
}

func TestClosedErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	c := mem.New()
	_ = c.Close()
	if err := c.Ping(context.Background()); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Ping after Close = %v, want errs.Unavailable", err)
	}
}
