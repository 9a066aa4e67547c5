package httpcall

import (
	"context"
	"net/http"
	"net/http/httptest"
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
