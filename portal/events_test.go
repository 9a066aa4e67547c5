package portal

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEventsUpdateStatusIdempotently(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	for _, topic := range []string{bus.TopicPostPublished, bus.TopicPostFailed, bus.TopicAccountNeedsReconnect} {
		if !b.bus.subscribed(topic) {
			t.Fatalf("Start did not subscribe to %s", topic)
		}
	}
	b.prov.addToken("token-second", "remote-second", "second")
	second := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-second"})).json(t)["id"].(string)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Both", "account_ids": []string{a.account, second}, "scheduled_at": future()})).json(t)
	id := post["id"].(string)

	status := func() (string, map[string]map[string]any) {
		got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
		targets := map[string]map[string]any{}
		for _, tg := range got["targets"].([]any) {
			m := tg.(map[string]any)
			targets[m["account_id"].(string)] = m
		}
		return got["status"].(string), targets
	}

	published := mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: id, Revision: 1,
		AccountId: a.account, Network: "mastodon", RemoteId: "109", RemoteUrl: "https://social.example/@ada/109"})
	b.publish(t, "evt_pub1", bus.TopicPostPublished, published)
	st, targets := status()
	if st != PostScheduled || targets[a.account]["status"] != TargetPublished || targets[a.account]["remote_url"] != "https://social.example/@ada/109" {
		t.Fatalf("after one published: %s %v", st, targets)
	}
	// The same event again (a redelivery) changes nothing.
	b.publish(t, "evt_pub1", bus.TopicPostPublished, published)
	var inbox int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_inbox WHERE event_id = ?`, "evt_pub1").Scan(&inbox)
	if inbox != 1 {
		t.Fatalf("inbox rows for the event: %d", inbox)
	}

	// A failure report for an already published target does not undo it.
	b.publish(t, "evt_fail0", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 1,
		AccountId: a.account, Reason: "late", Kind: "unknown"}))
	// A failure from another tenant's point of view touches nothing.
	b.publish(t, "evt_fail_x", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: "agency_other", PostId: id, Revision: 1,
		AccountId: second, Reason: "nope", Kind: "bad_content"}))
	if _, targets := status(); targets[a.account]["status"] != TargetPublished || targets[second]["status"] != TargetPending {
		t.Fatalf("targets changed by ignored events: %v", targets)
	}

	b.publish(t, "evt_fail1", bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 1,
		AccountId: second, Reason: "Text too long", Kind: "bad_content"}))
	st, targets = status()
	if st != PostPartiallyFailed || targets[second]["status"] != TargetFailed || targets[second]["error"] != "Text too long" {
		t.Fatalf("after failure: %s %v", st, targets)
	}
	// Settled: no longer publishable.
	res, err := b.svc.GetPublishJob(context.Background(), &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
	if err != nil || res.GetPublishable() {
		t.Fatalf("settled post is publishable: %v %v", res, err)
	}

	b.publish(t, "evt_rc1", bus.TopicAccountNeedsReconnect, mustMarshal(t, &eventsv1.AccountNeedsReconnect{TenantId: a.id,
		WorkspaceId: a.workspace, AccountId: second, Network: "mastodon", Reason: "token revoked"}))
	acct := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/accounts/"+second, nil)).json(t)
	if acct["status"] != AccountNeedsReconnect || acct["status_reason"] != "token revoked" {
		t.Fatalf("account = %v", acct)
	}
	// Reconnecting with a working token makes it active again.
	acct = a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example/", "access_token": "token-second"})).json(t)
	if acct["id"] != second || acct["status"] != AccountActive {
		t.Fatalf("reconnected account = %v", acct)
	}
}

func TestPostStatusSettles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes []string // per target
		want     string
	}{
		{"all published", []string{TargetPublished, TargetPublished}, PostPublished},
		{"all failed", []string{TargetFailed, TargetFailed}, PostFailed},
		{"mixed", []string{TargetPublished, TargetFailed}, PostPartiallyFailed},
		{"one pending", []string{TargetPublished, ""}, PostScheduled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			a := b.firstAgency(t)
			b.prov.addToken("token-2", "remote-2", "two")
			second := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
				"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-2"})).json(t)["id"].(string)
			id := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
				"text": "x", "account_ids": []string{a.account, second}, "scheduled_at": future()})).json(t)["id"].(string)
			for i, acct := range []string{a.account, second} {
				evID := "evt_" + acct
				switch tt.outcomes[i] {
				case TargetPublished:
					b.publish(t, evID, bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, PostId: id, Revision: 1, AccountId: acct}))
				case TargetFailed:
					b.publish(t, evID, bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, PostId: id, Revision: 1, AccountId: acct, Reason: "no"}))
				}
			}
			got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)["status"]
			if got != tt.want {
				t.Fatalf("status %v, want %s", got, tt.want)
			}
		})
	}
}

func TestUndecodableEventIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publish(t, "evt_garbage", bus.TopicPostPublished, []byte{0xff, 0xff, 0xff})
}

func TestStartAndClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.svc.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := b.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if b.bus.subscribed(bus.TopicPostPublished) {
		t.Fatal("Close left the subscription")
	}
	if err := b.svc.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// A batch of events (outcomes, and a post.due) is applied in one transaction, each event once
// however often it is in the batch; an event that cannot be applied fails
// alone (redelivered later) and holds back none of the others.
func TestOutcomesBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	var posts []string
	for range 3 {
		posts = append(posts, a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
			"text": "x", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string))
	}
	status := func(id string) string {
		return a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)["status"].(string)
	}
	// The store refuses the third post's outcome, as it would a write
	// that breaks.
	refuse := []string{`CREATE TRIGGER refuse_boom BEFORE UPDATE ON portal_post_targets
		FOR EACH ROW WHEN (NEW.remote_id = 'boom') BEGIN SELECT RAISE(ABORT, 'refused'); END`}
	allow := []string{`DROP TRIGGER refuse_boom`}
	if b.db.Dialect() == store.Postgres {
		refuse = []string{`CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_boom BEFORE UPDATE ON portal_post_targets FOR EACH ROW WHEN (NEW.remote_id = 'boom') EXECUTE FUNCTION refuse_boom()`}
		allow = []string{`DROP TRIGGER refuse_boom ON portal_post_targets`}
	}
	for _, q := range refuse {
		if _, err := b.db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	msg := func(id, topic string, ev proto.Message) *bus.Message {
		return &bus.Message{ID: id, Topic: topic, Payload: mustMarshal(t, ev)}
	}
	published := msg("evt_b1", bus.TopicPostPublished, &eventsv1.PostPublished{TenantId: a.id, PostId: posts[0], Revision: 1, AccountId: a.account, RemoteId: "1"})
	batch := []*bus.Message{
		published,
		msg("evt_b2", bus.TopicPostFailed, &eventsv1.PostFailed{TenantId: a.id, PostId: posts[1], Revision: 1, AccountId: a.account, Reason: "no"}),
		published, // delivered twice in the same batch
		{ID: "evt_b3", Topic: bus.TopicPostPublished, Payload: []byte{0xff, 0xff}},
		msg("evt_b4", bus.TopicPostPublished, &eventsv1.PostPublished{TenantId: a.id, PostId: posts[2], Revision: 1, AccountId: a.account, RemoteId: "boom"}),
		msg("evt_b5", bus.TopicPostDue, &eventsv1.PostDue{TenantId: a.id, PostId: posts[0], Revision: 1}),
	}
	errs := b.svc.onEvents(ctx, batch)
	if len(errs) != len(batch) {
		t.Fatalf("%d results for %d events: %v", len(errs), len(batch), errs)
	}
	for i, err := range errs {
		if want := i == 4; (err != nil) != want {
			t.Errorf("event %d (%s): error %v, want one: %v", i, batch[i].ID, err, want)
		}
	}
	if got := []string{status(posts[0]), status(posts[1]), status(posts[2])}; got[0] != PostPublished || got[1] != PostFailed || got[2] != PostScheduled {
		t.Errorf("statuses after the batch: %v, want published, failed, scheduled", got)
	}
	inbox := func(id string) int {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_inbox WHERE event_id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if inbox("evt_b1") != 1 || inbox("evt_b2") != 1 || inbox("evt_b4") != 0 || inbox("evt_b5") != 1 {
		t.Errorf("inbox: b1 %d, b2 %d, b4 %d, b5 %d; want 1, 1, none for the refused event, 1",
			inbox("evt_b1"), inbox("evt_b2"), inbox("evt_b4"), inbox("evt_b5"))
	}

	// Redelivered once the store takes it, the refused event is applied;
	// the others, redelivered too, change nothing.
	for _, q := range allow {
		if _, err := b.db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if errs := b.svc.onEvents(ctx, batch); errs != nil {
		t.Fatalf("redelivered batch: %v", errs)
	}
	if got := []string{status(posts[0]), status(posts[1]), status(posts[2])}; got[0] != PostPublished || got[1] != PostFailed || got[2] != PostPublished {
		t.Errorf("statuses after the redelivery: %v, want published, failed, published", got)
	}
}
