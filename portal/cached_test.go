package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	busmem "github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/cache/readthrough"
	_ "github.com/heraldhq/herald/cache/redis"
	"github.com/heraldhq/herald/cache/tiered"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
	"github.com/heraldhq/herald/provider"
)

// listed is a workspace's post list as the API shows it: "id=status:text"
// for each post.
func listed(c *client, workspace string) string {
	c.t.Helper()
	posts := c.must(http.StatusOK, c.do("GET", "/api/v1/workspaces/"+workspace+"/posts", nil)).json(c.t)["posts"].([]any)
	var out []string
	for _, p := range posts {
		m := p.(map[string]any)
		out = append(out, fmt.Sprintf("%s=%s:%s", m["id"], m["status"], m["text"]))
	}
	return strings.Join(out, ",")
}

// accountsListed is a workspace's accounts as "id=status".
func accountsListed(c *client, workspace string) string {
	c.t.Helper()
	accts := c.must(http.StatusOK, c.do("GET", "/api/v1/workspaces/"+workspace+"/accounts", nil)).json(c.t)["accounts"].([]any)
	var out []string
	for _, a := range accts {
		m := a.(map[string]any)
		out = append(out, fmt.Sprintf("%s=%s", m["id"], m["status"]))
	}
	return strings.Join(out, ",")
}

func kindStat(t *testing.T, s *Service, name string) readthrough.Stat {
	t.Helper()
	for _, st := range s.reads.c.Stats() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no stats for %s", name)
	return readthrough.Stat{}
}

// Each write path that changes a cached list shows in the next read,
// while reads with no write between them are served from the cache.
func TestCachedListsSeeEveryWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner

	if got := listed(c, a.workspace); got != "" {
		t.Fatalf("new workspace lists %q", got)
	}
	hits := kindStat(t, b.svc, "portal.post_lists").Hits
	listed(c, a.workspace)
	if got := kindStat(t, b.svc, "portal.post_lists").Hits; got != hits+1 {
		t.Errorf("a second read with no write between: hits %d, want %d", got, hits+1)
	}

	// Create.
	post := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "first", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
	if got, want := listed(c, a.workspace), post+"=scheduled:first"; got != want {
		t.Fatalf("after create: %q, want %q", got, want)
	}
	// Edit.
	c.must(http.StatusOK, c.do("PATCH", "/api/v1/posts/"+post, map[string]any{"text": "edited"}))
	if got, want := listed(c, a.workspace), post+"=scheduled:edited"; got != want {
		t.Fatalf("after edit: %q, want %q", got, want)
	}
	// An outcome from Publisher, on its own and in a batch.
	b.publish(t, "evt_cache1", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{
		TenantId: a.id, WorkspaceId: a.workspace, PostId: post, Revision: 2, AccountId: a.account, RemoteId: "1"}))
	if got, want := listed(c, a.workspace), post+"=published:edited"; got != want {
		t.Fatalf("after post.published: %q, want %q", got, want)
	}
	second := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "second", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
	listed(c, a.workspace)
	failed := mustMarshal(t, &eventsv1.PostFailed{TenantId: a.id, WorkspaceId: a.workspace, PostId: second, Revision: 1, AccountId: a.account, Reason: "refused"})
	if errs := b.svc.onEvents(t.Context(), []*bus.Message{{ID: "evt_cache2", Topic: bus.TopicPostFailed, Payload: failed}}); errs != nil {
		t.Fatal(errs)
	}
	if got := listed(c, a.workspace); !strings.Contains(got, second+"=failed:second") {
		t.Fatalf("after a batch with post.failed: %q", got)
	}
	// The user says it went out after all.
	c.must(http.StatusOK, c.do("POST", "/api/v1/posts/"+second+"/targets/"+a.account+"/published",
		map[string]string{"remote_url": "https://social.example/@ada/1"}))
	if got := listed(c, a.workspace); !strings.Contains(got, second+"=published:second") {
		t.Fatalf("after marking the target published: %q", got)
	}
	// Delete.
	c.must(http.StatusNoContent, c.do("DELETE", "/api/v1/posts/"+second, nil))
	if got, want := listed(c, a.workspace), post+"=published:edited"; got != want {
		t.Fatalf("after delete: %q, want %q", got, want)
	}

	// Accounts: the network refusing a token, a new account, a disconnect.
	if got, want := accountsListed(c, a.workspace), a.account+"=active"; got != want {
		t.Fatalf("accounts: %q, want %q", got, want)
	}
	b.publish(t, "evt_cache3", bus.TopicAccountNeedsReconnect, mustMarshal(t, &eventsv1.AccountNeedsReconnect{
		TenantId: a.id, WorkspaceId: a.workspace, AccountId: a.account, Reason: "revoked"}))
	if got, want := accountsListed(c, a.workspace), a.account+"=needs_reconnect"; got != want {
		t.Fatalf("after account.needs_reconnect: %q, want %q", got, want)
	}
	b.prov.addToken("token-2", "remote-2", "two")
	other := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-2"})).json(t)["id"].(string)
	if got := accountsListed(c, a.workspace); !strings.Contains(got, other+"=active") {
		t.Fatalf("after connecting: %q", got)
	}
	c.must(http.StatusNoContent, c.do("DELETE", "/api/v1/accounts/"+other, nil))
	if got := accountsListed(c, a.workspace); strings.Contains(got, other) {
		t.Fatalf("after disconnecting: %q", got)
	}
}

// With no cache configured every read goes to the database, and all the
// same things work.
func TestNoCacheConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Cache = nil })
	a := b.firstAgency(t)
	c := a.owner
	post := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "hello", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
	c.must(http.StatusOK, c.do("PATCH", "/api/v1/posts/"+post, map[string]any{"text": "edited"}))
	if got, want := listed(c, a.workspace), post+"=scheduled:edited"; got != want {
		t.Fatalf("list: %q, want %q", got, want)
	}
	if got, want := accountsListed(c, a.workspace), a.account+"=active"; got != want {
		t.Fatalf("accounts: %q, want %q", got, want)
	}
	if st := b.svc.reads.c.Stats(); len(st) != 0 {
		t.Errorf("no cache, yet stats %v", st)
	}
}

// Two Portal nodes over one database, each with its own two-tier cache
// (memory in front of the shared Redis) on one bus: a write on one node is
// seen by the next read on the other, although the other had the list in
// its memory tier.
func TestWriteOnOneNodeIsSeenOnAnother(t *testing.T) {
	t.Parallel()
	b := busmem.New()
	t.Cleanup(func() { _ = b.Close() })
	twoTier := func() *readthrough.Cache {
		remote, err := cache.Open(t.Context(), "redis://"+servertest.Addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379")+"/0")
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tiered.New(t.Context(), mem.New(1<<20, 0), remote, b, id.New("portal"), tiered.Options{LocalTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tc.Close() })
		return readthrough.New(tc)
	}
	one := setup(t, func(c *Config) { c.Cache = twoTier() })
	cfg := testConfig()
	cfg.Cache = twoTier()
	svc2, err := New(cfg, Deps{DB: one.db, Bus: newFakeBus(), Log: slog.New(slog.DiscardHandler), Blob: one.blob,
		Trigger: one.trigger, Publisher: one.publisher, Notification: one.notify, NotificationStream: one.stream,
		Providers: map[string]provider.Provider{"mastodon": one.prov}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc2.Close() })
	two := *one
	two.svc, two.handler = svc2, svc2.Handler()

	a := one.firstAgency(t)
	on1 := a.owner
	on2 := *a.owner // the same session, sent to the other node
	on2.b = &two

	if got := listed(&on2, a.workspace); got != "" {
		t.Fatalf("node 2 lists %q", got)
	}
	listed(&on2, a.workspace) // from node 2's memory now
	if st := kindStat(t, svc2, "portal.post_lists"); st.Hits < 1 {
		t.Fatalf("node 2 never hit: %+v", st)
	}
	post := on1.must(http.StatusCreated, on1.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "from node 1", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
	if got, want := listed(&on2, a.workspace), post+"=scheduled:from node 1"; got != want {
		t.Fatalf("node 2 after node 1's create: %q, want %q", got, want)
	}
	on2.must(http.StatusOK, on2.do("PATCH", "/api/v1/posts/"+post, map[string]any{"text": "from node 2"}))
	if got, want := listed(on1, a.workspace), post+"=scheduled:from node 2"; got != want {
		t.Fatalf("node 1 after node 2's edit: %q, want %q", got, want)
	}
}

// deletes counts the Delete calls a cache receives.
type deletes struct {
	cache.Cache
	mu    sync.Mutex
	calls [][]string
}

func (d *deletes) Delete(ctx context.Context, keys ...string) error {
	d.mu.Lock()
	d.calls = append(d.calls, keys)
	d.mu.Unlock()
	return d.Cache.Delete(ctx, keys...)
}

// A batch of outcome events for posts of one workspace invalidates its
// lists once, after the batch, not once per event.
func TestBatchInvalidatesOnce(t *testing.T) {
	t.Parallel()
	d := &deletes{Cache: mem.New(1<<20, 0)}
	b := setup(t, func(c *Config) { c.Cache = readthrough.New(d) })
	a := b.firstAgency(t)
	var batch []*bus.Message
	for i := range 3 {
		post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
			"text": fmt.Sprint("post ", i), "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
		batch = append(batch, &bus.Message{ID: fmt.Sprint("evt_once", i), Topic: bus.TopicPostPublished, Payload: mustMarshal(t,
			&eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: post, Revision: 1, AccountId: a.account, RemoteId: fmt.Sprint(i)})})
	}
	listed(a.owner, a.workspace)
	d.mu.Lock()
	d.calls = nil
	d.mu.Unlock()
	if errs := b.svc.onEvents(t.Context(), batch); errs != nil {
		t.Fatal(errs)
	}
	d.mu.Lock()
	calls := d.calls
	d.mu.Unlock()
	want := "gen:" + postsScope(a.id, a.workspace)
	if len(calls) != 1 || len(calls[0]) != 1 || calls[0][0] != want {
		t.Errorf("deletes %v, want one of [%s]", calls, want)
	}
	if got := listed(a.owner, a.workspace); strings.Count(got, "=published:") != 3 {
		t.Errorf("after the batch: %q", got)
	}
}
