package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/store"
)

// TestEndpointsCannotReachInternalAddresses: with the production policy,
// webhook and Slack URLs naming loopback, private, link-local and metadata
// addresses, in any spelling, are refused when created; endpoints stored
// with such URLs (as if DNS changed after creation) are refused when
// connecting; redirects are not followed. A canary on loopback receives
// nothing.
func TestEndpointsCannotReachInternalAddresses(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, outbound.Policy{}, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	var canary atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
		canary.Add(1)
		return true
	})
	port := rc.srv.URL[strings.LastIndexByte(rc.srv.URL, ':'):]
	ctx := context.Background()

	refused := []string{
		rc.srv.URL,
		"http://127.0.0.1" + port + "/",
		"http://127.1" + port + "/",
		"http://2130706433" + port + "/",
		"http://0x7f000001" + port + "/",
		"http://0177.0.0.1" + port + "/",
		"http://0x7f.0.0.1" + port + "/",
		"http://[::1]" + port + "/",
		"http://[::ffff:127.0.0.1]" + port + "/",
		"http://[::ffff:7f00:1]" + port + "/",
		"http://localhost" + port + "/",
		"http://app.localhost" + port + "/",
		"http://10.0.0.8/hook",
		"http://192.168.1.1/hook",
		"http://172.16.0.1/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/",
		"http://[fe80::1]/",
		"http://0.0.0.0" + port + "/",
		"ftp://example.com/hook",
		"file:///etc/passwd",
		"http://user:pass@example.com/hook",
	}
	for _, kind := range []string{kindWebhook, kindSlack} {
		for _, u := range refused {
			if kind == kindSlack {
				u = strings.Replace(u, "http://", "https://", 1)
			}
			_, err := b.svc.CreateEndpoint(ctx, &notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1",
				Kind: kind, Url: u, Topics: []string{allTopics}})
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields["url"] == "" {
				t.Errorf("%s %s: %v, want a url field error", kind, u, err)
			}
		}
	}
	if res, _ := b.svc.ListEndpoints(ctx, &notificationv1.ListEndpointsRequest{TenantId: "ten_a", WorkspaceId: "ws_1"}); len(res.GetEndpoints()) != 0 {
		t.Fatalf("refused endpoints were stored: %v", res.GetEndpoints())
	}

	// Stored anyway (the check at creation is a courtesy; the one that
	// counts is at connect time, against what the name resolves to then).
	stored := []string{
		"http://127.0.0.1" + port + "/",
		"http://2130706433" + port + "/",
		"http://0x7f000001" + port + "/",
		"http://[::ffff:127.0.0.1]" + port + "/",
		"http://localhost" + port + "/",
		"http://169.254.169.254/latest/meta-data/",
	}
	for i, u := range stored {
		kind := kindWebhook
		if i%2 == 1 {
			kind = kindSlack
		}
		insertEndpoint(t, b.db, "ten_a", "ws_1", kind, u)
	}
	if err := b.bus.Publish(ctx, msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an attempt at every stored endpoint", func() (bool, string) {
		var n int
		err := b.db.QueryRow(ctx, `SELECT COUNT(DISTINCT d.endpoint_id) FROM notify_attempts a
			JOIN notify_deliveries d ON d.delivery_id = a.delivery_id WHERE a.error <> ''`).Scan(&n)
		return err == nil && n == len(stored), describe(statuses(t, b.db))
	})
	// Refused by policy is final: those are dead letters at once (the
	// numeric spellings fail to resolve and are retried instead).
	eventually(t, "refused deliveries dead", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDead] >= 4, describe(st)
	})
	if st := statuses(t, b.db); st[hookDelivered] != 0 {
		t.Fatalf("deliveries: %v; nothing may be delivered", st)
	}
	if n := canary.Load(); n != 0 {
		t.Fatalf("the canary on loopback received %d requests", n)
	}
}

// insertEndpoint stores an endpoint without the checks of CreateEndpoint.
func insertEndpoint(t *testing.T, db *store.DB, tenantID, workspaceID, kind, u string) string {
	t.Helper()
	epID := id.New("whk")
	now := store.ToMicros(time.Now())
	if _, err := db.Exec(context.Background(), `INSERT INTO notify_endpoints
		(endpoint_id, tenant_id, workspace_id, kind, url, topics, secret, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, epID, tenantID, workspaceID, kind, u, allTopics, newSecret(), true, now, now); err != nil {
		t.Fatal(err)
	}
	return epID
}

// TestRedirectsAreNotFollowed: a receiver answering with a redirect to an
// internal address (here the loopback canary, which this policy would
// otherwise allow) is a failed attempt, and the canary receives nothing.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, func(c *Config) { c.Webhooks.Window = 200 * time.Millisecond })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	var canary atomic.Int64
	cn := newReceiver(t, func(http.ResponseWriter, *http.Request) bool { canary.Add(1); return true })
	for _, target := range []string{cn.srv.URL + "/", "http://169.254.169.254/latest/meta-data/", "http://2130706433/"} {
		rd := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
			return true
		})
		createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rd.srv.URL)
	}
	if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dead letters", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDead] == 3, describe(st)
	})
	if n := canary.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	var lastErr string
	if err := b.db.QueryRow(context.Background(), `SELECT last_error FROM notify_deliveries LIMIT 1`).Scan(&lastErr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastErr, "redirect") {
		t.Errorf("last error %q does not say the redirect was not followed", lastErr)
	}
}

// TestDeadLetterIsKeptAndResent: a delivery failing for its whole window
// is kept as a dead letter with its attempts logged (status, latency, a
// response excerpt of at most 1 KiB), and a manual redelivery sends it
// again with the same event id.
func TestDeadLetterIsKeptAndResent(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, func(c *Config) { c.Webhooks.Window = 300 * time.Millisecond })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	var healthy atomic.Bool
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return true
		}
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(strings.Repeat("é", 3000))) // 6000 bytes
		return false
	})
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL)
	m := msg(t, bus.TopicPostFailed, &eventsv1.PostFailed{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Network: "bluesky"})
	if err := b.bus.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var dead *notificationv1.Delivery
	eventually(t, "a dead letter", func() (bool, string) {
		res, err := b.svc.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{TenantId: "ten_a", WorkspaceId: "ws_1",
			EndpointId: ep.Endpoint.EndpointId, DeadOnly: true})
		if err != nil || len(res.GetDeliveries()) != 1 {
			return false, describe(statuses(t, b.db))
		}
		dead = res.GetDeliveries()[0]
		return true, ""
	})
	if dead.GetEventId() != m.ID || dead.GetLastStatusCode() != http.StatusBadGateway || dead.GetAttempts() < 1 {
		t.Errorf("dead letter %+v: want event %s, last status 502", dead, m.ID)
	}
	got, err := b.svc.GetDelivery(ctx, &notificationv1.GetDeliveryRequest{TenantId: "ten_a", WorkspaceId: "ws_1", DeliveryId: dead.GetDeliveryId()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetAttempts()) != int(dead.GetAttempts()) {
		t.Errorf("%d attempts logged, delivery counts %d", len(got.GetAttempts()), dead.GetAttempts())
	}
	for _, a := range got.GetAttempts() {
		if a.GetStatusCode() != http.StatusBadGateway || len(a.GetResponse()) > maxExcerpt || len(a.GetResponse()) < maxExcerpt-1 ||
			!strings.HasPrefix(a.GetResponse(), "é") || a.GetError() == "" {
			t.Errorf("attempt %d %q (%d bytes) %q: want 502 with a 1 KiB excerpt and an error", a.GetStatusCode(),
				firstWords(a.GetResponse(), 10), len(a.GetResponse()), a.GetError())
		}
	}
	var p webhookPayload
	if err := json.Unmarshal([]byte(got.GetPayload()), &p); err != nil || p.ID != m.ID || p.Type != bus.TopicPostFailed || p.WorkspaceID != "ws_1" {
		t.Errorf("payload %s: %v", got.GetPayload(), err)
	}

	healthy.Store(true)
	if _, err := b.svc.Redeliver(ctx, &notificationv1.RedeliverRequest{TenantId: "ten_a", WorkspaceId: "ws_1", DeliveryId: dead.GetDeliveryId()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the redelivery", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDelivered] == 1, describe(st)
	})
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].id != m.ID {
		t.Fatalf("receiver got %+v, want the event %s once", reqs, m.ID)
	}
	// Another workspace cannot redeliver it.
	if _, err := b.svc.Redeliver(ctx, &notificationv1.RedeliverRequest{TenantId: "ten_b", WorkspaceId: "ws_1", DeliveryId: dead.GetDeliveryId()}); !errs.Is(err, errs.NotFound) {
		t.Errorf("another tenant redelivering: %v, want not found", err)
	}
}

// TestFailingEndpointIsDisabled: an endpoint all of whose deliveries fail
// for DisableAfter is disabled with the reason, the workspace's people are
// told in-app, and enabling it again clears the reason.
func TestFailingEndpointIsDisabled(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, func(c *Config) { c.Webhooks.DisableAfter = 300 * time.Millisecond })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_owner", Role: "owner"}, &portalv1.Recipient{UserId: "usr_mgr", Role: "manager"},
		&portalv1.Recipient{UserId: "usr_client", Role: "client_approver"})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return false
	})
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL)
	if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list := func() *notificationv1.Endpoint {
		res, err := b.svc.ListEndpoints(ctx, &notificationv1.ListEndpointsRequest{TenantId: "ten_a", WorkspaceId: "ws_1"})
		if err != nil || len(res.GetEndpoints()) != 1 {
			t.Fatalf("%v %v", res, err)
		}
		return res.GetEndpoints()[0]
	}
	eventually(t, "the endpoint disabled", func() (bool, string) {
		e := list()
		return !e.GetEnabled(), describe(e)
	})
	if e := list(); !strings.Contains(e.GetDisabledReason(), "failed") {
		t.Errorf("disabled reason %q", e.GetDisabledReason())
	}
	eventually(t, "the owner told", func() (bool, string) {
		res := b.list(t, "ten_a", "usr_owner")
		for _, n := range res.GetNotifications() {
			if n.GetKind() == topicEndpointDisabled {
				return strings.Contains(n.GetBody(), rc.srv.URL), ""
			}
		}
		return false, describe(res)
	})
	told := func(user string) bool {
		for _, n := range b.list(t, "ten_a", user).GetNotifications() {
			if n.GetKind() == topicEndpointDisabled {
				return true
			}
		}
		return false
	}
	if !told("usr_mgr") || told("usr_client") {
		t.Errorf("manager told %v, client approver told %v; want the manager only", told("usr_mgr"), told("usr_client"))
	}
	// While disabled, new events are not queued for it.
	before := statuses(t, b.db)
	if err := b.bus.Publish(ctx, msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	if after := statuses(t, b.db); after[hookPending]+after[hookDead] != before[hookPending]+before[hookDead] {
		t.Errorf("a disabled endpoint got a delivery: %v -> %v", before, after)
	}
	res, err := b.svc.UpdateEndpoint(ctx, &notificationv1.UpdateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1",
		EndpointId: ep.Endpoint.EndpointId, Enabled: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.GetEndpoint(); !e.GetEnabled() || e.GetDisabledReason() != "" || e.GetFailingSince() != nil {
		t.Errorf("re-enabled endpoint %+v", e)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRotatedSecretSignsBesideTheNewOne: after a rotation both secrets
// sign each delivery until the overlap ends.
func TestRotatedSecretSignsBesideTheNewOne(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL)
	rot, err := b.svc.RotateSecret(context.Background(), &notificationv1.RotateSecretRequest{TenantId: "ten_a", WorkspaceId: "ws_1",
		EndpointId: ep.Endpoint.EndpointId})
	if err != nil {
		t.Fatal(err)
	}
	if rot.GetSecret() == ep.GetSecret() || !strings.HasPrefix(rot.GetSecret(), "whsec_") || rot.GetEndpoint().GetPreviousSecretUntil() == nil {
		t.Fatalf("rotation: %+v", rot)
	}
	if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delivery", func() (bool, string) { return len(rc.requests()) == 1, "" })
	g := rc.requests()[0]
	if n := len(strings.Fields(g.signature)); n != 2 {
		t.Errorf("signature header %q has %d entries, want 2", g.signature, n)
	}
	for _, sec := range []string{ep.GetSecret(), rot.GetSecret()} {
		if !VerifySignature(sec, g.id, g.timestamp, g.signature, g.body, time.Minute, time.Now()) {
			t.Errorf("does not verify with %s…", sec[:10])
		}
	}
	if VerifySignature(newSecret(), g.id, g.timestamp, g.signature, g.body, time.Minute, time.Now()) {
		t.Error("verifies with an unrelated secret")
	}
	if VerifySignature(rot.GetSecret(), g.id, g.timestamp, g.signature, append(g.body, ' '), time.Minute, time.Now()) {
		t.Error("verifies a changed body")
	}
}

// TestSlackEndpoint: a Slack endpoint gets a short text with a link, its
// user-supplied text escaped, and no signature headers.
func TestSlackEndpoint(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, func(c *Config) { c.BaseURL = "https://herald.example" })
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	rc := newReceiver(t, nil)
	// CreateEndpoint wants https for Slack; the test receiver is plain http.
	insertEndpoint(t, b.db, "ten_a", "ws_1", kindSlack, rc.srv.URL)
	ev := &eventsv1.PostFailed{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Network: "mastodon",
		Reason: "<!channel> <https://evil.example|click> & more"}
	if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostFailed, ev)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Slack message", func() (bool, string) { return len(rc.requests()) == 1, "" })
	g := rc.requests()[0]
	if g.id != "" || g.signature != "" {
		t.Errorf("Slack got signature headers: %+v", g)
	}
	var body map[string]string
	if err := json.Unmarshal(g.body, &body); err != nil {
		t.Fatal(err)
	}
	text := body["text"]
	if strings.Contains(text, "<!channel>") || strings.Contains(text, "<https://evil") || !strings.Contains(text, "&lt;!channel&gt;") {
		t.Errorf("text not escaped: %q", text)
	}
	if !strings.Contains(text, "<https://herald.example/workspaces/ws_1/posts/post_1|Open in Herald>") || !strings.Contains(text, "Post failed on Mastodon") {
		t.Errorf("text %q lacks the title or the link", text)
	}
}

func TestSendTest(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	rc := newReceiver(t, nil)
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL, bus.TopicPostPublished)
	res, err := b.svc.SendTest(context.Background(), &notificationv1.SendTestRequest{TenantId: "ten_a", WorkspaceId: "ws_1", EndpointId: ep.Endpoint.EndpointId})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetAttempt().GetStatusCode() != http.StatusNoContent || res.GetDelivery().GetStatus() != hookDelivered || res.GetDelivery().GetTopic() != topicTest {
		t.Fatalf("test: %+v", res)
	}
	g := rc.requests()
	if len(g) != 1 || g[0].payload.Type != topicTest || !VerifySignature(ep.GetSecret(), g[0].id, g[0].timestamp, g[0].signature, g[0].body, time.Minute, time.Now()) {
		t.Fatalf("receiver got %+v", g)
	}
}

func TestEndpointInputIsCheckedFieldByField(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	ctx := context.Background()
	tests := []struct {
		req   *notificationv1.CreateEndpointRequest
		field string
	}{
		{&notificationv1.CreateEndpointRequest{WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"*"}}, "tenant_id"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"*"}}, "workspace_id"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: "email", Url: "https://example.com", Topics: []string{"*"}}, "kind"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Topics: []string{"*"}}, "url"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindSlack, Url: "http://hooks.example.com/x", Topics: []string{"*"}}, "url"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com"}, "topics"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"post.due"}}, "topics[0]"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"post.published", "team.invited"}}, "topics[1]"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"*", "post.failed"}}, "topics"},
		{&notificationv1.CreateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", Kind: kindWebhook, Url: "https://example.com", Topics: []string{"*"}, Description: strings.Repeat("x", 501)}, "description"},
	}
	for _, tt := range tests {
		_, err := b.svc.CreateEndpoint(ctx, tt.req)
		e, ok := errs.As(err)
		if !ok || e.Kind != errs.Invalid || e.Fields[tt.field] == "" {
			t.Errorf("%v: %v, want an error on %s", tt.req, err, tt.field)
		}
	}
	if n := countRows(t, b.db, "notify_endpoints"); n != 0 {
		t.Fatalf("%d endpoints stored from bad input", n)
	}
	ep := createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, "https://example.com/hook", bus.TopicPostPublished)
	_, err := b.svc.UpdateEndpoint(ctx, &notificationv1.UpdateEndpointRequest{TenantId: "ten_a", WorkspaceId: "ws_1", EndpointId: ep.Endpoint.EndpointId,
		Url: ptr("http://169.254.169.254/"), Description: ptr("changed")})
	if e, ok := errs.As(err); !ok || e.Fields["url"] == "" {
		t.Fatalf("update to a metadata URL: %v", err)
	}
	res, _ := b.svc.ListEndpoints(ctx, &notificationv1.ListEndpointsRequest{TenantId: "ten_a", WorkspaceId: "ws_1"})
	if got := res.GetEndpoints()[0]; got.GetUrl() != "https://example.com/hook" || got.GetDescription() != "" {
		t.Fatalf("a refused update changed the endpoint: %+v", got)
	}
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOldDeliveriesArePruned: finished deliveries past the retention go
// with their attempts; pending ones stay whatever their age.
func TestOldDeliveriesArePruned(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	rc := newReceiver(t, nil)
	createEndpoint(t, b.svc, "ten_a", "ws_1", kindWebhook, rc.srv.URL)
	for range 3 {
		if err := b.bus.Publish(context.Background(), msg(t, bus.TopicPostPublished, published("ten_a", "ws_1"))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three delivered", func() (bool, string) {
		st := statuses(t, b.db)
		return st[hookDelivered] == 3, describe(st)
	})
	ctx := context.Background()
	if _, err := b.db.Exec(ctx, `UPDATE notify_deliveries SET status = ?, next_try_at = ? WHERE delivery_id = (SELECT MIN(delivery_id) FROM notify_deliveries)`,
		hookPending, store.ToMicros(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.pruneHooks(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st := statuses(t, b.db); len(st) != 1 || st[hookPending] != 1 {
		t.Fatalf("after pruning: %v, want the pending one alone", st)
	}
	var orphans int
	if err := b.db.QueryRow(ctx, `SELECT COUNT(*) FROM notify_attempts a WHERE NOT EXISTS
		(SELECT 1 FROM notify_deliveries d WHERE d.delivery_id = a.delivery_id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Fatalf("%d attempts left without their delivery (%v)", orphans, err)
	}
}

// TestSlowEndpointDoesNotHoldOthers: an endpoint that never answers holds
// at most its share of the workers, so another tenant's deliveries go out
// while the slow POSTs are all still waiting for their answers (their
// timeout is far longer than the test).
func TestSlowEndpointDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	b := setupHooks(t, loopback, func(c *Config) {
		c.Webhooks.Timeout = 10 * time.Minute
		c.Webhooks.Concurrency = 8
	})
	b.portal.set("ten_slow", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
	b.portal.set("ten_fast", "ws_1", &portalv1.Recipient{UserId: "usr_2"})
	release := make(chan struct{})
	var waiting, answered atomic.Int32
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) bool {
		waiting.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
		answered.Add(1)
		return false
	})
	t.Cleanup(func() { close(release) }) // before the receiver closes
	fast := newReceiver(t, nil)
	createEndpoint(t, b.svc, "ten_slow", "ws_1", kindWebhook, slow.srv.URL)
	createEndpoint(t, b.svc, "ten_fast", "ws_1", kindWebhook, fast.srv.URL)
	ctx := context.Background()
	for range 30 {
		if err := b.bus.Publish(ctx, msg(t, bus.TopicPostPublished, published("ten_slow", "ws_1"))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the slow endpoint's POSTs under way", func() (bool, string) { return waiting.Load() > 0, "" })
	for range 10 {
		if err := b.bus.Publish(ctx, msg(t, bus.TopicPostPublished, published("ten_fast", "ws_1"))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the fast endpoint's deliveries", func() (bool, string) { return len(fast.requests()) == 10, "" })
	if n := answered.Load(); n != 0 {
		t.Fatalf("%d slow POSTs ended before the fast endpoint's deliveries went out; none should have", n)
	}
}
