package notify

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

// quiet returns a started service that queues emails but never sends them,
// with nothing running in the background: tests hand it events and run its
// digests themselves.
func quiet(t *testing.T) *bundle {
	t.Helper()
	b := setup(t, func(c *Config) { c.SMTP = "smtp://127.0.0.1:1?tls=none"; c.Poll = time.Hour; c.DigestPoll = time.Hour })
	if err := b.svc.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bundle) handle(t *testing.T, topic string, ev proto.Message) {
	t.Helper()
	m := msg(t, topic, ev)
	if err := b.svc.handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) setPrefs(t *testing.T, tenantID, userID string, kinds map[string]string, digest *notificationv1.Digest) {
	t.Helper()
	req := &notificationv1.UpdatePreferencesRequest{TenantId: tenantID, UserId: userID, Digest: digest}
	for k, c := range kinds {
		req.Kinds = append(req.Kinds, &notificationv1.KindPreference{Kind: k, Channel: c})
	}
	if _, err := b.svc.UpdatePreferences(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// mailsTo counts the emails to addr by status.
func (b *bundle) mailsTo(t *testing.T, addr string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range b.emails(t) {
		if e.to == addr {
			out[e.status]++
		}
	}
	return out
}

func TestPreferencesChooseTheChannels(t *testing.T) {
	t.Parallel()
	b := quiet(t)
	b.portal.set("ten_a", "ws_1",
		&portalv1.Recipient{UserId: "app", Email: "app@a.test"},
		&portalv1.Recipient{UserId: "mail", Email: "mail@a.test"},
		&portalv1.Recipient{UserId: "none", Email: "none@a.test"},
		&portalv1.Recipient{UserId: "dflt", Email: "dflt@a.test"},
	)
	b.setPrefs(t, "ten_a", "app", map[string]string{bus.TopicPostFailed: chanInApp}, nil)
	b.setPrefs(t, "ten_a", "mail", map[string]string{bus.TopicPostFailed: chanEmail}, nil)
	b.setPrefs(t, "ten_a", "none", map[string]string{bus.TopicPostFailed: chanNone}, nil)
	// Another tenant's user with the same id chose differently: it does
	// not count in ten_a.
	b.setPrefs(t, "ten_b", "dflt", map[string]string{bus.TopicPostFailed: chanNone}, nil)
	b.handle(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))

	want := map[string]struct {
		inApp int
		mails int
	}{"app": {1, 0}, "mail": {0, 1}, "none": {0, 0}, "dflt": {1, 1}}
	for user, w := range want {
		gotApp := len(b.list(t, "ten_a", user).Notifications)
		gotMail := b.mailsTo(t, user+"@a.test")[statusPending]
		if gotApp != w.inApp || gotMail != w.mails {
			t.Errorf("%s: %d in-app, %d emails; want %d, %d", user, gotApp, gotMail, w.inApp, w.mails)
		}
	}
	// Kinds not chosen keep their defaults: published is in-app only.
	b.handle(t, bus.TopicPostPublished, published("ten_a", "ws_1"))
	if n := b.mailsTo(t, "dflt@a.test")[statusPending]; n != 1 {
		t.Errorf("published sent an email by default (%d pending)", n)
	}
}

func TestGetAndUpdatePreferences(t *testing.T) {
	t.Parallel()
	b := quiet(t)
	ctx := context.Background()
	res, err := b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: "ten_a", UserId: "usr_1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range res.Kinds {
		got[k.Kind] = k.Channel
		if !k.IsDefault {
			t.Errorf("%s is not a default for a user who never chose", k.Kind)
		}
	}
	if got[bus.TopicPostFailed] != chanBoth || got[bus.TopicAccountNeedsReconnect] != chanBoth || got[bus.TopicPostPublished] != chanInApp || len(got) != len(prefKinds) {
		t.Errorf("defaults = %v", got)
	}
	if res.Digest.Enabled {
		t.Error("digest on by default")
	}

	up, err := b.svc.UpdatePreferences(ctx, &notificationv1.UpdatePreferencesRequest{TenantId: "ten_a", UserId: "usr_1",
		Kinds:  []*notificationv1.KindPreference{{Kind: bus.TopicPostPublished, Channel: chanBoth}},
		Digest: &notificationv1.Digest{Enabled: true, Hour: 7, Zone: "Europe/Paris"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range up.Kinds {
		if k.Kind == bus.TopicPostPublished && (k.Channel != chanBoth || k.IsDefault) {
			t.Errorf("published after update: %v", k)
		}
		if k.Kind == bus.TopicPostFailed && !k.IsDefault {
			t.Errorf("an untouched kind lost its default: %v", k)
		}
	}
	if d := up.Digest; !d.Enabled || d.Hour != 7 || d.Zone != "Europe/Paris" {
		t.Errorf("digest = %v", d)
	}

	_, err = b.svc.UpdatePreferences(ctx, &notificationv1.UpdatePreferencesRequest{TenantId: "ten_a", UserId: "usr_1",
		Kinds: []*notificationv1.KindPreference{
			{Kind: "post.exploded", Channel: chanBoth},
			{Kind: bus.TopicPostFailed, Channel: "pigeon"},
			{Kind: bus.TopicPostFailed, Channel: chanNone},
			{Kind: bus.TopicTeammateInvited, Channel: chanNone},
		},
		Digest: &notificationv1.Digest{Enabled: true, Hour: 24, Zone: "Mars/Olympus"}})
	var fields map[string]string
	if e, ok := errs.As(err); ok {
		fields = e.Fields
	}
	for _, f := range []string{"kinds[0].kind", "kinds[1].channel", "kinds[2].kind", "kinds[3].kind", "digest.hour", "digest.zone"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("no error for %s in %v", f, err)
		}
	}
	again, _ := b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: "ten_a", UserId: "usr_1"})
	for _, k := range again.Kinds {
		if k.Kind == bus.TopicPostFailed && !k.IsDefault {
			t.Errorf("a refused update changed %v", k)
		}
	}
	if _, err := b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{}); !errs.Is(err, errs.Invalid) {
		t.Errorf("no scope: %v, want invalid", err)
	}
}

func TestDigestBatchesTheDaysEmails(t *testing.T) {
	t.Parallel()
	b := quiet(t)
	ctx := context.Background()
	paris, _ := time.LoadLocation("Europe/Paris")
	b.clock.set(time.Date(2026, 3, 10, 10, 0, 0, 0, paris))
	b.portal.set("ten_a", "ws_1",
		&portalv1.Recipient{UserId: "dig", Email: "dig@a.test", Name: "Dee"},
		&portalv1.Recipient{UserId: "now", Email: "now@a.test"})
	b.portal.setBranding("ten_a", "ws_1", &portalv1.Branding{Name: "Acme Social"})
	b.setPrefs(t, "ten_a", "dig", nil, &notificationv1.Digest{Enabled: true, Hour: 9, Zone: "Europe/Paris"})
	for range 3 {
		b.handle(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))
	}
	if got := b.mailsTo(t, "dig@a.test"); got[statusHeld] != 3 || got[statusPending] != 0 {
		t.Fatalf("digest user's emails: %v, want 3 held", got)
	}
	if got := b.mailsTo(t, "now@a.test"); got[statusPending] != 3 {
		t.Fatalf("other user's emails: %v, want 3 sent one by one", got)
	}
	// In-app notifications do not wait.
	if n := len(b.list(t, "ten_a", "dig").Notifications); n != 3 {
		t.Errorf("%d in-app notifications, want 3", n)
	}

	step := func(at time.Time, want int) {
		t.Helper()
		b.clock.set(at)
		n, err := b.svc.sendDigests(ctx)
		if err != nil || n != want {
			t.Fatalf("at %v: %d digests, %v; want %d", at, n, err, want)
		}
	}
	step(time.Date(2026, 3, 10, 23, 0, 0, 0, paris), 0) // the day is not over
	step(time.Date(2026, 3, 11, 8, 59, 0, 0, paris), 0) // nor before 9
	step(time.Date(2026, 3, 11, 9, 0, 30, 0, paris), 1) // one email for three
	step(time.Date(2026, 3, 11, 9, 1, 0, 0, paris), 0)  // once

	got := b.mailsTo(t, "dig@a.test")
	if got[statusDigested] != 3 || got[statusPending] != 1 || got[statusHeld] != 0 {
		t.Fatalf("after the digest: %v, want 3 digested and 1 pending", got)
	}
	var subject, text, from, unsub string
	if err := b.db.QueryRow(ctx, `SELECT subject, text_body, from_name, unsubscribe_url FROM notify_emails WHERE to_address = ? AND status = ?`,
		"dig@a.test", statusPending).Scan(&subject, &text, &from, &unsub); err != nil {
		t.Fatal(err)
	}
	if subject != "Acme Social daily digest: 3 notifications" || strings.Count(text, "Post failed on Mastodon") != 3 ||
		!strings.Contains(text, "Hi Dee,") || from != "Acme Social" || !strings.Contains(unsub, "/unsubscribe?token=") {
		t.Errorf("digest %q from %q (unsubscribe %q):\n%s", subject, from, unsub, text)
	}
	tok, _ := url.Parse(unsub)
	if _, _, cat, ok := b.svc.openToken(tok.Query().Get("token")); !ok || cat != categoryAll {
		t.Errorf("a digest's unsubscribe link is for %q, want all", cat)
	}

	// Turning the digest off sends what waits at once.
	b.handle(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))
	b.setPrefs(t, "ten_a", "dig", nil, &notificationv1.Digest{Enabled: false, Hour: 9, Zone: "Europe/Paris"})
	if got := b.mailsTo(t, "dig@a.test"); got[statusHeld] != 0 || got[statusPending] != 2 {
		t.Errorf("after turning the digest off: %v, want the held one pending", got)
	}
}

func TestLastDigestAt(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	d := digestSetting{enabled: true, hour: 2, zone: "America/New_York"}
	tests := []struct{ now, want time.Time }{
		{time.Date(2026, 3, 9, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 2, 0, 0, 0, ny)},
		{time.Date(2026, 3, 10, 1, 0, 0, 0, ny), time.Date(2026, 3, 9, 2, 0, 0, 0, ny)},
		// 2:00 does not exist on the day clocks go forward: Go's 3:00.
		{time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Date(2026, 3, 8, 3, 0, 0, 0, ny)},
	}
	for _, tt := range tests {
		if got := lastDigestAt(tt.now, d); !got.Equal(tt.want) {
			t.Errorf("lastDigestAt(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestUnsubscribeToken(t *testing.T) {
	t.Parallel()
	b := quiet(t)
	ctx := context.Background()
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: "one@a.test"}, &portalv1.Recipient{UserId: "usr_2", Email: "two@a.test"})
	token := b.svc.unsubToken("ten_a", "usr_1", bus.TopicPostFailed)

	for range 2 { // once and for all: a second use changes nothing and is no error
		res, err := b.svc.Unsubscribe(ctx, &notificationv1.UnsubscribeRequest{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		if res.TenantId != "ten_a" || res.UserId != "usr_1" || res.Category != bus.TopicPostFailed {
			t.Errorf("unsubscribed %v", res)
		}
	}
	prefs, _ := b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: "ten_a", UserId: "usr_1"})
	for _, k := range prefs.Kinds {
		if k.Kind == bus.TopicPostFailed && k.Channel != chanInApp {
			t.Errorf("post.failed is %q after unsubscribing, want in_app (in-app kept, email off)", k.Channel)
		}
		if k.Kind == bus.TopicAccountNeedsReconnect && k.Channel != chanBoth {
			t.Errorf("another category changed: %v", k)
		}
	}
	b.handle(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))
	if n := len(b.mailsTo(t, "one@a.test")); n != 0 || len(b.list(t, "ten_a", "usr_1").Notifications) != 1 {
		t.Errorf("after unsubscribing: %d emails, want none and the in-app notification", n)
	}
	if n := b.mailsTo(t, "two@a.test")[statusPending]; n != 1 {
		t.Errorf("another user was unsubscribed too (%d emails)", n)
	}

	// Forgeries: another user's id under this signature, a token of another
	// deployment's key, garbage.
	payload, sig, _ := strings.Cut(token, ".")
	forged := b64.EncodeToString([]byte("v1\x00ten_a\x00usr_2\x00post.failed")) + "." + sig
	other := &Service{}
	other.unsubKey, _ = unsubKey([]byte("another deployment"))
	for name, tok := range map[string]string{
		"another user":    forged,
		"another key":     other.unsubToken("ten_a", "usr_2", bus.TopicPostFailed),
		"cut signature":   payload + "." + sig[:10],
		"no signature":    payload,
		"unknown kind":    b64.EncodeToString([]byte("v1\x00ten_a\x00usr_2\x00boom")) + "." + b64.EncodeToString(b.svc.sign("v1\x00ten_a\x00usr_2\x00boom")),
		"empty":           "",
		"not even base64": "!!!.???",
	} {
		if _, err := b.svc.Unsubscribe(ctx, &notificationv1.UnsubscribeRequest{Token: tok}); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: %v, want refused as invalid", name, err)
		}
	}
	prefs, _ = b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: "ten_a", UserId: "usr_2"})
	for _, k := range prefs.Kinds {
		if !k.IsDefault {
			t.Errorf("a forged token changed %v", k)
		}
	}

	// "all", from a digest, stops every email and the held ones.
	b.setPrefs(t, "ten_a", "usr_2", nil, &notificationv1.Digest{Enabled: true, Hour: 9, Zone: "UTC"})
	b.handle(t, bus.TopicAccountNeedsReconnect, &eventsv1.AccountNeedsReconnect{TenantId: "ten_a", WorkspaceId: "ws_1", AccountId: "acct_1"})
	if _, err := b.svc.Unsubscribe(ctx, &notificationv1.UnsubscribeRequest{Token: b.svc.unsubToken("ten_a", "usr_2", categoryAll)}); err != nil {
		t.Fatal(err)
	}
	prefs, _ = b.svc.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: "ten_a", UserId: "usr_2"})
	for _, k := range prefs.Kinds {
		if byMail(k.Channel) {
			t.Errorf("%s still by email after unsubscribing from all", k.Kind)
		}
	}
	if got := b.mailsTo(t, "two@a.test"); got[statusHeld] != 0 {
		t.Errorf("held emails survive unsubscribing: %v", got)
	}
}

func TestNoSecretNoUnsubscribeLinks(t *testing.T) {
	t.Parallel()
	s := &Service{}
	if tok := s.unsubToken("t", "u", bus.TopicPostFailed); tok != "" {
		t.Errorf("a token without a key: %q", tok)
	}
	if _, _, _, ok := s.openToken("anything.at-all"); ok {
		t.Error("a service without a key accepted a token")
	}
}
