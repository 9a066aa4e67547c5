package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// loopback is the policy of tests whose receivers listen on 127.0.0.1.
var loopback = outbound.Policy{AllowLoopback: true}

// fastHooks shortens the webhook timings so that a day of retries fits in
// a test: the shapes (backoff, window, disabling) are what is tested.
func fastHooks(c *Config) {
	// Long enough for a loaded machine to answer on loopback: a POST
	// that times out here is taken for a failure of the receiver.
	c.Webhooks.Timeout = 2 * time.Second
	c.Webhooks.RetryMin = 5 * time.Millisecond
	c.Webhooks.RetryMax = 100 * time.Millisecond
	c.Webhooks.Window = 20 * time.Second
	c.Webhooks.Poll = 20 * time.Millisecond
}

// startService starts a service on db; several may share one db, as
// Notification nodes do.
func startService(t testing.TB, db *store.DB, b *fakeBus, p *fakePortal, policy outbound.Policy, edit func(*Config)) *Service {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Poll = 50 * time.Millisecond
	fastHooks(&cfg)
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg, Deps{DB: db, Bus: b, Portal: p, Outbound: policy, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	return svc
}

func setupHooks(t *testing.T, policy outbound.Policy, edit func(*Config)) *bundle {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &bundle{db: db, bus: newFakeBus(), portal: &fakePortal{recipients: map[string][]*portalv1.Recipient{}}}
	b.svc = startService(t, db, b.bus, b.portal, policy, edit)
	return b
}

// received is one request a receiver got.
type received struct {
	id, timestamp, signature string
	body                     []byte
	payload                  webhookPayload
}

// receiver is a webhook receiver on loopback; answer decides each reply
// (nil: 204).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request) bool // true: the request counts as received
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request) bool) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g := received{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"),
			signature: r.Header.Get("webhook-signature"), body: body}
		_ = json.Unmarshal(body, &g.payload)
		counts := true
		if rc.answer != nil {
			counts = rc.answer(w, r)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		if counts {
			rc.mu.Lock()
			rc.got = append(rc.got, g)
			rc.mu.Unlock()
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func createEndpoint(t testing.TB, svc *Service, tenantID, workspaceID, kind, u string, topics ...string) *notificationv1.CreateEndpointResponse {
	t.Helper()
	if len(topics) == 0 {
		topics = []string{allTopics}
	}
	res, err := svc.CreateEndpoint(context.Background(), &notificationv1.CreateEndpointRequest{
		TenantId: tenantID, WorkspaceId: workspaceID, Kind: kind, Url: u, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// statuses counts the deliveries by status.
func statuses(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT status, COUNT(*) FROM notify_deliveries GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

func feedItem(tenantID, workspaceID string) *eventsv1.FeedItem {
	return &eventsv1.FeedItem{TenantId: tenantID, WorkspaceId: workspaceID, FeedId: id.New("feed"), ItemKey: id.New("item"), Title: "News"}
}

// TestFlakyReceiverGetsEveryEvent is the proof: a receiver that
// fails 30% of deliveries (5xx, some after having processed them, and
// timeouts) gets every event within the retry window, duplicates carry the
// same event id, and every signature verifies. Two Notification nodes
// share the database and claim deliveries from one another.
func TestFlakyReceiverGetsEveryEvent(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	startService(t, b.db, newFakeBus(), b.portal, loopback, nil) // a second node: its loop competes for the same rows
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	var failures atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch x := rand.IntN(10); {
		case x < 1: // a timeout: Herald gives up waiting
			failures.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute): // never, in practice: the POST times out first
			}
			return false
		case x < 2:
			failures.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		case x < 3: // processed, then failed to answer: Herald sends it again
			failures.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		w.WriteHeader(http.StatusOK)
		return true
	})
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL+"/hook")

	want := map[string]bool{}
	for i := range 60 {
		var topic, ev = bus.TopicPostPublished, proto.Message(published("ten_a", "ws_1"))
		if i%2 == 1 {
			topic, ev = bus.TopicFeedItem, feedItem("ten_a", "ws_1") // only to endpoints, not in-app
		}
		m := msg(t, topic, ev)
		want[m.ID] = true
		if err := b.bus.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every delivery delivered", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDelivered] == len(want), describe(st)
	})
	if failures.Load() == 0 {
		t.Fatal("the receiver never failed: the test proves nothing")
	}
	seen := map[string]int{}
	for _, g := range rc.requests() {
		if g.id != g.payload.ID {
			t.Errorf("webhook-id %q differs from the payload id %q", g.id, g.payload.ID)
		}
		if !want[g.id] {
			t.Errorf("unexpected event id %q", g.id)
		}
		if !VerifySignature(ep.Secret, g.id, g.timestamp, g.signature, g.body, 5*time.Minute, time.Now()) {
			t.Errorf("signature of %s does not verify", g.id)
		}
		seen[g.id]++
	}
	dups := 0
	for evID := range want {
		if seen[evID] == 0 {
			t.Errorf("event %s never received", evID)
		}
		dups += seen[evID] - 1
	}
	t.Logf("%d events, %d receiver failures, %d duplicates received", len(want), failures.Load(), dups)
}

func TestRedeliveredEventMakesOneDeliveryPerEndpoint(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	rc := newReceiver(t, nil)
	createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL+"/a")
	createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL+"/b", bus.TopicPostPublished)
	createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL+"/c", bus.TopicPostFailed) // not subscribed

	ev := published("ten_a", "ws_1")
	feed := feedItem("ten_a", "ws_1")
	for range 3 {
		if err := b.deliver(t, "evt_same", bus.TopicPostPublished, ev); err != nil {
			t.Fatal(err)
		}
		if err := b.deliver(t, "evt_feed", bus.TopicFeedItem, feed); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three deliveries", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDelivered] == 3, describe(st)
	})
	time.Sleep(100 * time.Millisecond) // anything more would show up now
	if st := statuses(t, b.db); st[hookDelivered] != 3 || len(st) != 1 {
		t.Fatalf("deliveries: %v, want 3 delivered (2 endpoints × post.published + 1 × feed.item)", st)
	}
	if n := len(rc.requests()); n != 3 {
		t.Fatalf("receiver got %d requests, want 3", n)
	}
}

func TestEndpointNeverGetsAnotherTenantsEvents(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	// Same workspace id in two tenants: only the tenant tells them apart.
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_a"})
	b.portal.set("ten_b", "ws_1", &portalv1.Recipient{UserId: "usr_b"})
	b.portal.set("ten_a", "ws_2", &portalv1.Recipient{UserId: "usr_a"})
	rcA, rcB := newReceiver(t, nil), newReceiver(t, nil)
	epA := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rcA.srv.URL)
	createEndpoint(t, b.svc, "ten_b", "ws_1", kindWebhook, rcB.srv.URL)

	for _, ev := range []*eventsv1.PostPublished{published("ten_b", "ws_1"), published("ten_a", "ws_2"), published("ten_b", "ws_1")} {
		if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostPublished, ev)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "tenant b's deliveries", func() (bool, string) {
		return len(rcB.requests()) == 2, describe(statuses(t, b.db))
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(rcA.requests()); n != 0 {
		t.Fatalf("tenant a's endpoint got %d requests of other tenants' or workspaces' events", n)
	}

	// Nor can another tenant, or another workspace, see or touch it.
	ctx := context.Background()
	for _, scope := range [][2]string{{"ten_b", "ws_1"}, {"ten_a", "ws_2"}} {
		if _, err := b.svc.UpdateEndpoint(ctx, &notificationv1.UpdateEndpointRequest{TenantId: scope[0], WorkspaceId: scope[1],
			EndpointId: epA.Endpoint.EndpointId, Enabled: new(bool)}); !errs.Is(err, errs.NotFound) {
			t.Errorf("%v updating another scope's endpoint: %v, want not found", scope, err)
		}
		if _, err := b.svc.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{TenantId: scope[0], WorkspaceId: scope[1],
			EndpointId: epA.Endpoint.EndpointId}); !errs.Is(err, errs.NotFound) {
			t.Errorf("%v listing another scope's deliveries: %v, want not found", scope, err)
		}
		if _, err := b.svc.DeleteEndpoint(ctx, &notificationv1.DeleteEndpointRequest{TenantId: scope[0], WorkspaceId: scope[1],
			EndpointId: epA.Endpoint.EndpointId}); !errs.Is(err, errs.NotFound) {
			t.Errorf("%v deleting another scope's endpoint: %v, want not found", scope, err)
		}
		res, err := b.svc.ListEndpoints(ctx, &notificationv1.ListEndpointsRequest{TenantId: scope[0], WorkspaceId: scope[1]})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range res.GetEndpoints() {
			if ep.GetEndpointId() == epA.Endpoint.EndpointId {
				t.Errorf("%v lists another scope's endpoint", scope)
			}
		}
	}
}
