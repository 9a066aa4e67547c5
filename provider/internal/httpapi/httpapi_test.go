package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
)

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		expires time.Time
		want    provider.Kind
	}{
		{"expiry unknown", time.Time{}, provider.Disconnected},
		{"valid for an hour", now.Add(time.Hour), provider.Disconnected},
		{"expired", now.Add(-time.Second), provider.Expired},
		{"within the clock skew", now.Add(30 * time.Second), provider.Expired},
	}
	for _, c := range cases {
		e := Unauthorized(provider.Account{ExpiresAt: c.expires}, now, 401, "op", "")
		if e.Kind != c.want || e.Status != 401 {
			t.Errorf("%s: %+v; want %s", c.name, e, c.want)
		}
	}
}

func TestNeedsRefresh(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	acct := provider.Account{RefreshToken: "r", ExpiresAt: now.Add(10 * time.Minute)}
	if NeedsRefresh(acct, now, 5*time.Minute) {
		t.Error("refresh 10 minutes before expiry with a 5-minute margin")
	}
	if !NeedsRefresh(acct, now.Add(6*time.Minute), 5*time.Minute) {
		t.Error("no refresh 4 minutes before expiry")
	}
	acct.RefreshToken = ""
	if NeedsRefresh(acct, now.Add(time.Hour), 5*time.Minute) {
		t.Error("refresh without a refresh token")
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	if !RetryAfter(h, now).IsZero() {
		t.Error("absent header")
	}
	h.Set("Retry-After", "30")
	if got := RetryAfter(h, now); !got.Equal(now.Add(30 * time.Second)) {
		t.Errorf("seconds: %v", got)
	}
	h.Set("Retry-After", "Fri, 01 May 2026 13:00:00 GMT")
	if got := RetryAfter(h, now); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("date: %v", got)
	}
}

func TestRateBookKeepsTheNewestWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var b RateBook
	b.Observe("k", provider.RateLimit{Limit: 10, Remaining: 5, Reset: t0.Add(time.Minute)})
	b.Observe("k", provider.RateLimit{Limit: 10, Remaining: 7, Reset: t0.Add(time.Minute)}) // late answer, same window
	b.Observe("k", provider.RateLimit{Limit: 10, Remaining: 9, Reset: t0})                  // older window
	got, ok := b.Get("k")
	if !ok || got.Remaining != 5 || !got.Reset.Equal(t0.Add(time.Minute)) {
		t.Errorf("got %+v", got)
	}
	b.Observe("k", provider.RateLimit{Limit: 10, Remaining: 9, Reset: t0.Add(2 * time.Minute)})
	if got, _ := b.Get("k"); got.Remaining != 9 {
		t.Errorf("new window: %+v", got)
	}
}

func TestAccountKeyHidesTheToken(t *testing.T) {
	t.Parallel()
	a := AccountKey(provider.Account{InstanceURL: "https://a", AccessToken: "secret"})
	if a == "" || a == AccountKey(provider.Account{InstanceURL: "https://a", AccessToken: "other"}) || len(a) < 10 || a[len(a)-6:] == "secret" {
		t.Errorf("key %q", a)
	}
	if AccountKey(provider.Account{ID: "acct_1", AccessToken: "secret"}) != "acct_1" {
		t.Error("id not used")
	}
}
