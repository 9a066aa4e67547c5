package portable

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
)

// fakeDriver returns what the test sets and records what it was asked.
type fakeDriver struct {
	during func() // runs inside Get, as a call in flight
	value  []byte
	ok     bool
	err    error
	gotTTL time.Duration
	calls  int
	closes int
}

func (f *fakeDriver) Get(context.Context, string) ([]byte, bool, error) {
	f.calls++
	if f.during != nil {
		f.during()
	}
	return f.value, f.ok, f.err
}

func (f *fakeDriver) Set(_ context.Context, _ string, _ []byte, ttl time.Duration) error {
	f.calls++
	f.gotTTL = ttl
	return f.err
}

func (f *fakeDriver) Delete(context.Context, []string) error { f.calls++; return f.err }
func (f *fakeDriver) Ping(context.Context) error             { f.calls++; return f.err }
func (f *fakeDriver) Close() error                           { f.closes++; return nil }

// Driver failures reach callers as kinds they can act on, naming the cache.
func TestDriverErrors(t *testing.T) {
	t.Parallel()
	herald := errs.E(errs.Conflict, "already there")
	tests := []struct {
		name     string
		err      error
		cancel   bool
		wantKind errs.Kind
		wantIs   error
	}{
		{"a network error is unavailable", errors.New("connection refused"), false, errs.Unavailable, nil},
		{"a Herald error is kept", herald, false, errs.Conflict, herald},
		{"the context's end is the context's error", context.Canceled, true, "", context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f := &fakeDriver{err: tc.err}
			if tc.cancel {
				f.during = cancel // the caller gives up while the call is in flight
			}
			_, _, err := New("test://x", f, time.Minute).Get(ctx, "k")
			if tc.wantKind != "" && !errs.Is(err, tc.wantKind) {
				t.Errorf("err = %v, want kind %s", err, tc.wantKind)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want %v in its chain", err, tc.wantIs)
			}
			if tc.wantKind == errs.Unavailable && !errors.Is(err, tc.err) {
				t.Errorf("err = %v lost its cause", err)
			}
		})
	}
}

func TestTTLAndValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeDriver{ok: true} // a hit with a nil value
	c := New("test://x", f, 3*time.Minute)
	if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || v == nil {
		t.Errorf("Get of an empty hit = %#v, %v, %v; want a non-nil empty value", v, ok, err)
	}
	for _, tc := range []struct{ in, want time.Duration }{{0, 3 * time.Minute}, {time.Second, time.Second}} {
		if err := c.Set(ctx, "k", nil, tc.in); err != nil {
			t.Fatal(err)
		}
		if f.gotTTL != tc.want {
			t.Errorf("Set with ttl %v reached the driver as %v, want %v", tc.in, f.gotTTL, tc.want)
		}
	}
	noDefault := New("test://x", f, 0)
	if err := noDefault.Set(ctx, "k", nil, 0); err != nil || f.gotTTL != 0 {
		t.Errorf("Set with no default ttl reached the driver as %v, %v; want 0 (no expiry)", f.gotTTL, err)
	}
}

// Bad input and closed caches never reach the driver, and Close closes it
// once.
func TestChecksBeforeTheDriver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeDriver{}
	c := New("test://x", f, time.Minute)
	_ = c.Set(ctx, "bad key", nil, 0)
	_ = c.Set(ctx, "k", nil, -time.Second)
	_, _, _ = c.Get(ctx, "")
	_ = c.Delete(ctx, "ok", "")
	_ = c.Delete(ctx)
	if f.calls != 0 {
		t.Errorf("the driver was called %d times for bad input", f.calls)
	}
	_ = c.Close()
	_ = c.Close()
	if err := c.Ping(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Ping after Close = %v, want Unavailable", err)
	}
	if f.calls != 0 || f.closes != 1 {
		t.Errorf("after Close: %d calls, %d closes; want 0 and 1", f.calls, f.closes)
	}
}
