package notify

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestEventsFromAnOutboxOverTheMemBus runs the path an event takes in the
// single binary: another service's outbox relays it over the in-process bus
// to this service, which notifies the recipients once even when the bus
// delivers the event again.
func TestEventsFromAnOutboxOverTheMemBus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := mem.New()
	t.Cleanup(func() { b.Close() })
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	portal := newFakePortal()
	portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"}, &portalv1.Recipient{UserId: "usr_2"})

	svc, err := New(DefaultConfig(), Deps{DB: db, Bus: b, Log: log, Portal: portal})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })

	// The producing side: an outbox of its own, as Publisher has.
	producer := outbox.New(db, "producer_", b, log)
	producer.Poll = 20 * time.Millisecond
	if err := producer.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); producer.Run(relayCtx) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	ev := published("ten_a", "ws_1")
	var eventID string
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		eventID, err = producer.Add(ctx, tx, bus.TopicPostPublished, ev)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	unread := func(user string) int32 {
		res, err := svc.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{TenantId: "ten_a", UserId: user})
		if err != nil {
			t.Fatal(err)
		}
		return res.Unread
	}
	eventually(t, "both recipients to be notified", func() (bool, string) {
		u1, u2 := unread("usr_1"), unread("usr_2")
		return u1 == 1 && u2 == 1, describe([]int32{u1, u2})
	})

	// The bus delivers the same event again (a relay that crashed before
	// deleting its row would): nothing more is created.
	pubCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Publish(pubCtx, msg(t, bus.TopicPostPublished, ev), func() *bus.Message {
		m := msg(t, bus.TopicPostPublished, ev)
		m.ID = eventID
		return m
	}()); err != nil {
		t.Fatal(err)
	}
	if u1, u2 := unread("usr_1"), unread("usr_2"); u1 != 2 || u2 != 2 {
		t.Fatalf("unread = %d, %d after a new event and a redelivered one; want 2, 2", u1, u2)
	}
}
