package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestMain runs every test twice: on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { storetest.Main(m) }

// fakeBus is a synchronous bus: Publish hands each message to one handler
// of every subscribed group and returns the first handler error, the way
// the in-process bus reports a message not yet handled.
type fakeBus struct {
	mu   sync.Mutex
	subs map[string]map[string]bus.Handler // topic -> group -> handler
}

func newFakeBus() *fakeBus { return &fakeBus{subs: map[string]map[string]bus.Handler{}} }

func (b *fakeBus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	for _, m := range msgs {
		b.mu.Lock()
		var hs []bus.Handler
		for _, h := range b.subs[m.Topic] {
			hs = append(hs, h)
		}
		b.mu.Unlock()
		for _, h := range hs {
			c := *m
			if err := h(ctx, &c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *fakeBus) Subscribe(_ context.Context, topic, group string, h bus.Handler, _ ...bus.SubscribeOption) (bus.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[string]bus.Handler{}
	}
	b.subs[topic][group] = h
	return fakeSub(func() {
		b.mu.Lock()
		delete(b.subs[topic], group)
		b.mu.Unlock()
	}), nil
}

func (b *fakeBus) Features() bus.Features {
	return bus.Features{PublishWaitsForHandlers: true, OrderedPerTopic: true}
}
func (b *fakeBus) Ping(context.Context) error { return nil }
func (b *fakeBus) Close() error               { return nil }

type fakeSub func()

func (f fakeSub) Close() error { f(); return nil }

// fakePortal answers ListRecipients from a table.
type fakePortal struct {
	mu         sync.Mutex
	recipients map[string][]*portalv1.Recipient // tenant/workspace -> recipients
	branding   map[string]*portalv1.Branding    // tenant/workspace -> branding
	err        error
	calls      int
}

// set lists a workspace's recipients. One without a role is a manager:
// every kind of event but those for client approvers reaches managers.
func (p *fakePortal) set(tenantID, workspaceID string, rs ...*portalv1.Recipient) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rs {
		if r.Role == "" {
			r.Role = roleManager
		}
	}
	p.recipients[tenantID+"/"+workspaceID] = rs
}

// setBranding gives the agency's workspace a look.
func (p *fakePortal) setBranding(tenantID, workspaceID string, b *portalv1.Branding) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.branding[tenantID+"/"+workspaceID] = b
}

func (p *fakePortal) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakePortal) ListRecipients(_ context.Context, req *portalv1.ListRecipientsRequest) (*portalv1.ListRecipientsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return nil, p.err
	}
	rs, ok := p.recipients[req.GetTenantId()+"/"+req.GetWorkspaceId()]
	if !ok {
		return nil, errs.E(errs.NotFound, "workspace not found")
	}
	return &portalv1.ListRecipientsResponse{Recipients: rs, Branding: p.branding[req.GetTenantId()+"/"+req.GetWorkspaceId()]}, nil
}

func (p *fakePortal) UpdateCredentials(context.Context, *portalv1.UpdateCredentialsRequest) (*portalv1.UpdateCredentialsResponse, error) {
	return nil, errs.E(errs.Internal, "not used by notification")
}

func (p *fakePortal) GetPublishJob(context.Context, *portalv1.GetPublishJobRequest) (*portalv1.GetPublishJobResponse, error) {
	return nil, errors.New("not used by notify")
}

func newFakePortal() *fakePortal {
	return &fakePortal{recipients: map[string][]*portalv1.Recipient{}, branding: map[string]*portalv1.Branding{}}
}

// bundle is what a test works with.
type bundle struct {
	svc    *Service
	db     *store.DB
	bus    *fakeBus
	portal *fakePortal
	clock  *testClock
}

// testClock is the service's clock: the real time until a test sets one.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// setup starts a service on a fresh store. edit adjusts the
// configuration, which starts with email disabled.
func setup(t *testing.T, edit func(*Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := DefaultConfig()
	cfg.Poll = 50 * time.Millisecond
	cfg.SecretKey = []byte("test secret key of the notification tests")
	if edit != nil {
		edit(&cfg)
	}
	b := &bundle{db: db, bus: newFakeBus(), portal: newFakePortal()}
	svc, err := New(cfg, Deps{DB: db, Bus: b.bus, Portal: b.portal, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.clock = &testClock{}
	svc.now = b.clock.Now
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
	b.svc = svc
	return b
}

// deliver puts an event on the bus with the given message id, as an
// outbox relay would, and returns what the handlers answered.
func (b *bundle) deliver(t *testing.T, eventID, topic string, ev proto.Message) error {
	t.Helper()
	m := msg(t, topic, ev)
	m.ID = eventID
	return b.bus.Publish(context.Background(), m)
}

// msg is a bus message carrying ev, with a new event id.
func msg(t *testing.T, topic string, ev proto.Message) *bus.Message {
	t.Helper()
	payload, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &bus.Message{ID: id.New("evt"), Topic: topic, Payload: payload, Delivery: 1}
}

// failed returns a post.failed event for a workspace; its kind goes by
// email by default.
func failed(tenantID, workspaceID string) *eventsv1.PostFailed {
	return &eventsv1.PostFailed{
		TenantId: tenantID, WorkspaceId: workspaceID, PostId: id.New("post"), Revision: 1,
		AccountId: id.New("acct"), Network: "mastodon", Reason: "The instance refused it.", Kind: "bad_content",
	}
}

// published returns a post.published event for a workspace.
func published(tenantID, workspaceID string) *eventsv1.PostPublished {
	return &eventsv1.PostPublished{
		TenantId: tenantID, WorkspaceId: workspaceID, PostId: id.New("post"), Revision: 1,
		AccountId: id.New("acct"), Network: "mastodon", RemoteUrl: "https://mastodon.example/@brand/1",
	}
}

func (b *bundle) list(t *testing.T, tenantID, userID string) *notificationv1.ListNotificationsResponse {
	t.Helper()
	res, err := b.svc.ListNotifications(context.Background(), &notificationv1.ListNotificationsRequest{TenantId: tenantID, UserId: userID, Limit: maxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// emailRow is a row of notify_emails, as tests look at it.
type emailRow struct {
	status    string
	attempts  int
	lastError string
	to        string
	subject   string
}

func (b *bundle) emails(t *testing.T) []emailRow {
	t.Helper()
	rows, err := b.db.Query(context.Background(), `SELECT status, attempts, last_error, to_address, subject FROM notify_emails ORDER BY email_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []emailRow
	for rows.Next() {
		var e emailRow
		if err := rows.Scan(&e.status, &e.attempts, &e.lastError, &e.to, &e.subject); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond until it holds or ~10 s have passed.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(v any) string { return fmt.Sprintf("%+v", v) }
