package portal

import (
	"context"
	"log/slog"
	"testing"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/trigger"
)

// setupRealTrigger is setup with the real Trigger service in-process, on
// the same store and bus: what Trigger accepts, refuses and emits is then
// the real thing, not a fake's idea of it.
func setupRealTrigger(t *testing.T) (*bundle, *trigger.Service) {
	t.Helper()
	b, ts, _ := setupRealTriggerFeeds(t)
	return b, ts
}

// withFakeFeeds is the real Trigger with fake feeds, while Trigger's own
// are being written.
type withFakeFeeds struct {
	*trigger.Service
	*fakeFeeds
}

func (w withFakeFeeds) PutFeed(ctx context.Context, r *triggerv1.PutFeedRequest) (*triggerv1.PutFeedResponse, error) {
	return w.fakeFeeds.PutFeed(ctx, r)
}
func (w withFakeFeeds) GetFeed(ctx context.Context, r *triggerv1.GetFeedRequest) (*triggerv1.GetFeedResponse, error) {
	return w.fakeFeeds.GetFeed(ctx, r)
}
func (w withFakeFeeds) ListFeeds(ctx context.Context, r *triggerv1.ListFeedsRequest) (*triggerv1.ListFeedsResponse, error) {
	return w.fakeFeeds.ListFeeds(ctx, r)
}
func (w withFakeFeeds) DeleteFeed(ctx context.Context, r *triggerv1.DeleteFeedRequest) (*triggerv1.DeleteFeedResponse, error) {
	return w.fakeFeeds.DeleteFeed(ctx, r)
}

// setupRealTriggerFeeds is setupRealTrigger whose feeds are faked, so a
// test can deliver feed items by hand.
func setupRealTriggerFeeds(t *testing.T) (*bundle, *trigger.Service, *fakeFeeds) {
	t.Helper()
	return setupTrigger(t, newFakeFeeds())
}

// setupTrigger runs the real Trigger in-process; feeds nil keeps its own
// feeds too, fetching through an outbound client that may reach loopback
// (the tests' feed servers).
func setupTrigger(t *testing.T, feeds *fakeFeeds) (*bundle, *trigger.Service, *fakeFeeds) {
	t.Helper()
	var ts *trigger.Service
	b := setupWith(t, func(d *Deps) {
		var err error
		ts, err = trigger.New(trigger.DefaultConfig(), trigger.Deps{DB: d.DB, Bus: d.Bus, Log: slog.New(slog.DiscardHandler),
			Outbound: outbound.NewClient(outbound.Policy{AllowLoopback: true})})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := ts.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ts.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ts.Close() })
		d.Trigger = ts
		if feeds != nil {
			d.Trigger = withFakeFeeds{ts, feeds}
		}
	})
	return b, ts, feeds
}
