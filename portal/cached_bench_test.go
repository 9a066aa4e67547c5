package portal

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	busmem "github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/cache/tiered"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// What the cache buys Portal's list reads, on the embedded SQLite store: a
// workspace of benchPosts posts with benchAccounts targets each, its list
// page read from the database, through the in-process cache, and through
// the two-tier cache (memory in front of Redis); a miss shows what a read
// right after a write costs. Then the read Publisher makes of Portal per
// publish (GetPublishJob), in process and over Connect on loopback, beside
// what a cache hit of the same answer would cost (it is not cached:
// docs/decisions/0032).
//
//	go test -run '^$' -bench BenchmarkCachedReads -count 3 ./portal/
func BenchmarkCachedReads(b *testing.B) {
	const benchPosts, benchAccounts = 2000, 3
	ctx := context.Background()
	bp := newBenchPortal(b)
	db, agency, user, p := bp.db, bp.agency, bp.user, bp.p
	plain := bp.service(nil)
	ws, err := plain.doCreateWorkspace(ctx, p, WorkspaceInput{Name: "Brand", Timezone: "Europe/Paris"})
	if err != nil {
		b.Fatal(err)
	}
	var accounts []targetAccount
	for i := range benchAccounts {
		a, err := plain.saveAccount(ctx, agency, ws.ID, "mastodon", "https://social.example", credentials{AccessToken: fmt.Sprintf("token-%d", i)},
			provider.Profile{RemoteID: fmt.Sprint(i), Handle: fmt.Sprintf("acct%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		accounts = append(accounts, targetAccount{id: a.ID, network: "mastodon"})
	}
	var lastPost string
	now := time.Now().UTC()
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for i := range benchPosts {
			at := now.Add(time.Duration(i) * time.Hour)
			post := Post{ID: id.New("post"), WorkspaceID: ws.ID, Text: fmt.Sprintf("Post %d: %s", i, bytes.Repeat([]byte("word "), 40)),
				Revision: 1, Status: PostScheduled, ScheduledAt: at, LocalTime: formatWall(at), Zone: "Europe/Paris", Kind: KindOnce,
				CreatedBy: user, CreatedAt: now, UpdatedAt: now}
			if err := insertPost(ctx, tx, agency, post, accounts, nil); err != nil {
				return err
			}
			lastPost = post.ID
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	inMemory := bp.service(readthrough.New(mem.New(64<<20, 0)))
	bus := busmem.New()
	b.Cleanup(func() { _ = bus.Close() })
	remote, err := cache.Open(ctx, "redis://"+servertest.Addr(b, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379")+"/0")
	if err != nil {
		b.Fatal(err)
	}
	tc, err := tiered.New(ctx, mem.New(64<<20, 0), remote, bus, id.New("bench"), tiered.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tc.Close() })
	twoTier := bp.service(readthrough.New(tc))

	list := func(svc *Service, n int, invalidate bool) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if invalidate {
					svc.invalidate(ctx, postsScope(agency, ws.ID))
				}
				posts, err := svc.ListPosts(ctx, p, ws.ID, n)
				if err != nil || len(posts) != n {
					b.Fatalf("got %d posts, %v", len(posts), err)
				}
			}
		}
	}
	for _, n := range []int{50, 100} {
		b.Run(fmt.Sprintf("post_list_%d/database", n), list(plain, n, false))
		b.Run(fmt.Sprintf("post_list_%d/memory_hit", n), list(inMemory, n, false))
		b.Run(fmt.Sprintf("post_list_%d/memory_miss", n), list(inMemory, n, true))
		b.Run(fmt.Sprintf("post_list_%d/two_tier_hit", n), list(twoTier, n, false))
	}
	b.Run("accounts/database", func(b *testing.B) {
		for b.Loop() {
			if _, err := plain.ListAccounts(ctx, p, ws.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("accounts/memory_hit", func(b *testing.B) {
		for b.Loop() {
			if _, err := inMemory.ListAccounts(ctx, p, ws.ID); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Publisher's read of Portal.
	req := &portalv1.GetPublishJobRequest{TenantId: agency, PostId: lastPost, Revision: 1}
	job := func(get func() (*portalv1.GetPublishJobResponse, error)) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				res, err := get()
				if err != nil || !res.GetPublishable() || len(res.GetJob().GetTargets()) != benchAccounts {
					b.Fatalf("job: %v, %v", res, err)
				}
			}
		}
	}
	b.Run("publish_job/in_process", job(func() (*portalv1.GetPublishJobResponse, error) { return plain.GetPublishJob(ctx, req) }))
	srv := httptest.NewServer(http.Handler(func() http.Handler {
		mux := http.NewServeMux()
		mux.Handle(portalv1connect.NewPortalServiceHandler(plain))
		return mux
	}()))
	b.Cleanup(srv.Close)
	client := portalv1connect.NewPortalServiceClient(srv.Client(), srv.URL)
	b.Run("publish_job/connect_loopback", job(func() (*portalv1.GetPublishJobResponse, error) { return client.GetPublishJob(ctx, req) }))
	// What a hit would cost if the answer were cached (it is not).
	res, err := plain.GetPublishJob(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := proto.Marshal(res)
	if err != nil {
		b.Fatal(err)
	}
	jobs := mem.New(1<<20, 0)
	if err := jobs.Set(ctx, "job", encoded, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run("publish_job/memory_hit_if_cached", job(func() (*portalv1.GetPublishJobResponse, error) {
		v, _, err := jobs.Get(ctx, "job")
		if err != nil {
			return nil, err
		}
		out := &portalv1.GetPublishJobResponse{}
		return out, proto.Unmarshal(v, out)
	}))
}
