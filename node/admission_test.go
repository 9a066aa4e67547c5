package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/admission"
	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/telemetry"
)

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, method, url string, header http.Header, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Error(err) // may run in a goroutine of the test
		return reply{}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return reply{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

func wantShed(t *testing.T, what string, r reply, contentType string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503: %s", what, r.status, r.body)
	}
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("%s: Retry-After %q, want whole seconds", what, r.header.Get("Retry-After"))
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), contentType) {
		t.Fatalf("%s: Content-Type %q, want %s", what, r.header.Get("Content-Type"), contentType)
	}
	if contentType == "application/json" {
		var body struct {
			Error struct{ Kind, Message string }
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error.Kind != "unavailable" || body.Error.Message == "" {
			t.Fatalf("%s: body %q, want the API's error with kind unavailable", what, r.body)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A flood of browsing against a slow handler: the limit holds, the excess
// gets 503 + Retry-After at once, while calls between services, probes and
// open streams are unaffected.
func TestAdmissionShedsFloodButNotInternalCalls(t *testing.T) {
	a := newAdmitter(config.Limits{MinConcurrency: 2, MaxConcurrency: 2, QueueSize: 2, QueueTimeout: 20 * time.Millisecond})
	release := make(chan struct{})
	var running, peak atomic.Int64
	slow := func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		_, _ = w.Write([]byte("done"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/slow", slow)
	mux.HandleFunc("/calendar", slow)
	mux.HandleFunc("/api/v1/notifications/stream", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-release
	})
	mux.HandleFunc("/herald.portal.v1.PortalService/GetPublishJob", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := httptest.NewServer(a.wrap(mux))
	defer srv.Close()
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()

	// Streams first: they must not take the two slots.
	for range 3 {
		go get(t, "GET", srv.URL+"/api/v1/notifications/stream", nil, "")
	}
	waitFor(t, "3 streams open", func() bool { return a.streams.Load() == 3 })
	if s := a.lim.Stats(); s.InFlight != 0 {
		t.Fatalf("streams hold %d slots, want 0", s.InFlight)
	}

	const flood = 20
	replies := make(chan reply, flood)
	for range flood {
		go func() { replies <- get(t, "GET", srv.URL+"/api/v1/slow", nil, "") }()
	}
	// Two run, the rest are refused: at once, or after the short queue wait.
	for i := range flood - 2 {
		select {
		case r := <-replies:
			wantShed(t, fmt.Sprintf("flooding request %d", i), r, "application/json")
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d excess requests answered: refusals must be prompt", i, flood-2)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d slow requests ran at once, want the limit 2", p)
	}

	// Saturated for the public; internal calls and probes still pass.
	token := http.Header{bind.TokenHeader: {"x"}, "Content-Type": {"application/json"}}
	if r := get(t, "POST", srv.URL+"/herald.portal.v1.PortalService/GetPublishJob", token, "{}"); r.status != http.StatusOK {
		t.Fatalf("internal RPC while saturated: %d %s", r.status, r.body)
	}
	if r := get(t, "GET", srv.URL+"/healthz", nil, ""); r.status != http.StatusOK {
		t.Fatalf("healthz while saturated: %d", r.status)
	}
	wantShed(t, "UI page while saturated", get(t, "GET", srv.URL+"/calendar", nil, ""), "text/html")
	wantShed(t, "API change while saturated", get(t, "POST", srv.URL+"/api/v1/slow", nil, "{}"), "application/json")

	free()
	for range 2 {
		if r := <-replies; r.status != http.StatusOK {
			t.Fatalf("admitted request: %d %s", r.status, r.body)
		}
	}
	s := a.lim.Stats()
	if s.Shed[admission.Low] != flood-2+1 || s.Shed[admission.Normal] != 1 {
		t.Fatalf("shed %v, want low %d, normal 1", s.Shed, flood-2+1)
	}
	waitFor(t, "streams closed", func() bool { return a.streams.Load() == 0 })
}

// Readiness fails while the node keeps refusing requests and recovers after;
// liveness stays up, and the metrics tell.
func TestReadinessFollowsSaturation(t *testing.T) {
	tn := startTracedNode(t, "HERALD_LIMITS__MIN_CONCURRENCY=1", "HERALD_LIMITS__MAX_CONCURRENCY=1", "HERALD_LIMITS__QUEUE_SIZE=0")
	n, base := tn.n, tn.n.URL()
	if r := get(t, "GET", base+"/readyz", nil, ""); r.status != http.StatusOK {
		t.Fatalf("readyz at rest: %d %s", r.status, r.body)
	}
	// Hold the only slot, as a slow request would.
	tok, err := n.admit.lim.Acquire(context.Background(), admission.Low)
	if err != nil {
		t.Fatal(err)
	}
	held := true
	defer func() {
		if held {
			tok.Done()
		}
	}()
	until := time.Now().Add(1300 * time.Millisecond)
	for time.Now().Before(until) {
		wantShed(t, "API while full", get(t, "GET", base+"/api/v1/me", nil, ""), "application/json")
		time.Sleep(50 * time.Millisecond)
	}
	r := get(t, "GET", base+"/readyz", nil, "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "admission: saturated") {
		t.Fatalf("readyz while shedding: %d %s", r.status, r.body)
	}
	if r := get(t, "GET", base+"/healthz", nil, ""); r.status != http.StatusOK {
		t.Fatalf("healthz while shedding: %d", r.status)
	}
	// A call between services gets through to its handler (which answers
	// for itself: here, that the job does not exist).
	rpc := get(t, "POST", base+"/herald.portal.v1.PortalService/GetPublishJob",
		http.Header{bind.TokenHeader: {"telemetry-test"}, "Content-Type": {"application/json"}}, `{"postId":"nope"}`)
	if rpc.status == http.StatusServiceUnavailable || rpc.status == 0 {
		t.Fatalf("internal RPC while shedding: %d %s", rpc.status, rpc.body)
	}
	metrics := get(t, "GET", base+"/metrics", nil, "").body
	for _, want := range []string{`herald_admission_shed_total{class="low"}`, "herald_admission_limit 1", "herald_admission_saturated 1", "herald_consumer_limit 64"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	tok.Done()
	held = false
	waitFor(t, "readyz to recover", func() bool { return get(t, "GET", base+"/readyz", nil, "").status == http.StatusOK })
	if r := get(t, "GET", base+"/api/v1/me", nil, ""); r.status == http.StatusServiceUnavailable {
		t.Fatalf("API after recovery: %d %s", r.status, r.body)
	}
}

// A flood of events on many topics: the node's consumers stay within their
// bound, post.due still gets through while the bound is full, and every
// message is handled, a failed first delivery included (at least once).
func TestConsumerFloodStaysBounded(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g := newGatedBus(b, noop.NewTracerProvider(), telemetry.NewMetrics())
	const limit = 3
	g.limitConsumers(limit)
	g.Open()

	var running, peak atomic.Int64
	var mu sync.Mutex
	handled := map[string]int{}
	failedOnce := map[string]bool{}
	h := func(ctx context.Context, m *bus.Message) error {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(m.ID, "-7") && !failedOnce[m.ID] {
			failedOnce[m.ID] = true
			return fmt.Errorf("transient")
		}
		handled[m.ID]++
		return nil
	}
	topics := []string{bus.TopicPostPublished, bus.TopicPostFailed, bus.TopicFeedItem, bus.TopicScheduleMoved}
	for _, topic := range topics {
		if _, err := g.Subscribe(t.Context(), topic, "g", h, bus.WithConcurrency(8), bus.WithBackoff(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	// post.due is not under the bound: it runs while the bound is full.
	dueRan := make(chan struct{}, 1)
	if _, err := g.Subscribe(t.Context(), bus.TopicPostDue, "p", func(ctx context.Context, m *bus.Message) error {
		dueRan <- struct{}{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	block := make(chan struct{})
	holders := make(chan error, limit)
	if _, err := g.Subscribe(t.Context(), bus.TopicApprovalRequested, "hold", func(ctx context.Context, m *bus.Message) error {
		<-block
		return nil
	}, bus.WithConcurrency(limit)); err != nil {
		t.Fatal(err)
	}
	for i := range limit {
		go func() {
			holders <- g.Publish(t.Context(), &bus.Message{ID: fmt.Sprintf("hold-%d", i), Topic: bus.TopicApprovalRequested})
		}()
	}
	waitFor(t, "the bound to fill", func() bool { return len(g.consumers.slots) == limit })
	if err := g.Publish(t.Context(), &bus.Message{ID: "due-1", Topic: bus.TopicPostDue}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dueRan:
	case <-time.After(10 * time.Second):
		t.Fatal("post.due waited for the other consumers' bound")
	}
	close(block)
	for range limit {
		if err := <-holders; err != nil {
			t.Fatal(err)
		}
	}

	const per = 50
	var wg sync.WaitGroup
	for _, topic := range topics {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := g.Publish(t.Context(), &bus.Message{ID: fmt.Sprintf("%s-%d", topic, i), Topic: topic}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d handlers ran at once, over the bound %d", p, limit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != len(topics)*per {
		t.Fatalf("handled %d distinct messages, want %d", len(handled), len(topics)*per)
	}
	if len(failedOnce) != len(topics) {
		t.Fatalf("failed first deliveries %d, want %d (each redelivered)", len(failedOnce), len(topics))
	}
	if w := g.consumers.waiting.Load(); w != 0 {
		t.Fatalf("%d still waiting", w)
	}
}

// limits.admission: false leaves requests unlimited; the consumer bound stays.
func TestAdmissionOff(t *testing.T) {
	tn := startTracedNode(t, "HERALD_LIMITS__ADMISSION=false")
	if tn.n.admit != nil {
		t.Fatal("admission built although limits.admission is false")
	}
	metrics := get(t, "GET", tn.n.URL()+"/metrics", nil, "").body
	if strings.Contains(metrics, "herald_admission_limit") || !strings.Contains(metrics, "herald_consumer_limit 64") {
		t.Fatalf("/metrics with admission off: admission series present or consumer bound missing")
	}
	if r := get(t, "GET", tn.n.URL()+"/readyz", nil, ""); r.status != http.StatusOK {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
}
