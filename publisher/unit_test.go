package publisher

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	base := IdempotencyKey("post_1", "acct_1", 1, due)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(base) {
		t.Fatalf("key %q is not 32 hex digits", base)
	}
	if again := IdempotencyKey("post_1", "acct_1", 1, due.In(time.FixedZone("X", 3600))); again != base {
		t.Errorf("same instant in another zone gave %q, want %q", again, base)
	}
	others := map[string]string{
		"other post":     IdempotencyKey("post_2", "acct_1", 1, due),
		"other account":  IdempotencyKey("post_1", "acct_2", 1, due),
		"other revision": IdempotencyKey("post_1", "acct_1", 2, due),
		"other instant":  IdempotencyKey("post_1", "acct_1", 1, due.Add(time.Microsecond)),
		// Parts are delimited: moving a character between them changes the key.
		"shifted parts": IdempotencyKey("post_1a", "cct_1", 1, due),
	}
	for name, k := range others {
		if k == base {
			t.Errorf("%s gave the same key", name)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tries    int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second},
		{1000, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			d := backoff(100*time.Millisecond, time.Second, tt.tries)
			if d < tt.min || d > tt.max {
				t.Fatalf("backoff after %d tries = %v, want within [%v, %v]", tt.tries, d, tt.min, tt.max)
			}
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	// The attempts are to a network that deduplicates by key (a Mastodon).
	s := &Service{cfg: testConfig(), providers: map[string]provider.Provider{"mastodon": newFakeNetwork("mastodon")}}
	now := time.Now()
	later := now.Add(time.Hour)
	tests := []struct {
		name      string
		tries     int
		err       error
		state     State
		kind      string
		nextAfter time.Time // the next try is not before this
		reconnect bool
	}{
		{name: "success", tries: 1, state: Succeeded},
		{name: "bad content", tries: 1, err: perr(provider.BadContent, "no"), state: Failed, kind: kindBadContent},
		{name: "disconnected", tries: 1, err: perr(provider.Disconnected, ""), state: Failed, kind: kindDisconnected, reconnect: true},
		{name: "retry", tries: 1, err: perr(provider.Retry, ""), state: RetryWait, kind: "retry", nextAfter: now},
		{name: "retry honours retry-after", tries: 1, err: &provider.Error{Kind: provider.Retry, RetryAfter: later}, state: RetryWait, kind: "retry", nextAfter: later},
		{name: "retry, out of tries", tries: 4, err: perr(provider.Retry, ""), state: Failed, kind: kindUnavailable},
		{name: "rate limited waits for the reset", tries: 1, err: &provider.Error{Kind: provider.RateLimited, RetryAfter: later}, state: RetryWait, kind: "rate_limited", nextAfter: later},
		{name: "rate limited, out of tries", tries: 4, err: &provider.Error{Kind: provider.RateLimited, RetryAfter: later}, state: Failed, kind: kindRateLimited},
		{name: "unknown", tries: 1, err: perr(provider.Unknown, ""), state: Unknown, kind: "unknown", nextAfter: now},
		{name: "untyped is unknown", tries: 1, err: context.DeadlineExceeded, state: Unknown, kind: "unknown", nextAfter: now},
		{name: "unknown, out of tries", tries: 4, err: perr(provider.Unknown, ""), state: Failed, kind: kindUnknown},
		{name: "a kind this version does not know is retried", tries: 1, err: perr("refresh_token", ""), state: RetryWait, kind: "retry", nextAfter: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := s.outcomeOf(attempt{Tries: tt.tries, Network: "mastodon"}, provider.Result{RemoteID: "1"}, tt.err, now)
			if out.state != tt.state || out.kind != tt.kind || out.reconnect != tt.reconnect {
				t.Errorf("outcome = %s/%s reconnect %v, want %s/%s reconnect %v", out.state, out.kind, out.reconnect, tt.state, tt.kind, tt.reconnect)
			}
			if tt.state == Failed && out.reason == "" {
				t.Error("a final failure has no reason for the user")
			}
			waiting := tt.state == RetryWait || tt.state == Unknown
			if waiting && (out.nextTryAt.IsZero() || out.nextTryAt.Before(tt.nextAfter)) {
				t.Errorf("next try at %v, want after %v", out.nextTryAt, tt.nextAfter)
			}
			if !waiting && !out.nextTryAt.IsZero() {
				t.Errorf("a settled outcome has a next try at %v", out.nextTryAt)
			}
		})
	}
}

func TestNewChecksConfigAndDeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := mem.New()
	t.Cleanup(func() { b.Close() })
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	full := Deps{DB: db, Bus: b, Blob: bucket, Portal: newFakePortal(),
		Providers: map[string]provider.Provider{"mastodon": newFakeNetwork("mastodon")}}

	tests := []struct {
		name    string
		cfg     func(*Config)
		deps    func(*Deps)
		wantErr string
	}{
		{name: "defaults fill zero fields", cfg: func(c *Config) { *c = Config{} }},
		{name: "no store", deps: func(d *Deps) { d.DB = nil }, wantErr: "Deps.DB"},
		{name: "no bus", deps: func(d *Deps) { d.Bus = nil }, wantErr: "Deps.Bus"},
		{name: "no blob", deps: func(d *Deps) { d.Blob = nil }, wantErr: "Deps.Blob"},
		{name: "no portal", deps: func(d *Deps) { d.Portal = nil }, wantErr: "Deps.Portal"},
		{name: "nil provider", deps: func(d *Deps) { d.Providers = map[string]provider.Provider{"x": nil} }, wantErr: `Providers["x"]`},
		{name: "claim shorter than a call", cfg: func(c *Config) { c.InFlightTimeout = c.CallTimeout }, wantErr: "InFlightTimeout"},
		{name: "negative tries", cfg: func(c *Config) { c.MaxTries = -1 }, wantErr: "MaxTries"},
		{name: "backoff cap below base", cfg: func(c *Config) { c.RetryMax = c.RetryBase / 2 }, wantErr: "RetryMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, deps := DefaultConfig(), full
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if tt.deps != nil {
				tt.deps(&deps)
			}
			s, err := New(cfg, deps)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.cfg != DefaultConfig() {
					t.Errorf("config = %+v, want the defaults", s.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{noRun: true})
	ctx := context.Background()
	// Migrating again is harmless.
	if err := tb.svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.svc.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	if err := tb.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tb.svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tb.svc.Start(ctx); err == nil {
		t.Error("Start after Close succeeded")
	}
	// Once closed, post.due is not taken: the bus keeps it for a live node.
	if _, ok := tb.svc.enter(); ok {
		t.Error("a closed service accepted a delivery")
	}
}
