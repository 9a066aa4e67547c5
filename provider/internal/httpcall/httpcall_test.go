package httpcall

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"3", now.Add(3 * time.Second)},
		{"1.2501", now.Add(1251 * time.Millisecond)},
		{"Sun, 01 Mar 2026 12:00:30 GMT", now.Add(30 * time.Second)},
		{"-1", time.Time{}},
		{"soon", time.Time{}},
		{"1e9", time.Time{}},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.in != "" {
			h.Set("Retry-After", c.in)
		}
		if got := RetryAfter(h, now); !got.Equal(c.want) {
			t.Errorf("RetryAfter(%q) = %v; want %v", c.in, got, c.want)
		}
	}
}

func TestShort(t *testing.T) {
	t.Parallel()
	if got := Short("  Bad\n Request:\tchat   not found "); got != "Bad Request: chat not found" {
		t.Errorf("Short = %q", got)
	}
	long := make([]rune, 400)
	for i := range long {
		long[i] = 'é'
	}
	if got := []rune(Short(string(long))); len(got) != 301 || got[300] != '…' {
		t.Errorf("Short kept %d runes", len(got))
	}
}

func TestRateBookKeepsNewestWindow(t *testing.T) {
	t.Parallel()
	var b RateBook
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 3, Reset: t0.Add(2 * time.Second)})
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 4, Reset: t0.Add(2 * time.Second)}) // late answer, same window
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 0, Reset: t0.Add(time.Second)})     // older window
	got, ok := b.Get("k")
	if !ok || got.Remaining != 3 || !got.Reset.Equal(t0.Add(2*time.Second)) {
		t.Errorf("got %+v", got)
	}
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 5, Reset: t0.Add(3 * time.Second)}) // next window
	if got, _ := b.Get("k"); got.Remaining != 5 {
		t.Errorf("new window: %+v", got)
	}
	if _, ok := b.Get("other"); ok {
		t.Error("an unseen key has a state")
	}
}

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

func TestDoBearerAuthorizes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
		w.Header().Set("X-Accept", r.Header.Get("Accept"))
	}))
	defer srv.Close()
	call := func(token, accept string) *http.Response {
		t.Helper()
		req, perr := NewRequest(context.Background(), http.MethodGet, srv.URL, nil, "op")
		if perr != nil {
			t.Fatal(perr)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		ex, err := DoBearer(srv.Client(), req, token)
		if err != nil || !ex.Sent || ex.Status() != http.StatusOK {
			t.Fatalf("DoBearer: %+v, %v", ex, err)
		}
		return ex.Res
	}
	if res := call("tok", ""); res.Header.Get("X-Auth") != "Bearer tok" || res.Header.Get("X-Accept") != "application/json" {
		t.Errorf("with a token: %v", res.Header)
	}
	if res := call("", "text/plain"); res.Header.Get("X-Auth") != "" || res.Header.Get("X-Accept") != "text/plain" {
		t.Errorf("without a token: %v", res.Header)
	}
}
