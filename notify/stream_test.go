package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// parsedEvent is one parsed Server-Sent Event; comment is set for a comment
// line (the heartbeat).
type parsedEvent struct {
	name, data string
	comment    bool
}

// readEvents parses an event stream into a channel until r ends.
func readEvents(r io.Reader) <-chan parsedEvent {
	out := make(chan parsedEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		var ev parsedEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || len(data) > 0 {
					ev.data = strings.Join(data, "\n")
					out <- ev
				}
				ev, data = parsedEvent{}, nil
			case strings.HasPrefix(line, ":"):
				out <- parsedEvent{comment: true}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out
}

// next returns the next event that is not a heartbeat.
func next(t *testing.T, events <-chan parsedEvent) parsedEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if !ev.comment {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

func unreadOf(t *testing.T, ev parsedEvent, name string) int {
	t.Helper()
	if ev.name != name {
		t.Fatalf("got event %q (%s), want %q", ev.name, ev.data, name)
	}
	var v struct{ Unread *int }
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil || v.Unread == nil {
		t.Fatalf("bad %s data %q: %v", name, ev.data, err)
	}
	return *v.Unread
}

func openStream(t *testing.T, srv *httptest.Server, tenantID, userID string) <-chan parsedEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	q := url.Values{"tenant_id": {tenantID}, "user_id": {userID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return readEvents(res.Body)
}

func TestStream(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"}, &portalv1.Recipient{UserId: "usr_2"})
	if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, published("ten_a", "ws_1")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.svc.StreamHandler())
	t.Cleanup(srv.Close)

	events := openStream(t, srv, "ten_a", "usr_1")
	if n := unreadOf(t, next(t, events), "unread"); n != 1 {
		t.Fatalf("initial unread = %d, want 1", n)
	}
	// The other user's stream is open too: it must get only its own.
	other := openStream(t, srv, "ten_a", "usr_2")
	unreadOf(t, next(t, other), "unread")

	ev := published("ten_a", "ws_1")
	if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, ev); err != nil {
		t.Fatal(err)
	}
	got := next(t, events)
	if got.name != "notification" {
		t.Fatalf("got %q, want a notification", got.name)
	}
	var n notificationv1.Notification
	if err := protojson.Unmarshal([]byte(got.data), &n); err != nil {
		t.Fatalf("notification data %q: %v", got.data, err)
	}
	if n.UserId != "usr_1" || n.TenantId != "ten_a" || n.Kind != bus.TopicPostPublished || !strings.Contains(n.Link, ev.PostId) {
		t.Errorf("streamed %v", &n)
	}
	if o := next(t, other); o.name != "notification" || !strings.Contains(o.data, `"userId":"usr_2"`) {
		t.Errorf("the other stream got %q %s", o.name, o.data)
	}

	// Marking read in another tab updates the count.
	if _, err := b.svc.MarkRead(context.Background(), &notificationv1.MarkReadRequest{TenantId: "ten_a", UserId: "usr_1"}); err != nil {
		t.Fatal(err)
	}
	if n := unreadOf(t, next(t, events), "unread"); n != 0 {
		t.Fatalf("unread after marking all = %d, want 0", n)
	}

	// Idle streams get heartbeats.
	select {
	case ev := <-events:
		if !ev.comment {
			t.Fatalf("unexpected event %q while idle", ev.name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
}

func TestStreamEndsWithClientAndService(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	srv := httptest.NewServer(b.svc.StreamHandler())
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?tenant_id=ten_a&user_id=usr_1", nil)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := readEvents(res.Body)
	unreadOf(t, next(t, events), "unread")
	other := openStream(t, srv, "ten_a", "usr_2")
	unreadOf(t, next(t, other), "unread")
	if c := b.svc.hub.count(); c != 2 {
		t.Fatalf("%d live streams, want 2", c)
	}
	cancel()
	eventually(t, "the gone client's subscription to end", func() (bool, string) {
		c := b.svc.hub.count()
		return c == 1, describe(c)
	})
	if err := b.svc.Close(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-other:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream outlived the service")
		}
	}
}

func TestStreamRejectsBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	srv := httptest.NewServer(b.svc.StreamHandler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, query string
		status              int
		field               string
	}{
		{"no tenant", http.MethodGet, "user_id=usr_1", http.StatusUnprocessableEntity, "tenant_id"},
		{"no user", http.MethodGet, "tenant_id=ten_a", http.StatusUnprocessableEntity, "user_id"},
		{"not GET", http.MethodPost, "tenant_id=ten_a&user_id=usr_1", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tt.method, srv.URL+"?"+tt.query, nil)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct{ Fields map[string]string }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || (tt.field != "" && body.Fields[tt.field] == "") {
				t.Errorf("status %d, fields %v; want %d naming %q", res.StatusCode, body.Fields, tt.status, tt.field)
			}
		})
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.StreamBuffer = 2 })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	// A stream that never reads.
	stuck, stop := b.svc.hub.subscribe("ten_a", "usr_1")
	t.Cleanup(func() {
		// A hub that blocked would deadlock the unsubscribe too.
		if !t.Failed() {
			stop()
		}
	})

	msgs := make([]*bus.Message, 20)
	for i := range msgs {
		payload, err := proto.Marshal(published("ten_a", "ws_1"))
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = &bus.Message{ID: id.New("evt"), Topic: bus.TopicPostPublished, Payload: payload}
	}
	done := make(chan error, 1)
	go func() { done <- b.bus.Publish(context.Background(), msgs...) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event handling is blocked by a stream that does not read")
	}
	if n := len(b.list(t, "ten_a", "usr_1").Notifications); n != 20 {
		t.Errorf("%d notifications stored, want 20", n)
	}
	if len(stuck.updates) != 2 {
		t.Errorf("buffer holds %d, want it full at 2", len(stuck.updates))
	}
	select {
	case <-stuck.resync:
	default:
		t.Error("the stream that fell behind was not told to resync")
	}
}

// blockingWriter is a ResponseWriter whose writes wait until the test takes
// them, like a browser that reads only when it feels like it.
type blockingWriter struct {
	header http.Header
	writes chan string
	mu     sync.Mutex
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes <- string(p)
	return len(p), nil
}

func TestStreamThatFellBehindIsToldToResync(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.StreamBuffer = 1 })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &blockingWriter{header: http.Header{}, writes: make(chan string)}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/?tenant_id=ten_a&user_id=usr_1", nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		b.svc.StreamHandler().ServeHTTP(w, req)
	}()
	take := func() parsedEvent {
		t.Helper()
		select {
		case s := <-w.writes:
			return next(t, readEvents(strings.NewReader(s)))
		case <-time.After(10 * time.Second):
			t.Fatal("nothing written within 10 s")
		}
		return parsedEvent{}
	}
	unreadOf(t, take(), "unread")

	// While the client reads nothing, more arrives than the buffer holds.
	for range 5 {
		if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, published("ten_a", "ws_1")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		ev := take()
		if ev.name == "resync" {
			if n := unreadOf(t, ev, "resync"); n != 5 {
				t.Errorf("resync says %d unread, want 5", n)
			}
			break
		}
		if ev.name != "notification" || i > 2 {
			t.Fatalf("got %q after %d notifications; want a resync after at most 2 (one being written, one buffered)", ev.name, i)
		}
	}
	cancel()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not end with its request")
	}
}

// With two Notification nodes, the stream may be held by the node that did
// not handle the event: it hears of the notification by its sweep, once,
// and the handling node's own stream is not told twice.
func TestStreamOnAnotherNodeGetsTheNotification(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.LiveSweep = 20 * time.Millisecond })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	cfg := DefaultConfig()
	cfg.LiveSweep = 20 * time.Millisecond
	other, err := New(cfg, Deps{DB: b.db, Bus: newFakeBus(), Portal: b.portal, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	here := httptest.NewServer(b.svc.StreamHandler())
	t.Cleanup(here.Close)
	there := httptest.NewServer(other.StreamHandler())
	t.Cleanup(there.Close)
	local, remote := openStream(t, here, "ten_a", "usr_1"), openStream(t, there, "ten_a", "usr_1")
	unreadOf(t, next(t, local), "unread")
	unreadOf(t, next(t, remote), "unread")

	ev := published("ten_a", "ws_1")
	if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, ev); err != nil {
		t.Fatal(err)
	}
	for name, events := range map[string]<-chan parsedEvent{"the handling node": local, "the other node": remote} {
		if got := next(t, events); got.name != "notification" || !strings.Contains(got.data, ev.PostId) {
			t.Fatalf("%s's stream got %q %s", name, got.name, got.data)
		}
	}
	// Several sweeps later, neither stream was told again.
	time.Sleep(200 * time.Millisecond)
	for name, events := range map[string]<-chan parsedEvent{"the handling node": local, "the other node": remote} {
		select {
		case got := <-events:
			if !got.comment {
				t.Errorf("%s's stream was told again: %q %s", name, got.name, got.data)
			}
		default:
		}
	}
}
