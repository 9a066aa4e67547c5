package notify

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// seeded is a service where usr_1 of ten_a has n notifications, usr_2 of
// ten_a has the same ones, and usr_1 of ten_b (another tenant, same user
// id) has one.
func seeded(t *testing.T, n int) *bundle {
	t.Helper()
	b := setup(t, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"}, &portalv1.Recipient{UserId: "usr_2"})
	b.portal.set("ten_b", "ws_9", &portalv1.Recipient{UserId: "usr_1"})
	for range n {
		if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, published("ten_a", "ws_1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.deliver(t, id.New("evt"), bus.TopicPostPublished, published("ten_b", "ws_9")); err != nil {
		t.Fatal(err)
	}
	return b
}

func ids(ns []*notificationv1.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.NotificationId
	}
	return out
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	tooMany := make([]string, maxMarkIDs+1)
	for i := range tooMany {
		tooMany[i] = id.New("ntf")
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"list without tenant", func() error {
			_, err := b.svc.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: "usr_1"})
			return err
		}, "tenant_id"},
		{"list without user", func() error {
			_, err := b.svc.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "  "})
			return err
		}, "user_id"},
		{"list with negative limit", func() error {
			_, err := b.svc.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_1", Limit: -1})
			return err
		}, "limit"},
		{"list over the limit", func() error {
			_, err := b.svc.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_1", Limit: maxLimit + 1})
			return err
		}, "limit"},
		{"mark without tenant", func() error {
			_, err := b.svc.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: "usr_1"})
			return err
		}, "tenant_id"},
		{"mark a malformed id", func() error {
			_, err := b.svc.MarkRead(ctx, &notificationv1.MarkReadRequest{TenantId: "ten_a", UserId: "usr_1",
				NotificationIds: []string{id.New("ntf"), "post_123"}})
			return err
		}, "notification_ids[1]"},
		{"mark too many", func() error {
			_, err := b.svc.MarkRead(ctx, &notificationv1.MarkReadRequest{TenantId: "ten_a", UserId: "usr_1", NotificationIds: tooMany})
			return err
		}, "notification_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields[tt.field] == "" {
				t.Fatalf("got %v, want an invalid error naming %s", err, tt.field)
			}
		})
	}
}

func TestListNotifications(t *testing.T) {
	t.Parallel()
	b := seeded(t, 5)
	ctx := context.Background()
	all := b.list(t, "ten_a", "usr_1")
	if len(all.Notifications) != 5 || all.Unread != 5 {
		t.Fatalf("got %d notifications, %d unread; want 5, 5", len(all.Notifications), all.Unread)
	}
	for i := 1; i < len(all.Notifications); i++ {
		prev, cur := all.Notifications[i-1], all.Notifications[i]
		if cur.CreatedAt.AsTime().After(prev.CreatedAt.AsTime()) || cur.NotificationId > prev.NotificationId {
			t.Fatalf("not newest first: %v before %v", prev, cur)
		}
	}
	if _, err := b.svc.MarkRead(ctx, &notificationv1.MarkReadRequest{TenantId: "ten_a", UserId: "usr_1",
		NotificationIds: []string{all.Notifications[0].NotificationId}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		req     *notificationv1.ListNotificationsRequest
		want    []string
		unread  int32
		tenants string
	}{
		{"default limit", &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_1"}, ids(all.Notifications), 4, "ten_a"},
		{"limit", &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_1", Limit: 2}, ids(all.Notifications[:2]), 4, "ten_a"},
		{"unread only", &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_1", UnreadOnly: true}, ids(all.Notifications[1:]), 4, "ten_a"},
		{"same user id, other tenant", &notificationv1.ListNotificationsRequest{TenantId: "ten_b", UserId: "usr_1"}, nil, 1, "ten_b"},
		{"unknown user", &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: "usr_404"}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := b.svc.ListNotifications(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Unread != tt.unread {
				t.Errorf("unread = %d, want %d", res.Unread, tt.unread)
			}
			for _, n := range res.Notifications {
				if n.TenantId != tt.tenants || n.UserId != tt.req.UserId {
					t.Errorf("listed another inbox's notification: %v", n)
				}
			}
			if tt.want == nil {
				return
			}
			got := ids(res.Notifications)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d notifications, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	if res := b.list(t, "ten_a", "usr_1"); res.Notifications[0].ReadAt == nil || res.Notifications[1].ReadAt != nil {
		t.Errorf("read_at not reported: %v", res.Notifications[:2])
	}
}

func TestMarkRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mark := func(b *bundle, tenantID, userID string, nids ...string) (int32, error) {
		res, err := b.svc.MarkRead(ctx, &notificationv1.MarkReadRequest{TenantId: tenantID, UserId: userID, NotificationIds: nids})
		return res.GetMarked(), err
	}

	t.Run("own ids, once", func(t *testing.T) {
		t.Parallel()
		b := seeded(t, 3)
		own := ids(b.list(t, "ten_a", "usr_1").Notifications)
		if n, err := mark(b, "ten_a", "usr_1", own[0], own[1], own[0]); err != nil || n != 2 {
			t.Fatalf("marked %d, %v; want 2", n, err)
		}
		if n, err := mark(b, "ten_a", "usr_1", own[0]); err != nil || n != 0 {
			t.Fatalf("marking again: %d, %v; want 0", n, err)
		}
		if u := b.list(t, "ten_a", "usr_1").Unread; u != 1 {
			t.Errorf("unread = %d, want 1", u)
		}
		if u := b.list(t, "ten_a", "usr_2").Unread; u != 3 {
			t.Errorf("another user's unread changed to %d", u)
		}
	})
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		b := seeded(t, 3)
		if n, err := mark(b, "ten_a", "usr_1"); err != nil || n != 3 {
			t.Fatalf("marked %d, %v; want 3", n, err)
		}
		if u := b.list(t, "ten_a", "usr_1").Unread; u != 0 {
			t.Errorf("unread = %d, want 0", u)
		}
		if u := b.list(t, "ten_a", "usr_2").Unread; u != 3 {
			t.Errorf("another user's unread = %d, want 3", u)
		}
		if u := b.list(t, "ten_b", "usr_1").Unread; u != 1 {
			t.Errorf("the same user id in another tenant has %d unread, want 1", u)
		}
	})
	t.Run("foreign ids are not found and change nothing", func(t *testing.T) {
		t.Parallel()
		b := seeded(t, 1)
		own := ids(b.list(t, "ten_a", "usr_1").Notifications)[0]
		otherUser := ids(b.list(t, "ten_a", "usr_2").Notifications)[0]
		otherTenant := ids(b.list(t, "ten_b", "usr_1").Notifications)[0]
		for _, foreign := range []string{otherUser, otherTenant, id.New("ntf")} {
			if _, err := mark(b, "ten_a", "usr_1", own, foreign); !errs.Is(err, errs.NotFound) {
				t.Errorf("marking %s: got %v, want not found", foreign, err)
			}
		}
		for _, inbox := range [][2]string{{"ten_a", "usr_1"}, {"ten_a", "usr_2"}, {"ten_b", "usr_1"}} {
			if u := b.list(t, inbox[0], inbox[1]).Unread; u != 1 {
				t.Errorf("%v has %d unread, want 1: a failed request changed something", inbox, u)
			}
		}
	})
}
