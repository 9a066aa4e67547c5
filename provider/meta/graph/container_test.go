package graph_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

var testContainers = graph.Containers{
	Network:     "Net",
	Edge:        "things",
	CodeField:   "state",
	ReasonField: "why",
	Refused:     "Net refused the image",
	NoReason:    "it could not use it",
	TextField:   "caption",
	Item:        "thing",
}

// containerServer answers container creation with id "c1" (or no id when
// noID) and status reads with answers in turn, the last one repeated.
func containerServer(t *testing.T, noID bool, answers ...string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.URL.Query().Get("fields")+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			if noID {
				_, _ = w.Write([]byte(`{}`))
				return
			}
			_, _ = w.Write([]byte(`{"id":"c1"}`))
			return
		}
		a := answers[0]
		if len(answers) > 1 {
			answers = answers[1:]
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(ts.Close)
	return ts, &seen
}

func TestContainersCreateAndAwait(t *testing.T) {
	t.Parallel()
	ts, seen := containerServer(t, false, `{"id":"c1","state":"IN_PROGRESS"}`, `{"id":"c1","state":"FINISHED"}`)
	c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), nil)
	api := graph.API{BaseURL: ts.URL, Version: "v1"}
	acct := provider.Account{RemoteID: "u1", AccessToken: "tok"}
	id, err := testContainers.Create(t.Context(), c, api, acct, "preparing", nil)
	if err != nil || id != "c1" {
		t.Fatalf("Create = %q, %v", id, err)
	}
	if err := testContainers.Await(t.Context(), c, api, acct, id, "preparing", time.Millisecond, 5*time.Second); err != nil {
		t.Fatalf("Await: %v", err)
	}
	want := []string{"POST /v1/u1/things  Bearer tok", "GET /v1/c1 state,why Bearer tok", "GET /v1/c1 state,why Bearer tok"}
	if strings.Join(*seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(*seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestContainersFailures(t *testing.T) {
	t.Parallel()
	c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), nil)
	acct := provider.Account{RemoteID: "u1", AccessToken: "tok"}
	tests := []struct {
		name    string
		answer  string
		timeout time.Duration
		cancel  bool
		want    provider.Kind
		message string
	}{
		{"refused with a reason", `{"state":"ERROR","why":"Error: the image is too small"}`, time.Second, false, provider.BadContent, "op: Net refused the image: the image is too small"},
		{"refused without one", `{"state":"ERROR"}`, time.Second, false, provider.BadContent, "op: Net refused the image: it could not use it"},
		{"expired", `{"state":"EXPIRED"}`, time.Second, false, provider.Retry, "op: the container expired before it was published"},
		{"still in progress", `{"state":"IN_PROGRESS"}`, 20 * time.Millisecond, false, provider.Retry, "op: Net was still processing it after 20ms"},
		{"cancelled", `{"state":"IN_PROGRESS"}`, time.Minute, true, provider.Retry, "op: stopped while Net was processing it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts, _ := containerServer(t, false, tt.answer)
			ctx := t.Context()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
				defer cancel()
			}
			interval := 5 * time.Millisecond
			if tt.cancel {
				interval = time.Minute // cancelled while waiting, not while asking
			}
			err := testContainers.Await(ctx, c, graph.API{BaseURL: ts.URL, Version: "v1"}, acct, "c1", "op", interval, tt.timeout)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tt.want || pe.Message != tt.message {
				t.Errorf("Await = %v; want %s %q", err, tt.want, tt.message)
			}
		})
	}
	ts, _ := containerServer(t, true, `{}`)
	_, err := testContainers.Create(t.Context(), c, graph.API{BaseURL: ts.URL, Version: "v1"}, acct, "op", nil)
	if pe := (*provider.Error)(nil); !errors.As(err, &pe) || pe.Kind != provider.Retry || !strings.Contains(pe.Message, "no container id") {
		t.Errorf("Create without an id = %v; want Retry", err)
	}
}

func TestContainersPublish(t *testing.T) {
	t.Parallel()
	c := graph.NewClient(outbound.NewClient(outbound.Policy{AllowLoopback: true}), nil)
	acct := provider.Account{RemoteID: "u1", AccessToken: "tok"}
	ts, seen := containerServer(t, false, `{"id":"c1","permalink":"https://net.example/p/c1"}`)
	res, err := testContainers.Publish(t.Context(), c, graph.API{BaseURL: ts.URL, Version: "v1"}, acct, "k1", "hello", "things")
	if err != nil || res.RemoteID != "c1" || res.Ref != "c1" || res.RemoteURL != "https://net.example/p/c1" {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	if len(*seen) != 2 || (*seen)[0] != "POST /v1/u1/things_publish  Bearer tok" || (*seen)[1] != "GET /v1/c1 permalink Bearer tok" {
		t.Errorf("calls: %q", *seen)
	}
	ts, _ = containerServer(t, true, `{}`)
	_, err = testContainers.Publish(t.Context(), c, graph.API{BaseURL: ts.URL, Version: "v1"}, acct, "k1", "hello", "things")
	if pe := (*provider.Error)(nil); !errors.As(err, &pe) || pe.Kind != provider.Unknown || !strings.Contains(pe.Message, "no thing id") {
		t.Errorf("Publish without an id = %v; want Unknown", err)
	}
}
