package notify

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// A batch asks Portal once per workspace, records its events in one
// transaction each guarded by its own event id, drops what can never make
// sense and leaves the rest as they would be alone.
func TestBatchRecordsEachEventOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1"}, &portalv1.Recipient{UserId: "usr_2"})
	b.portal.set("ten_b", "ws_1", &portalv1.Recipient{UserId: "usr_9"})
	first := msg(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))
	msgs := []*bus.Message{
		first,
		msg(t, bus.TopicPostFailed, failed("ten_a", "ws_1")),
		first, // delivered twice within one batch
		msg(t, bus.TopicPostFailed, failed("ten_b", "ws_1")),
		msg(t, bus.TopicPostFailed, failed("ten_a", "ws_gone")), // nobody to tell
		{ID: id.New("evt"), Topic: bus.TopicPostFailed, Payload: []byte("not protobuf")},
	}
	before := b.portal.calls
	results := b.svc.handleBatch(context.Background(), msgs)
	for i, err := range results {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if asked := b.portal.calls - before; asked != 3 {
		t.Errorf("Portal was asked %d times for 3 workspaces", asked)
	}
	if n := len(b.list(t, "ten_a", "usr_1").GetNotifications()); n != 2 {
		t.Errorf("usr_1 has %d notifications, want 2 (the duplicate counted once)", n)
	}
	if n := len(b.list(t, "ten_b", "usr_9").GetNotifications()); n != 1 {
		t.Errorf("the other tenant's user has %d notifications, want 1", n)
	}

	// The same batch again (a redelivery) records nothing more.
	b.svc.handleBatch(context.Background(), msgs)
	if n := len(b.list(t, "ten_a", "usr_1").GetNotifications()); n != 2 {
		t.Errorf("after redelivery usr_1 has %d notifications, want 2", n)
	}

	// Portal down: every event of the batch is asked for again later,
	// nothing is recorded meanwhile.
	b.portal.fail(errs.E(errs.Unavailable, "portal is down"))
	again := []*bus.Message{msg(t, bus.TopicPostFailed, failed("ten_a", "ws_1")), msg(t, bus.TopicPostFailed, failed("ten_b", "ws_1"))}
	for i, err := range b.svc.handleBatch(context.Background(), again) {
		if err == nil {
			t.Errorf("message %d acknowledged while Portal was down", i)
		}
	}
	b.portal.fail(nil)
	for i, err := range b.svc.handleBatch(context.Background(), again) {
		if err != nil {
			t.Errorf("message %d after Portal came back: %v", i, err)
		}
	}
	if n := len(b.list(t, "ten_a", "usr_1").GetNotifications()); n != 3 {
		t.Errorf("usr_1 has %d notifications, want 3", n)
	}
}
