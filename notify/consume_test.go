package notify

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

func TestEventNotifiesEveryRecipientOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic     string
		event     proto.Message
		title     string
		linkStart string
		subject   string
		// inAppOnly: by default the kind sends no email.
		inAppOnly bool
	}{
		{
			topic:     bus.TopicPostPublished,
			event:     published("ten_a", "ws_1"),
			title:     "Post published on Mastodon",
			linkStart: "/workspaces/ws_1/posts/post_",
			subject:   "Published on Mastodon",
			inAppOnly: true,
		},
		{
			topic: bus.TopicPostFailed,
			event: &eventsv1.PostFailed{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: id.New("post"), Network: "bluesky",
				Reason: "The text is longer than 300 characters.", Kind: "bad_content"},
			title:     "Post failed on Bluesky",
			linkStart: "/workspaces/ws_1/posts/post_",
			subject:   "Failed to publish on Bluesky: The text is longer than 300 characters.",
		},
		{
			topic: bus.TopicAccountNeedsReconnect,
			event: &eventsv1.AccountNeedsReconnect{TenantId: "ten_a", WorkspaceId: "ws_1", AccountId: "acct_9", Network: "mastodon",
				Reason: "The access token was revoked."},
			title:     "Reconnect your Mastodon account",
			linkStart: "/workspaces/ws_1/accounts/acct_9",
			subject:   "Action needed: reconnect your Mastodon account",
		},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			t.Parallel()
			// An SMTP server nobody answers at: emails are queued, never sent.
			b := setup(t, func(c *Config) { c.SMTP = "smtp://127.0.0.1:1?tls=none"; c.RetryMin = c.RetryMax })
			b.portal.set("ten_a", "ws_1",
				&portalv1.Recipient{UserId: "usr_1", Email: "one@example.com", Name: "One"},
				&portalv1.Recipient{UserId: "usr_2", Email: "two@example.com"},
				&portalv1.Recipient{UserId: "usr_1", Email: "one@example.com"}, // listed twice: told once
				&portalv1.Recipient{UserId: "usr_3"},                           // no email: in-app only
				&portalv1.Recipient{Email: "nobody@example.com"},               // no user: skipped
			)
			evID := id.New("evt")
			for range 2 { // at-least-once: the second delivery must change nothing
				if err := b.deliver(t, evID, tt.topic, tt.event); err != nil {
					t.Fatal(err)
				}
			}
			for _, user := range []string{"usr_1", "usr_2", "usr_3"} {
				res := b.list(t, "ten_a", user)
				if len(res.Notifications) != 1 || res.Unread != 1 {
					t.Fatalf("%s has %d notifications, %d unread; want 1, 1", user, len(res.Notifications), res.Unread)
				}
				n := res.Notifications[0]
				if n.Kind != tt.topic || n.Title != tt.title || !strings.HasPrefix(n.Link, tt.linkStart) ||
					n.WorkspaceId != "ws_1" || n.TenantId != "ten_a" || n.UserId != user || n.Body == "" || n.CreatedAt == nil || n.ReadAt != nil {
					t.Errorf("%s got %v", user, n)
				}
			}
			emails := b.emails(t)
			if tt.inAppOnly {
				if len(emails) != 0 {
					t.Fatalf("queued emails = %s, want none for a kind that is in-app by default", describe(emails))
				}
				return
			}
			if len(emails) != 2 {
				t.Fatalf("queued emails = %s, want one to each of the 2 recipients with an address", describe(emails))
			}
			got := map[string]bool{}
			for _, e := range emails {
				got[e.to] = true
				if e.subject != tt.subject {
					t.Errorf("subject = %q, want %q", e.subject, tt.subject)
				}
			}
			if !got["one@example.com"] || !got["two@example.com"] {
				t.Errorf("emails went to %v", got)
			}
		})
	}
}

func TestEventHandlingFailures(t *testing.T) {
	t.Parallel()
	t.Run("portal unavailable: redelivered later, nothing kept meanwhile", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
		b.portal.fail(errs.E(errs.Unavailable, "portal is down"))
		ev := published("ten_a", "ws_1")
		if err := b.deliver(t, "evt_x", bus.TopicPostPublished, ev); err == nil {
			t.Fatal("the handler acknowledged an event it could not apply")
		}
		if n := len(b.list(t, "ten_a", "usr_1").Notifications); n != 0 {
			t.Fatalf("%d notifications after a failed delivery", n)
		}
		b.portal.fail(nil)
		if err := b.deliver(t, "evt_x", bus.TopicPostPublished, ev); err != nil {
			t.Fatal(err)
		}
		if n := len(b.list(t, "ten_a", "usr_1").Notifications); n != 1 {
			t.Fatalf("%d notifications after the redelivery, want 1", n)
		}
	})
	t.Run("workspace gone: acknowledged, nobody told", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		if err := b.deliver(t, "evt_y", bus.TopicPostPublished, published("ten_a", "ws_gone")); err != nil {
			t.Fatalf("got %v, want the event acknowledged", err)
		}
	})
	t.Run("malformed events are dropped, not retried", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"})
		if err := b.bus.Publish(context.Background(), &bus.Message{ID: "evt_bad", Topic: bus.TopicPostFailed, Payload: []byte{0xff, 0xff}}); err != nil {
			t.Fatalf("garbage payload: %v, want it dropped", err)
		}
		if err := b.deliver(t, "evt_noscope", bus.TopicPostFailed, &eventsv1.PostFailed{TenantId: "ten_a", PostId: "post_1"}); err != nil {
			t.Fatalf("event without workspace: %v, want it dropped", err)
		}
		if b.portal.calls != 0 {
			t.Errorf("portal was asked %d times about unusable events", b.portal.calls)
		}
		if n := len(b.list(t, "ten_a", "usr_1").Notifications); n != 0 {
			t.Fatalf("%d notifications from unusable events", n)
		}
	})
	t.Run("email disabled: in-app only", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: "one@example.com"})
		if err := b.deliver(t, "evt_z", bus.TopicPostPublished, published("ten_a", "ws_1")); err != nil {
			t.Fatal(err)
		}
		if n := len(b.list(t, "ten_a", "usr_1").Notifications); n != 1 {
			t.Fatalf("%d notifications, want 1", n)
		}
		if e := b.emails(t); len(e) != 0 {
			t.Fatalf("emails queued with email disabled: %s", describe(e))
		}
	})
}
