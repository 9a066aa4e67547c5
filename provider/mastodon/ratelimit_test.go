package mastodon

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
)

func TestRateBookKeepsTheNewestWindow(t *testing.T) {
	t.Parallel()
	h := func(remaining, reset string) http.Header {
		return http.Header{
			"X-Ratelimit-Limit":     {"300"},
			"X-Ratelimit-Remaining": {remaining},
			"X-Ratelimit-Reset":     {reset},
		}
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		answers []http.Header // in arrival order
		want    int           // remaining
		wantOK  bool
	}{
		{"one answer", []http.Header{h("299", "2026-03-01T12:05:00.000000Z")}, 299, true},
		{"lower count in the same window wins", []http.Header{h("250", "2026-03-01T12:05:00Z"), h("251", "2026-03-01T12:05:00Z")}, 250, true},
		{"a late answer from an old window is ignored", []http.Header{h("300", "2026-03-01T12:10:00Z"), h("0", "2026-03-01T12:05:00Z")}, 300, true},
		{"a new window replaces an old one", []http.Header{h("0", "2026-03-01T12:05:00Z"), h("299", "2026-03-01T12:10:00Z")}, 299, true},
		{"unix seconds", []http.Header{h("5", "1772366700")}, 5, true},
		{"incomplete headers are ignored", []http.Header{{"X-Ratelimit-Remaining": {"3"}}}, 0, false},
		{"garbage is ignored", []http.Header{h("many", "soon")}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b rateBook
			for _, a := range tt.answers {
				b.observe("k", a, now)
			}
			got, ok := b.get("k")
			if ok != tt.wantOK || got.Remaining != tt.want {
				t.Errorf("got %+v, %v; want remaining %d, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok && (got.Limit != 300 || !got.Seen.Equal(now) || got.Reset.IsZero()) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestRateLimitExhausted(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		rl   RateLimit
		want bool
	}{
		{RateLimit{Remaining: 0, Reset: now.Add(time.Minute)}, true},
		{RateLimit{Remaining: 0, Reset: now.Add(-time.Second)}, false},
		{RateLimit{Remaining: 1, Reset: now.Add(time.Minute)}, false},
	}
	for _, tt := range tests {
		if got := tt.rl.Exhausted(now); got != tt.want {
			t.Errorf("%+v.Exhausted = %v; want %v", tt.rl, got, tt.want)
		}
	}
}

func TestAccountKeyHidesTheToken(t *testing.T) {
	t.Parallel()
	a := accountKey(providerAccount("", "https://a.example", "secret-token"))
	b := accountKey(providerAccount("", "https://a.example", "other-token"))
	if a == b || len(a) == 0 || strings.Contains(a, "secret-token") {
		t.Errorf("keys %q and %q", a, b)
	}
	if got := accountKey(providerAccount("acct_1", "https://a.example", "secret-token")); got != "acct_1" {
		t.Errorf("key with an id = %q", got)
	}
}

func providerAccount(id, instance, token string) provider.Account {
	return provider.Account{ID: id, InstanceURL: instance, AccessToken: token}
}
