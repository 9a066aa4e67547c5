package portal

import (
	"context"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/config"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/publisher"
)

// recordingNetwork is a network that takes every post and remembers its
// text.
type recordingNetwork struct {
	name  string
	mu    sync.Mutex
	texts []string
}

func (n *recordingNetwork) Network() string { return n.name }
func (n *recordingNetwork) Limits() provider.Limits {
	return provider.Limits{MaxTextChars: 500, MaxMedia: 4, Threads: true, FirstComment: true}
}
func (n *recordingNetwork) Validate(string, []provider.Media) []provider.Violation { return nil }
func (n *recordingNetwork) Publish(_ context.Context, _ provider.Account, p provider.Post) (provider.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.texts = append(n.texts, p.Text)
	return provider.Result{RemoteID: n.name + "-" + p.IdempotencyKey}, nil
}
func (n *recordingNetwork) VerifyCredentials(context.Context, provider.Account) (provider.Profile, error) {
	return provider.Profile{}, nil
}
func (n *recordingNetwork) published() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.texts...)
}

// End to end through the real Publisher: one post with a variant for X
// and one for Bluesky goes out with each network's own text (links tagged
// for it), and Mastodon gets the post's own.
func TestPostWithVariantsPublishesEachNetworksText(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	ctx := context.Background()
	nets := map[string]*recordingNetwork{}
	providers := map[string]provider.Provider{}
	for _, n := range []string{"mastodon", "x", "bluesky"} {
		nets[n] = &recordingNetwork{name: n}
		providers[n] = nets[n]
	}
	portalClient, err := bind.New("internal").Portal(config.Endpoint{Transport: config.TransportLocal}, b.svc)
	if err != nil {
		t.Fatal(err)
	}
	pbus := mem.New()
	t.Cleanup(func() { pbus.Close() })
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	pub, err := publisher.New(publisher.DefaultConfig(), publisher.Deps{DB: b.db, Bus: pbus, Blob: bucket, Portal: portalClient,
		Log: b.svc.log, Providers: providers})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })

	post := a.createPostWith(t, map[string]any{
		"text":        "The post's own https://shop.example/?a=1",
		"account_ids": []string{accts["mastodon"], accts["x"], accts["bluesky"]}, "scheduled_at": future(),
		"variants": map[string]any{"x": map[string]any{"text": "For X https://shop.example/"},
			"bluesky": map[string]any{"text": "For Bluesky"}},
		"utm": map[string]any{"campaign": "spring"}})
	payload, _ := proto.Marshal(&eventsv1.PostDue{TenantId: a.id, PostId: post["id"].(string), Revision: 1})
	if err := pbus.Publish(ctx, &bus.Message{ID: "evt_variants", Topic: bus.TopicPostDue, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"mastodon": "The post's own https://shop.example/?a=1&utm_source=mastodon&utm_campaign=spring",
		"x":        "For X https://shop.example/?utm_source=x&utm_campaign=spring",
		"bluesky":  "For Bluesky",
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, text := range want {
		for len(nets[n].published()) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := nets[n].published(); len(got) != 1 || got[0] != text {
			t.Errorf("%s published %q, want [%q]", n, got, text)
		}
	}
}
