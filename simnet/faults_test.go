package simnet_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/simnet"
)

func TestFaultsFailNext(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	if err := b.srv.SetFaults(simnet.Faults{FailNext: 2, ErrorStatus: 502, RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, _ := b.post(t, b.token, "x", "")
		if res.status != http.StatusBadGateway || res.header.Get("Retry-After") != "2" {
			t.Errorf("request %d: %d Retry-After %q; want 502 and 2", i+1, res.status, res.header.Get("Retry-After"))
		}
	}
	if res, _ := b.post(t, b.token, "x", ""); res.status != http.StatusOK {
		t.Errorf("third request: %d; want 200", res.status)
	}
	if n := len(b.srv.Statuses()); n != 1 {
		t.Errorf("%d statuses; failed requests must not post", n)
	}
	if f := b.srv.Faults(); f.FailNext != 0 {
		t.Errorf("FailNext left = %d; want 0", f.FailNext)
	}
}

func TestFaultsErrorRateAndPath(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	if err := b.srv.SetFaults(simnet.Faults{ErrorRate: 1, Path: "/api/v1/statuses"}); err != nil {
		t.Fatal(err)
	}
	if res, _ := b.post(t, b.token, "x", ""); res.status != http.StatusServiceUnavailable {
		t.Errorf("status post: %d; want 503", res.status)
	}
	if res := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: b.token}); res.status != http.StatusOK {
		t.Errorf("another path: %d; want 200", res.status)
	}
	// Control endpoints are never faulted.
	if res := b.do(t, request{method: "GET", path: "/_simnet/stats"}); res.status != http.StatusOK {
		t.Errorf("control endpoint: %d", res.status)
	}
	if got := b.srv.Stats().FaultsInjected; got != 1 {
		t.Errorf("FaultsInjected = %d; want 1", got)
	}
}

func TestFaultsDropAfterProcessing(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	if err := b.srv.SetFaults(simnet.Faults{DropNext: 1}); err != nil {
		t.Fatal(err)
	}
	// A client of its own, so the request goes on a fresh connection that
	// the transport will not silently retry.
	c := &http.Client{Transport: &http.Transport{}}
	req, _ := http.NewRequest("POST", b.url+"/api/v1/statuses", strings.NewReader(url.Values{"status": {"lost answer"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Idempotency-Key", "drop-1")
	res, err := c.Do(req)
	if err == nil {
		_ = res.Body.Close()
		t.Fatalf("got status %d; want the connection dropped", res.StatusCode)
	}
	if n := len(b.srv.Statuses()); n != 1 {
		t.Fatalf("%d statuses; the dropped request must still have posted", n)
	}
	// Repeating with the key settles it without a second post.
	again, st := b.post(t, b.token, "lost answer", "drop-1")
	if again.status != http.StatusOK || st.ID != b.srv.Statuses()[0].ID || b.srv.DuplicatesAvoided() != 1 {
		t.Errorf("retry: %d id %s; stored %+v, duplicates %d", again.status, st.ID, b.srv.Statuses(), b.srv.DuplicatesAvoided())
	}
}

func TestFaultsLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	if err := b.srv.SetFaults(simnet.Faults{Latency: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest("GET", b.url+"/api/v2/instance", nil)
	res, err := c.Do(req)
	if err == nil {
		_ = res.Body.Close()
		t.Fatal("request finished despite a minute of latency")
	}
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("err = %v; want a timeout", err)
	}
}

func TestFaultsControlEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	res := b.do(t, request{method: "POST", path: "/_simnet/faults",
		json: map[string]any{"latency": "5ms", "fail_next": 1, "error_status": 500, "retry_after": 3000}})
	if res.status != http.StatusOK {
		t.Fatalf("set faults: %d %s", res.status, res.body)
	}
	want := simnet.Faults{Latency: 5 * time.Millisecond, FailNext: 1, ErrorStatus: 500, RetryAfter: 3 * time.Second}
	if got := b.srv.Faults(); got != want {
		t.Errorf("Faults() = %+v; want %+v", got, want)
	}
	if res, _ := b.post(t, b.token, "x", ""); res.status != http.StatusInternalServerError || res.header.Get("Retry-After") != "3" {
		t.Errorf("faulted request: %d Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	if res := b.do(t, request{method: "DELETE", path: "/_simnet/faults"}); res.status != http.StatusOK || b.srv.Faults() != (simnet.Faults{}) {
		t.Errorf("clear: %d %+v", res.status, b.srv.Faults())
	}

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"error_rate": 1.5}, "error_rate"},
		{map[string]any{"drop_rate": -0.1}, "drop_rate"},
		{map[string]any{"error_status": 200}, "error_status"},
		{map[string]any{"fail_next": -1}, "fail_next"},
		{map[string]any{"drop_next": -3}, "drop_next"},
		{map[string]any{"latency": "10m"}, "latency"},
		{map[string]any{"retry_after": "-1s"}, "retry_after"},
		{map[string]any{"path": "api"}, "path"},
	}
	for _, tt := range bad {
		res := b.do(t, request{method: "POST", path: "/_simnet/faults", json: tt.body})
		var e struct {
			Fields map[string]string `json:"fields"`
		}
		res.decode(t, &e)
		if res.status != http.StatusUnprocessableEntity || e.Fields[tt.field] == "" {
			t.Errorf("%v: %d %s; want 422 naming %s", tt.body, res.status, res.body, tt.field)
		}
	}
	for _, body := range []map[string]any{{"fail_nxt": 1}, {"latency": "soon"}} {
		if res := b.do(t, request{method: "POST", path: "/_simnet/faults", json: body}); res.status != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d; want 422", body, res.status)
		}
	}
	if b.srv.Faults() != (simnet.Faults{}) {
		t.Errorf("refused faults changed the state: %+v", b.srv.Faults())
	}
}

func TestSetFaultsValidates(t *testing.T) {
	t.Parallel()
	srv := simnet.New(simnet.Options{})
	err := srv.SetFaults(simnet.Faults{ErrorRate: 2, FailNext: -1})
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid || e.Fields["error_rate"] == "" || e.Fields["fail_next"] == "" {
		t.Errorf("err = %v; want Invalid naming error_rate and fail_next", err)
	}
}

func TestNewRefusesInvalidFaults(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("New accepted an error rate of 3")
		}
	}()
	simnet.New(simnet.Options{Faults: simnet.Faults{ErrorRate: 3}})
}
