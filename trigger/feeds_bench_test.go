package trigger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// BenchmarkFeedPolls measures how many feeds one node polls a second
// against a local server, with the default concurrency: a first round of
// full documents (20 items each: parse, 20 seen rows, the poll state) and
// a round answered 304 Not Modified.
func BenchmarkFeedPolls(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			const n = 1000
			var full, notMod time.Duration
			for b.Loop() {
				full, notMod = measureFeedPolls(b, d, n)
			}
			b.ReportMetric(n/full.Seconds(), "full-polls/s")
			b.ReportMetric(n/notMod.Seconds(), "304-polls/s")
			b.Logf("%s: %d feeds polled in %v with full documents, in %v answered 304", d, n, full, notMod)
		})
	}
}

func measureFeedPolls(tb testing.TB, d store.Dialect, n int) (full, notModified time.Duration) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URLFor(tb, d))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	doc := rssDoc(items(1, 20))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, doc)
	}))
	defer srv.Close()
	eventBus := mem.New()
	defer eventBus.Close()
	clock := clockwork.NewFakeClockAt(feedStart)
	s, err := New(DefaultConfig(), Deps{
		DB: db, Bus: eventBus, Clock: clock,
		Outbound: outbound.NewClient(outbound.Policy{AllowLoopback: true}),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		req := feedReq(fmt.Sprintf("feed_%05d", i), fmt.Sprintf("%s/feed/%d.xml", srv.URL, i), 0)
		if _, err := s.PutFeed(ctx, req); err != nil {
			tb.Fatal(err)
		}
	}
	round := func(want int64) time.Duration {
		start := time.Now()
		s.engine.feeds.kick()
		for s.Stats().Feeds.Polls < want {
			if time.Since(start) > 5*time.Minute {
				tb.Fatalf("polled %d feeds of %d", s.Stats().Feeds.Polls, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(start)
	}
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	full = round(int64(n))
	clock.Advance(15 * time.Minute)
	notModified = round(int64(2 * n))
	return full, notModified
}
