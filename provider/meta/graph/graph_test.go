package graph_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

var now = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func graphErr(code, subcode int, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "AbC"}})
	return string(b)
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	buc := `{"123":[{"type":"pages","call_count":100,"total_cputime":10,"total_time":10,"estimated_time_to_regain_access":7}]}`
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		effect  bool
		want    provider.Kind
		after   time.Duration // RetryAfter - now, when not zero
		message string
	}{
		{"expired token", 400, nil, graphErr(190, 463, "Session has expired"), false, provider.Expired, 0, "expired"},
		{"app removed", 400, nil, graphErr(190, 458, "The user has not authorized application"), false, provider.Disconnected, 0, "reconnect"},
		{"password changed", 400, nil, graphErr(190, 460, "password changed"), false, provider.Disconnected, 0, "reconnect"},
		{"invalid token", 400, nil, graphErr(190, 467, "invalid"), false, provider.Disconnected, 0, "reconnect"},
		{"bare 190", 400, nil, graphErr(190, 0, "Invalid OAuth access token"), false, provider.Disconnected, 0, "Invalid OAuth"},
		{"permission", 403, nil, graphErr(200, 0, "(#200) requires pages_manage_posts"), false, provider.Disconnected, 0, "permission"},
		{"app limit", 400, nil, graphErr(4, 0, "(#4) Application request limit reached"), false, provider.RateLimited, 10 * time.Minute, "limit"},
		{"user limit", 400, nil, graphErr(17, 0, "(#17) User request limit reached"), false, provider.RateLimited, 10 * time.Minute, ""},
		{"page limit with BUC", 400, map[string]string{"X-Business-Use-Case-Usage": buc}, graphErr(32, 0, "(#32) Page request limit reached"), false, provider.RateLimited, 7 * time.Minute, ""},
		{"custom limit", 400, nil, graphErr(613, 0, "Calls to this api have exceeded the rate limit."), false, provider.RateLimited, 10 * time.Minute, ""},
		{"BUC code", 400, nil, graphErr(80001, 0, "There have been too many calls to this Page account"), false, provider.RateLimited, 10 * time.Minute, ""},
		{"usage header at 100 on another error", 400, map[string]string{"X-App-Usage": `{"call_count":100,"total_time":3,"total_cputime":3}`}, graphErr(2, 0, "Service temporarily unavailable"), false, provider.RateLimited, 10 * time.Minute, ""},
		{"invalid parameter", 400, nil, graphErr(100, 0, "(#100) Invalid parameter"), false, provider.BadContent, 0, "Invalid parameter"},
		{"spam block", 400, nil, graphErr(368, 0, "It looks like you were misusing this feature"), false, provider.BadContent, 0, "misusing"},
		{"duplicate", 400, nil, graphErr(506, 0, "(#506) Duplicate status message"), false, provider.BadContent, 0, "Duplicate"},
		{"unknown error", 500, nil, graphErr(1, 0, "An unknown error occurred"), false, provider.Retry, 0, "unknown error"},
		{"service error", 503, map[string]string{"Retry-After": "30"}, graphErr(2, 0, "Service temporarily unavailable"), false, provider.Retry, 30 * time.Second, ""},
		{"5xx without a body", 502, nil, "bad gateway", false, provider.Retry, 0, "502"},
		{"429", 429, nil, "", false, provider.RateLimited, 10 * time.Minute, ""},
		{"401 without a body", 401, nil, "", false, provider.Disconnected, 0, ""},
		{"unreadable success of a post", 200, nil, "{not json", true, provider.Unknown, 0, "could not be read"},
		{"unreadable success of a read", 200, nil, "{not json", false, provider.Retry, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Query().Has("access_token") {
					t.Errorf("token sent as %q / %q", r.Header.Get("Authorization"), r.URL.RawQuery)
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), func() time.Time { return now })
			api := graph.API{BaseURL: ts.URL, Version: "v24.0"}
			var out struct{ ID string }
			err := c.Do(t.Context(), graph.Call{Method: http.MethodPost, URL: api.URL("/1/feed", nil), Token: "tok", Op: "posting", Effect: tt.effect}, &out)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v", err)
			}
			if pe.Kind != tt.want {
				t.Errorf("kind = %s; want %s (%v)", pe.Kind, tt.want, pe)
			}
			if tt.after != 0 && !pe.RetryAfter.Equal(now.Add(tt.after)) {
				t.Errorf("retry after %s; want %s", pe.RetryAfter.Sub(now), tt.after)
			}
			if !strings.Contains(pe.Message, tt.message) || !strings.HasPrefix(pe.Message, "posting") {
				t.Errorf("message %q; want it to contain %q", pe.Message, tt.message)
			}
		})
	}
}

func TestLostAnswer(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := http.NewResponseController(w).Hijack()
		_ = conn.Close()
	}))
	defer ts.Close()
	c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), nil)
	for _, effect := range []bool{true, false} {
		err := c.Do(t.Context(), graph.Call{Method: http.MethodPost, URL: ts.URL + "/v24.0/1/feed?secret=s3cr3t", Token: "tok", Op: "posting", Effect: effect}, nil)
		var pe *provider.Error
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v", err)
		}
		want := provider.Retry
		if effect {
			want = provider.Unknown
		}
		if pe.Kind != want || strings.Contains(pe.Error(), "s3cr3t") || strings.Contains(pe.Error(), "tok") {
			t.Errorf("effect %v: %v; want %s without secrets", effect, pe, want)
		}
	}
	// Nothing listening: the request never went out.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	err := c.Do(t.Context(), graph.Call{Method: http.MethodPost, URL: dead.URL + "/v24.0/1/feed", Op: "posting", Effect: true}, nil)
	if pe := (*provider.Error)(nil); !errors.As(err, &pe) || pe.Kind != provider.Retry {
		t.Errorf("refused connection: %v; want retry", err)
	}
}

func TestUsageBudget(t *testing.T) {
	t.Parallel()
	usage := `{"call_count":40,"total_time":95,"total_cputime":20}`
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("X-App-Usage", usage)
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	defer ts.Close()
	c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), func() time.Time { return now })
	call := graph.Call{Method: http.MethodGet, URL: ts.URL, RateKey: "acct", Op: "reading"}
	if _, ok := c.RateLimit("acct"); ok {
		t.Fatal("a budget before any call")
	}
	if err := c.Do(t.Context(), call, nil); err != nil {
		t.Fatal(err)
	}
	// The highest figure counts: total_time at 95 %.
	if rl, _ := c.RateLimit("acct"); rl.Limit != 100 || rl.Remaining != 5 || rl.Exhausted(now) {
		t.Errorf("budget = %+v", rl)
	}
	usage = `{"call_count":100,"total_time":1,"total_cputime":1}`
	if err := c.Do(t.Context(), call, nil); err != nil {
		t.Fatal(err)
	}
	err := c.Do(t.Context(), call, nil)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.RateLimited || calls != 2 {
		t.Errorf("after 100 %%: %v, %d calls made; want rate limited without a third call", err, calls)
	}
}

func TestAPIURL(t *testing.T) {
	t.Parallel()
	a := graph.API{BaseURL: "https://graph.facebook.com/", Version: "v24.0"}
	if got := a.URL("/me", nil); got != "https://graph.facebook.com/v24.0/me" {
		t.Errorf("URL = %s", got)
	}
	acct := provider.Account{InstanceURL: "http://127.0.0.1:9/graph"}
	if got := graph.ForAccount(a, acct).URL("/1/feed", nil); got != "http://127.0.0.1:9/graph/v24.0/1/feed" {
		t.Errorf("override = %s", got)
	}
}

func TestPageCanPublish(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p    graph.Page
		want bool
	}{
		{graph.Page{Tasks: []string{"ANALYZE", "CREATE_CONTENT"}, AccessToken: "t"}, true},
		{graph.Page{Tasks: []string{"MANAGE"}, AccessToken: "t"}, true},
		{graph.Page{Tasks: []string{"ANALYZE", "ADVERTISE"}, AccessToken: "t"}, false},
		{graph.Page{AccessToken: "t"}, true}, // tasks not reported: the token decides
		{graph.Page{}, false},
	} {
		if got := tt.p.CanPublish(); got != tt.want {
			t.Errorf("%+v: CanPublish = %v", tt.p, got)
		}
	}
}
