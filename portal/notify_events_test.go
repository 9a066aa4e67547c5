package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

// recorder keeps the events Portal's outbox relays on one topic.
type recorder struct {
	mu   sync.Mutex
	msgs []*bus.Message
}

func (b *bundle) record(t *testing.T, topic string) *recorder {
	t.Helper()
	r := &recorder{}
	if _, err := b.bus.Subscribe(context.Background(), topic, "test-recorder", func(_ context.Context, m *bus.Message) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.msgs = append(r.msgs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// wait returns the recorded events once there are n, decoded into fresh
// messages made by mk.
func wait[T proto.Message](t *testing.T, r *recorder, n int, mk func() T) []T {
	t.Helper()
	waitFor(t, "events on the bus", func() bool { return r.count() >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, m := range r.msgs {
		ev := mk()
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestInviteEmitsTeammateInvited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.record(t, bus.TopicTeammateInvited)
	a := b.firstAgency(t)
	inv := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites",
		map[string]string{"email": "New.Person@Example.test", "role": "client_approver"})).json(t)
	evs := wait(t, rec, 1, func() *eventsv1.TeammateInvited { return &eventsv1.TeammateInvited{} })
	ev := evs[0]
	if len(evs) != 1 || ev.TenantId != a.id || ev.InviteId != inv["id"] || ev.Email != "new.person@example.test" || ev.Role != "client_approver" ||
		len(ev.WorkspaceIds) != 1 || ev.WorkspaceIds[0] != a.workspace || ev.AcceptUrl != inv["invite_url"] || ev.InvitedByName != "Ada" ||
		ev.InvitedBy == "" || ev.ExpiresAt == nil {
		t.Fatalf("events = %v; invite %v", evs, inv)
	}
	// A refused invite emits nothing.
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites",
		map[string]string{"email": "nope", "role": "manager"}))
	time.Sleep(50 * time.Millisecond)
	if n := rec.count(); n != 1 {
		t.Errorf("%d events after a refused invite", n)
	}
}

func TestCredentialExpiringIsToldOncePerExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.record(t, bus.TopicCredentialExpiring)
	a := b.firstAgency(t)
	ctx := context.Background()
	now := time.Now()
	setExpiry := func(at time.Time, refresh []byte) {
		t.Helper()
		if _, err := b.db.Exec(ctx, `UPDATE portal_accounts SET expires_at = ?, refresh_sealed = ? WHERE id = ?`,
			store.ToMicros(at), refresh, a.account); err != nil {
			t.Fatal(err)
		}
	}
	setExpiry(now.Add(30*24*time.Hour), nil)
	if n := b.svc.warnExpiring(ctx, now, expiryWarning); n != 0 {
		t.Fatalf("warned %d times a month ahead", n)
	}
	setExpiry(now.Add(2*24*time.Hour), []byte("sealed refresh token"))
	if n := b.svc.warnExpiring(ctx, now, expiryWarning); n != 0 {
		t.Fatalf("warned %d times for an account Herald renews itself", n)
	}
	expires := now.Add(2 * 24 * time.Hour)
	setExpiry(expires, nil)
	// Once, whatever the number of passes. The service's own maintenance
	// loop runs the same pass in the background and may be the one that
	// warns: between them, exactly one event.
	warned := 0
	for i := range 3 {
		warned += b.svc.warnExpiring(ctx, now.Add(time.Duration(i)*time.Hour), expiryWarning)
	}
	if warned > 1 {
		t.Fatalf("three passes warned %d times, want at most once", warned)
	}
	evs := wait(t, rec, 1, func() *eventsv1.CredentialExpiring { return &eventsv1.CredentialExpiring{} })
	if len(evs) != 1 {
		t.Fatalf("%d credential_expiring events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.TenantId != a.id || ev.WorkspaceId != a.workspace || ev.AccountId != a.account || ev.Network != "mastodon" ||
		ev.AccountName == "" || ev.ExpiresAt.AsTime().UnixMicro() != expires.UnixMicro() {
		t.Fatalf("event = %v", ev)
	}
	// Reconnected with a new expiry, which comes close in turn: told again.
	setExpiry(now.Add(9*24*time.Hour), nil)
	if n := b.svc.warnExpiring(ctx, now, expiryWarning); n != 0 {
		t.Fatalf("warned %d times for a new expiry still far", n)
	}
	if n := b.svc.warnExpiring(ctx, now.Add(3*24*time.Hour), expiryWarning); n != 1 {
		t.Fatalf("warned %d times for the new expiry, want 1", n)
	}
	wait(t, rec, 2, func() *eventsv1.CredentialExpiring { return &eventsv1.CredentialExpiring{} })
}

func TestAutomationEmitsDraftsCreated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.record(t, bus.TopicFeedDraftsCreated)
	a := b.firstAgency(t)
	auto := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/automations", map[string]any{
		"name": "Blog", "feed_url": "https://blog.example/feed.xml", "template": "{{.title}} {{.link}}",
		"account_ids": []string{a.account}, "action": "draft"})).json(t)
	aid := auto["id"].(string)
	item := &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-1", Title: "Winter menu", Link: "https://blog.example/winter"}
	b.feedItem(t, "fi-1", item)
	b.feedItem(t, "fi-1", item) // redelivered: no second post, no second event
	ev := wait(t, rec, 1, func() *eventsv1.FeedDraftsCreated { return &eventsv1.FeedDraftsCreated{} })[0]
	drafts := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts?status=draft", nil)).json(t)["posts"].([]any)
	if len(drafts) != 1 || ev.TenantId != a.id || ev.WorkspaceId != a.workspace || ev.AutomationId != aid || ev.AutomationName != "Blog" ||
		len(ev.PostIds) != 1 || ev.PostIds[0] != drafts[0].(map[string]any)["id"] || ev.Queued {
		t.Fatalf("event %v for drafts %v", ev, drafts)
	}
	// An item whose post is refused makes no post, so no event.
	b.feedItem(t, "fi-2", &eventsv1.FeedItem{TenantId: a.id, WorkspaceId: a.workspace, FeedId: aid, ItemKey: "guid-2", Title: strings.Repeat("Long ", 120)})
	time.Sleep(50 * time.Millisecond)
	if n := rec.count(); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

func TestBrandingAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/agency/branding", nil)).json(t)
	if got["name"] != "" || got["agency_name"] != "Acme" {
		t.Fatalf("fresh branding = %v", got)
	}
	res, err := b.svc.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: a.id, WorkspaceId: a.workspace})
	if err != nil || res.Branding.GetName() != "Acme" || res.Branding.GetHidePoweredBy() {
		t.Fatalf("recipients' branding before any = %v, %v", res.GetBranding(), err)
	}

	bad := a.owner.do("PUT", "/api/v1/agency/branding", map[string]any{"name": strings.Repeat("x", 101), "logo_url": "http://acme.example/logo.png",
		"primary_color": "red", "sender_name": "Acme <alerts@acme.test>"})
	f := bad.errorFields(t)
	for _, field := range []string{"name", "logo_url", "primary_color", "sender_name"} {
		if bad.Status != http.StatusUnprocessableEntity || f[field] == nil {
			t.Errorf("%s not refused: %d %s", field, bad.Status, bad.Body)
		}
	}
	put := a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/agency/branding", map[string]any{"name": "Acme Social",
		"logo_url": "https://cdn.acme.example/logo.png", "primary_color": "#AA3300", "sender_name": "Acme Alerts", "hide_powered_by": true})).json(t)
	if put["name"] != "Acme Social" || put["primary_color"] != "#AA3300" || put["hide_powered_by"] != true {
		t.Fatalf("branding after PUT = %v", put)
	}
	res, _ = b.svc.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: a.id, WorkspaceId: a.workspace})
	if br := res.GetBranding(); br.GetName() != "Acme Social" || br.GetLogoUrl() != "https://cdn.acme.example/logo.png" ||
		br.GetSenderName() != "Acme Alerts" || !br.GetHidePoweredBy() {
		t.Fatalf("recipients' branding = %v", br)
	}
	for _, r := range res.GetRecipients() {
		if r.GetRole() == "" {
			t.Errorf("recipient %v has no role", r)
		}
	}

	// Another agency keeps its own; a manager may not touch it.
	other := b.otherAgency(t, "beta")
	if got := other.owner.must(http.StatusOK, other.owner.do("GET", "/api/v1/agency/branding", nil)).json(t); got["name"] != "" || got["agency_name"] != "beta" {
		t.Fatalf("another agency sees %v", got)
	}
	res, _ = b.svc.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: other.id, WorkspaceId: other.workspace})
	if res.GetBranding().GetName() != "beta" {
		t.Fatalf("another agency's recipients carry %v", res.GetBranding())
	}
	mgr := b.invite(t, a, "mgr@acme.test", RoleManager)
	mgr.must(http.StatusForbidden, mgr.do("GET", "/api/v1/agency/branding", nil))
	mgr.must(http.StatusForbidden, mgr.do("PUT", "/api/v1/agency/branding", map[string]any{"name": "Hijacked"}))
}

func TestNotificationPreferencesAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me/notification-preferences", nil)).json(t)
	if kinds := got["kinds"].([]any); len(kinds) != 2 {
		t.Fatalf("preferences = %v", got)
	}
	put := a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/me/notification-preferences", map[string]any{
		"kinds": []map[string]string{{"kind": "post.published", "channel": "none"}}, "digest": map[string]any{"enabled": true, "hour": 7, "zone": "Europe/Paris"}})).json(t)
	if d := put["digest"].(map[string]any); d["enabled"] != true || d["zone"] != "Europe/Paris" {
		t.Fatalf("after PUT = %v", put)
	}
	bad := a.owner.do("PUT", "/api/v1/me/notification-preferences", map[string]any{"kinds": []map[string]string{{"kind": "post.published", "channel": "pigeon"}}})
	if bad.Status != http.StatusUnprocessableEntity || bad.errorFields(t)["kinds[0].channel"] == nil {
		t.Fatalf("bad channel: %d %s", bad.Status, bad.Body)
	}
	// Always the principal's own: whatever else the body says.
	me := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)
	b.notify.mu.Lock()
	defer b.notify.mu.Unlock()
	for _, who := range b.notify.prefAsks {
		if who != a.id+"/"+me["id"].(string) {
			t.Errorf("preferences asked for %s", who)
		}
	}
}

func TestUnsubscribePage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.browser(t)
	page := c.must(http.StatusOK, c.get("/unsubscribe?token=good-token"))
	wantText(t, page.Body, "Stop receiving these emails?")
	if !strings.Contains(page.Body, `action="/unsubscribe?token=good-token"`) {
		t.Fatalf("no form posting the token:\n%s", excerpt(page.Body))
	}
	if b.notify.unsubscribed != 0 {
		t.Fatal("opening the page unsubscribed")
	}
	done := c.must(http.StatusOK, c.post("/unsubscribe?token=good-token", url.Values{}))
	wantText(t, done.Body, "You are unsubscribed", "Post failed")
	// RFC 8058: a mail client's one-click POST, from no site at all.
	oneClick := b.browser(t)
	oneClick.site = ""
	oneClick.must(http.StatusOK, oneClick.post("/unsubscribe?token=good-token", url.Values{"List-Unsubscribe": {"One-Click"}}))
	if b.notify.unsubscribed != 2 {
		t.Errorf("unsubscribed %d times, want 2", b.notify.unsubscribed)
	}
	bad := c.must(http.StatusBadRequest, c.post("/unsubscribe?token=forged", url.Values{}))
	wantText(t, bad.Body, "not valid")
}

func TestPreferencesAndBrandingPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/settings/notifications"))
	wantText(t, page.Body, "Notification preferences", "Post failed or of unknown outcome", "Daily digest")
	csrf := c.csrf()
	c.must(http.StatusSeeOther, c.post("/settings/notifications", url.Values{"csrf_token": {csrf},
		"channel.post.published": {"none"}, "digest": {"on"}, "digest_hour": {"9"}, "digest_zone": {"Europe/Paris"}}))
	b.notify.mu.Lock()
	ch, d := b.notify.prefs["post.published"], b.notify.digest
	b.notify.mu.Unlock()
	if ch != "none" || d == nil || !d.Enabled || d.Hour != 9 || d.Zone != "Europe/Paris" {
		t.Fatalf("saved %q, %v", ch, d)
	}
	refused := c.must(http.StatusUnprocessableEntity, c.post("/settings/notifications", url.Values{"csrf_token": {csrf}, "channel.post.failed": {"pigeon"}}))
	wantText(t, refused.Body, "must be one of")

	page = c.must(http.StatusOK, c.get("/settings/branding"))
	wantText(t, page.Body, "Email branding", "Hide “Powered by Herald”")
	refused = c.must(http.StatusUnprocessableEntity, c.post("/settings/branding", url.Values{"csrf_token": {csrf}, "primary_color": {"red"}}))
	wantText(t, refused.Body, "must be a colour like #1a73e8")
	c.must(http.StatusSeeOther, c.post("/settings/branding", url.Values{"csrf_token": {csrf}, "name": {"Acme Social"}, "primary_color": {"#112233"}, "hide_powered_by": {"on"}}))
	got, err := b.svc.GetBranding(context.Background(), &Principal{AgencyID: a.id, Owner: true})
	if err != nil || got.Name != "Acme Social" || got.PrimaryColor != "#112233" || !got.HidePoweredBy {
		t.Fatalf("branding = %+v, %v", got, err)
	}
}
