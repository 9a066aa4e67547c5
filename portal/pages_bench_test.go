package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// The page figures, on the embedded SQLite store through Portal's
// whole HTTP handler (routing, sign-in, rendering): the month calendar page
// and the post-list API of a workspace holding 10,000 posts (spread over a
// year, so a month shows some 830), and the agency home with 200
// workspaces; each with the in-process cache and without. Reported as
// p50/p99 of the requests of the run.
//
//	go test -run '^$' -bench BenchmarkPortalPages -benchtime 400x ./portal/
func BenchmarkPortalPages(b *testing.B) {
	const posts, workspaces = 10_000, 200
	ctx := context.Background()
	bp := newBenchPortal(b)
	db, agency, user, p := bp.db, bp.agency, bp.user, bp.p
	plain := bp.service(nil)
	var big Workspace
	for i := range workspaces {
		ws, err := plain.doCreateWorkspace(ctx, p, WorkspaceInput{Name: fmt.Sprintf("Brand %03d", i), Timezone: "Europe/Paris"})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			big = ws
		}
	}
	acct, err := plain.saveAccount(ctx, agency, big.ID, "mastodon", "https://social.example", credentials{AccessToken: "token"},
		provider.Profile{RemoteID: "1", Handle: "brand"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for i := range posts {
			at := now.Add(time.Duration(i) * 365 * 24 * time.Hour / posts)
			post := Post{ID: id.New("post"), WorkspaceID: big.ID, Text: fmt.Sprintf("Post %d for the brand's readers, with a link https://brand.example/%d", i, i),
				Revision: 1, Status: PostScheduled, ScheduledAt: at, LocalTime: formatWall(at), Zone: "Europe/Paris", Kind: KindOnce,
				CreatedBy: user, CreatedAt: now, UpdatedAt: now}
			if err := insertPost(ctx, tx, agency, post, []targetAccount{{id: acct.ID, network: "mastodon"}}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	sess, err := plain.Login(ctx, LoginInput{Email: "ada@bench.test", Password: ownerPassword, ClientIP: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	plain.SetSessionCookie(rec, sess)
	cookie := rec.Result().Cookies()[0]
	_, token, err := plain.CreateAPIToken(ctx, sess.Principal, "bench")
	if err != nil {
		b.Fatal(err)
	}

	cached := bp.service(readthrough.New(mem.New(256<<20, 0)))
	pages := []struct{ name, path string }{
		{"calendar_month_page", "/workspaces/" + big.ID + "/calendar?view=month"},
		{"post_list_api", "/api/v1/workspaces/" + big.ID + "/posts"},
		{"agency_home", "/"},
	}
	for _, svc := range []struct {
		name string
		s    *Service
	}{{"no_cache", plain}, {"cache", cached}} {
		h := svc.s.Handler()
		for _, pg := range pages {
			b.Run(pg.name+"/"+svc.name, func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, pg.path, nil)
					if pg.name == "post_list_api" {
						req.Header.Set("Authorization", "Bearer "+token)
					} else {
						req.AddCookie(cookie)
					}
					w := httptest.NewRecorder()
					start := time.Now()
					h.ServeHTTP(w, req)
					lat = append(lat, time.Since(start))
					if w.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", pg.path, w.Code, w.Body.String())
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// benchPortal is a Portal of the benchmarks: a migrated SQLite store in
// the benchmark's directory, an agency with its owner, and Services on it.
type benchPortal struct {
	b            *testing.B
	db           *store.DB
	bucket       *blob.Bucket
	agency, user string
	p            *Principal
}

func newBenchPortal(b *testing.B) *benchPortal {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URLFor(b, store.SQLite))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	bucket := memblob.OpenBucket(nil)
	b.Cleanup(func() { bucket.Close() })
	bp := &benchPortal{b: b, db: db, bucket: bucket}
	svc := bp.service(nil)
	if err := svc.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if bp.agency, bp.user, err = svc.CreateAgency(ctx, AgencyInput{AgencyName: "Bench", Name: "Ada", Email: "ada@bench.test", Password: ownerPassword}); err != nil {
		b.Fatal(err)
	}
	bp.p = &Principal{AgencyID: bp.agency, UserID: bp.user, Owner: true}
	return bp
}

// service is a Portal on the store, reading through c (nil: no cache),
// with the per-caller API limit lifted.
func (bp *benchPortal) service(c *readthrough.Cache) *Service {
	cfg := testConfig()
	cfg.Cache = c
	cfg.APIRate, cfg.APIBurst = 1e6, 1e6
	svc, err := New(cfg, Deps{DB: bp.db, Bus: newFakeBus(), Blob: bp.bucket, Log: slog.New(slog.DiscardHandler), Trigger: newFakeTrigger(),
		Publisher: &fakePublisher{}, Notification: &fakeNotification{}, NotificationStream: &streamRecorder{},
		Providers: map[string]provider.Provider{"mastodon": newFakeProvider()}})
	if err != nil {
		bp.b.Fatal(err)
	}
	bp.b.Cleanup(func() { svc.Close() })
	return svc
}
