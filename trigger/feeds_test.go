package trigger

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mmcdole/gofeed"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/outbound"
)

// feedStart is the fake clock's start in the feed tests.
var feedStart = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// testItem is one item of a document the test server serves.
type testItem struct {
	guid, link, title, desc string
	at                      time.Time
}

func item(n int) testItem {
	return testItem{
		guid: fmt.Sprintf("urn:item:%d", n), link: fmt.Sprintf("https://blog.example/posts/%d", n),
		title: fmt.Sprintf("Post %d", n), desc: fmt.Sprintf("<p>Body of <b>post %d</b></p>", n),
		at: feedStart.Add(-time.Duration(100-n) * time.Hour),
	}
}

func items(from, to int) []testItem {
	var out []testItem
	for n := to; n >= from; n-- { // newest first, as feeds list them
		out = append(out, item(n))
	}
	return out
}

func rssDoc(its []testItem) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Blog</title><link>https://blog.example/</link>`)
	for _, it := range its {
		b.WriteString("<item>")
		if it.guid != "" {
			fmt.Fprintf(&b, `<guid isPermaLink="false">%s</guid>`, html.EscapeString(it.guid))
		}
		if it.link != "" {
			fmt.Fprintf(&b, "<link>%s</link>", html.EscapeString(it.link))
		}
		if it.title != "" {
			fmt.Fprintf(&b, "<title>%s</title>", html.EscapeString(it.title))
		}
		if it.desc != "" {
			fmt.Fprintf(&b, "<description>%s</description>", html.EscapeString(it.desc))
		}
		if !it.at.IsZero() {
			fmt.Fprintf(&b, "<pubDate>%s</pubDate>", it.at.Format(time.RFC1123Z))
		}
		b.WriteString("</item>")
	}
	b.WriteString("</channel></rss>")
	return b.String()
}

func atomDoc(its []testItem) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>urn:blog</id><updated>2026-06-01T00:00:00Z</updated>`)
	for _, it := range its {
		fmt.Fprintf(&b, `<entry><id>%s</id><title>%s</title><link rel="alternate" href="%s"/><updated>%s</updated><published>%s</published>`,
			html.EscapeString(it.guid), html.EscapeString(it.title), html.EscapeString(it.link),
			it.at.Format(time.RFC3339), it.at.Format(time.RFC3339))
		fmt.Fprintf(&b, `<summary type="html">%s</summary><author><name>Ada</name></author><category term="news"/><category term="go"/>`,
			html.EscapeString(it.desc))
		b.WriteString(`<link rel="enclosure" type="image/png" href="/img/cover.png"/></entry>`)
	}
	b.WriteString("</feed>")
	return b.String()
}

// feedServer serves one feed document and honours If-None-Match and
// If-Modified-Since as a real server would; it counts what it answered.
type feedServer struct {
	*httptest.Server
	mu         sync.Mutex
	body, kind string
	// useETag and useLastModified choose the validators it sends.
	useETag, useLastModified bool
	version                  int
	modified                 time.Time
	// failures answers that many requests with failStatus.
	failures, failStatus int
	requests, notMod     int
	gotINM, gotIMS       []string
	// hold, when set, makes requests wait for it to close; arrived hears
	// of each request that waits.
	hold    chan struct{}
	arrived chan struct{}
	// waiting counts the held requests whose poller still waits for them
	// (a poll abandoned because its feed changed gives up its request).
	waiting int
}

func newFeedServer(t *testing.T, body string) *feedServer {
	fs := &feedServer{body: body, kind: "application/rss+xml", useETag: true, useLastModified: true, version: 1, modified: feedStart.Add(-time.Hour)}
	fs.Server = httptest.NewServer(fs)
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) URL() string { return fs.Server.URL + "/feed.xml" }

func (fs *feedServer) set(body string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.body, fs.version, fs.modified = body, fs.version+1, fs.modified.Add(time.Hour)
}

func (fs *feedServer) waitingNow() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.waiting
}

func (fs *feedServer) counts() (requests, notModified int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests, fs.notMod
}

func (fs *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.requests++
	fs.gotINM = append(fs.gotINM, r.Header.Get("If-None-Match"))
	fs.gotIMS = append(fs.gotIMS, r.Header.Get("If-Modified-Since"))
	hold, arrived := fs.hold, fs.arrived
	fs.mu.Unlock()
	if hold != nil {
		fs.mu.Lock()
		fs.waiting++
		fs.mu.Unlock()
		if arrived != nil {
			arrived <- struct{}{}
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		fs.mu.Lock()
		fs.waiting--
		fs.mu.Unlock()
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.failures > 0 {
		fs.failures--
		w.WriteHeader(fs.failStatus)
		return
	}
	etag := fmt.Sprintf(`"v%d"`, fs.version)
	if fs.useETag {
		w.Header().Set("ETag", etag)
	}
	if fs.useLastModified {
		w.Header().Set("Last-Modified", fs.modified.Format(http.TimeFormat))
	}
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	switch {
	case fs.useETag && inm != "":
		if inm == etag {
			fs.notMod++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case fs.useLastModified && ims != "":
		if t, err := http.ParseTime(ims); err == nil && !fs.modified.After(t) {
			fs.notMod++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", fs.kind)
	_, _ = w.Write([]byte(fs.body))
}

// feedItems records each feed.item event once, by message id, as a
// deduplicating consumer would.
type feedItems struct {
	mu   sync.Mutex
	got  []*eventsv1.FeedItem
	seen map[string]bool
}

func (fi *feedItems) handle(_ context.Context, m *bus.Message) error {
	ev := &eventsv1.FeedItem{}
	if err := proto.Unmarshal(m.Payload, ev); err != nil {
		return err
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.seen[m.ID] {
		return nil
	}
	fi.seen[m.ID] = true
	fi.got = append(fi.got, ev)
	return nil
}

// of returns the events of one feed, in arrival order.
func (fi *feedItems) of(feedID string) []*eventsv1.FeedItem {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	var out []*eventsv1.FeedItem
	for _, ev := range fi.got {
		if ev.GetFeedId() == feedID {
			out = append(out, ev)
		}
	}
	return out
}

// keys returns how often each item key of a feed was emitted.
func (fi *feedItems) keys(feedID string) map[string]int {
	out := map[string]int{}
	for _, ev := range fi.of(feedID) {
		out[ev.GetItemKey()]++
	}
	return out
}

// feedRig is a bundle on a fake clock with feed.item events recorded and
// loopback feeds allowed (the test servers listen there).
type feedRig struct {
	*bundle
	clock *clockwork.FakeClock
	items *feedItems
}

func setupFeeds(t *testing.T) *feedRig {
	t.Helper()
	b := setup(t)
	clock := clockwork.NewFakeClockAt(feedStart)
	b.clock = clock
	b.outbound = outbound.NewClient(outbound.Policy{AllowLoopback: true, Timeout: 10 * time.Second})
	r := &feedRig{bundle: b, clock: clock, items: &feedItems{seen: map[string]bool{}}}
	if _, err := b.bus.Subscribe(context.Background(), bus.TopicFeedItem, "test-feeds", r.items.handle); err != nil {
		t.Fatal(err)
	}
	return r
}

// pollNow makes each engine look for due feeds at the clock's time, waits
// for the polls it started, and for their events to reach the bus.
func (r *feedRig) pollNow(svcs ...*Service) {
	r.t.Helper()
	// A service just started takes its shards a moment later; polling
	// before would find no feed of its own, and poll nothing.
	eventually(r.t, "the services to own shards", func() bool {
		for _, s := range svcs {
			if s.Stats().OwnedShards > 0 {
				return true
			}
		}
		return false
	})
	for {
		for _, s := range svcs {
			s.engine.feeds.dispatch(s.engine.ctx)
		}
		eventually(r.t, "feed polls to end", func() bool {
			for _, s := range svcs {
				if s.Stats().Feeds.InFlight > 0 {
					return false
				}
			}
			return true
		})
		// Feeds left for their host's polls in flight go in the next round.
		capped := 0
		for _, s := range svcs {
			capped += s.Stats().Feeds.Capped
		}
		if capped == 0 {
			break
		}
	}
	r.drain(svcs...)
}

// advance moves the clock and polls what fell due.
func (r *feedRig) advance(d time.Duration, svcs ...*Service) {
	r.t.Helper()
	r.clock.Advance(d)
	r.pollNow(svcs...)
}

func putFeed(t *testing.T, s *Service, req *triggerv1.PutFeedRequest) *triggerv1.Feed {
	t.Helper()
	res, err := s.PutFeed(context.Background(), req)
	if err != nil {
		t.Fatalf("PutFeed(%s): %v", req.GetFeedId(), err)
	}
	return res.GetFeed()
}

func getFeed(t *testing.T, s *Service, feedID string) *triggerv1.Feed {
	t.Helper()
	res, err := s.GetFeed(context.Background(), &triggerv1.GetFeedRequest{TenantId: tenant, FeedId: feedID})
	if err != nil {
		t.Fatalf("GetFeed(%s): %v", feedID, err)
	}
	return res.GetFeed()
}

func feedReq(feedID, url string, backfill int32) *triggerv1.PutFeedRequest {
	return &triggerv1.PutFeedRequest{TenantId: tenant, FeedId: feedID, WorkspaceId: "ws_1", Url: url, Backfill: backfill}
}

func wantKeys(t *testing.T, got map[string]int, ns ...int) {
	t.Helper()
	if len(got) != len(ns) {
		t.Errorf("emitted %d distinct items %v, want %d", len(got), got, len(ns))
	}
	for _, n := range ns {
		k := "guid:" + item(n).guid
		if got[k] != 1 {
			t.Errorf("item %d emitted %d times, want once", n, got[k])
		}
	}
}

func TestFeedFirstPollEmitsBackfillThenEveryNewItem(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 5)))

	f := putFeed(t, s, feedReq("blog", srv.URL(), 2))
	if f.GetInterval().AsDuration() != 15*time.Minute || f.GetHealth() != triggerv1.FeedHealth_FEED_HEALTH_OK {
		t.Fatalf("new feed = %v, want the default interval and health OK", f)
	}
	r.pollNow(s)
	// The newest two (by date) become events; the other three are only seen.
	wantKeys(t, r.items.keys("blog"), 4, 5)
	f = getFeed(t, s, "blog")
	if f.GetItemsSeen() != 5 || f.GetItemsEmitted() != 2 {
		t.Errorf("seen %d, emitted %d, want 5 and 2", f.GetItemsSeen(), f.GetItemsEmitted())
	}
	if got, want := f.GetNextPollAt().AsTime(), f.GetLastPolledAt().AsTime().Add(15*time.Minute); !got.Equal(want) {
		t.Errorf("next poll at %v, want %v (the interval after the poll)", got, want)
	}

	// Not due yet: nothing is fetched.
	r.advance(14*time.Minute, s)
	if n, _ := srv.counts(); n != 1 {
		t.Fatalf("fetched %d times before the interval passed, want 1", n)
	}
	// Two new items, one old one gone: only the new ones become events.
	srv.set(rssDoc(items(2, 7)))
	r.advance(time.Minute, s)
	wantKeys(t, r.items.keys("blog"), 4, 5, 6, 7)
	if f := getFeed(t, s, "blog"); f.GetItemsSeen() != 7 || f.GetItemsEmitted() != 4 {
		t.Errorf("seen %d, emitted %d, want 7 and 4", f.GetItemsSeen(), f.GetItemsEmitted())
	}

	// The same document again (fetched in full: no validators this time)
	// emits nothing.
	srv.mu.Lock()
	srv.useETag, srv.useLastModified = false, false
	srv.mu.Unlock()
	r.advance(15*time.Minute, s)
	r.advance(15*time.Minute, s)
	wantKeys(t, r.items.keys("blog"), 4, 5, 6, 7)
}

func TestFeedBackfillZeroEmitsOnlyLaterItems(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 3)))
	putFeed(t, s, feedReq("blog", srv.URL(), 0))
	r.pollNow(s)
	if n := len(r.items.of("blog")); n != 0 {
		t.Fatalf("first poll with backfill 0 emitted %d items", n)
	}
	srv.set(rssDoc(items(1, 4)))
	r.advance(15*time.Minute, s)
	wantKeys(t, r.items.keys("blog"), 4)
}

func TestFeedAtomItemsCarryTheirFields(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	it := item(1)
	it.desc = `<p>Hello <b>world</b> &amp; friends</p><script>alert(1)</script><p>Second</p>`
	srv := newFeedServer(t, atomDoc([]testItem{it, item(2)}))
	srv.kind = "application/atom+xml"
	putFeed(t, s, feedReq("atom", srv.URL(), 20))
	r.pollNow(s)

	evs := r.items.of("atom")
	if len(evs) != 2 {
		t.Fatalf("emitted %d items, want 2", len(evs))
	}
	ev := evs[0]
	if ev.GetItemKey() != "guid:urn:item:1" {
		ev = evs[1]
	}
	want := &eventsv1.FeedItem{
		TenantId: tenant, WorkspaceId: "ws_1", FeedId: "atom", ItemKey: "guid:urn:item:1",
		Title: "Post 1", Link: "https://blog.example/posts/1", Summary: "Hello world & friends Second",
		Author: "Ada", ImageUrl: srv.Server.URL + "/img/cover.png", Categories: []string{"news", "go"},
	}
	if ev.GetPublishedAt() == nil || !ev.GetPublishedAt().AsTime().Equal(it.at) {
		t.Errorf("published_at = %v, want %v", ev.GetPublishedAt().AsTime(), it.at)
	}
	if !ev.GetFoundAt().AsTime().Equal(feedStart) {
		t.Errorf("found_at = %v, want the clock's %v", ev.GetFoundAt().AsTime(), feedStart)
	}
	ev.PublishedAt, ev.FoundAt = nil, nil
	if !proto.Equal(ev, want) {
		t.Errorf("event = %v\nwant    %v", ev, want)
	}
}

func TestFeedConditionalRequests(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		etag, lastMod    bool
		wantINM, wantIMS bool
	}{
		{"etag", true, false, true, false},
		{"last-modified", false, true, false, true},
		{"both", true, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := setupFeeds(t)
			s := r.service(true, nil)
			srv := newFeedServer(t, rssDoc(items(1, 2)))
			srv.useETag, srv.useLastModified = tc.etag, tc.lastMod
			putFeed(t, s, feedReq("blog", srv.URL(), 20))
			r.pollNow(s)
			for range 3 {
				r.advance(15*time.Minute, s)
			}
			requests, notMod := srv.counts()
			if requests != 4 || notMod != 3 {
				t.Fatalf("%d requests, %d answered 304; want 4 and 3", requests, notMod)
			}
			srv.mu.Lock()
			inm, ims := srv.gotINM, srv.gotIMS
			srv.mu.Unlock()
			if inm[0] != "" || ims[0] != "" {
				t.Errorf("the first request was conditional (%q, %q)", inm[0], ims[0])
			}
			if (inm[3] != "") != tc.wantINM || (ims[3] != "") != tc.wantIMS {
				t.Errorf("later request sent If-None-Match %q, If-Modified-Since %q", inm[3], ims[3])
			}
			f := getFeed(t, s, "blog")
			if !f.GetLastPolledAt().AsTime().Equal(feedStart.Add(45*time.Minute)) || f.GetItemsSeen() != 2 {
				t.Errorf("after 304s: last polled %v, seen %d; want the last poll's time and 2", f.GetLastPolledAt().AsTime(), f.GetItemsSeen())
			}
			// A change is fetched in full and its new item emitted.
			srv.set(rssDoc(items(1, 3)))
			r.advance(15*time.Minute, s)
			wantKeys(t, r.items.keys("blog"), 1, 2, 3)
			if st := s.Stats().Feeds; st.NotModified != 3 || st.Polls != 5 {
				t.Errorf("stats %+v, want 5 polls of which 3 not modified", st)
			}
		})
	}
}

func TestFeedBacksOffOnErrorsThenRecovers(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	srv.failures, srv.failStatus = 3, http.StatusInternalServerError
	putFeed(t, s, feedReq("blog", srv.URL(), 20))
	r.pollNow(s)

	interval := 15 * time.Minute
	for n := 1; n <= 3; n++ {
		f := getFeed(t, s, "blog")
		if f.GetHealth() != triggerv1.FeedHealth_FEED_HEALTH_FAILING || f.GetConsecutiveErrors() != int32(n) {
			t.Fatalf("after %d failures: health %v, errors %d", n, f.GetHealth(), f.GetConsecutiveErrors())
		}
		if f.GetLastError() != "the feed's server answered HTTP 500 Internal Server Error" {
			t.Errorf("last_error = %q", f.GetLastError())
		}
		wait := f.GetNextPollAt().AsTime().Sub(f.GetLastPolledAt().AsTime())
		base := interval << (n - 1)
		if wait < base || wait > base+base/4 {
			t.Fatalf("after %d failures the feed waits %v, want %v to %v", n, wait, base, base+base/4)
		}
		// Just before the backoff ends nothing is fetched; once it ends the
		// feed is fetched again.
		before, _ := srv.counts()
		r.advance(f.GetNextPollAt().AsTime().Sub(r.clock.Now())-time.Second, s)
		if got, _ := srv.counts(); got != before {
			t.Fatalf("fetched during the backoff after %d failures", n)
		}
		r.advance(time.Second, s)
		if got, _ := srv.counts(); got != before+1 {
			t.Fatalf("fetched %d times when the backoff ended, want once", got-before)
		}
	}
	f := getFeed(t, s, "blog")
	if f.GetHealth() != triggerv1.FeedHealth_FEED_HEALTH_OK || f.GetConsecutiveErrors() != 0 || f.GetLastError() != "" {
		t.Fatalf("after recovery: health %v, errors %d, last_error %q", f.GetHealth(), f.GetConsecutiveErrors(), f.GetLastError())
	}
	if wait := f.GetNextPollAt().AsTime().Sub(f.GetLastPolledAt().AsTime()); wait != interval {
		t.Errorf("after recovery the feed waits %v, want its interval", wait)
	}
	wantKeys(t, r.items.keys("blog"), 1, 2)
}

func TestFeedBackoffBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		interval time.Duration
		n        int
		after    time.Duration
		want     time.Duration // with no jitter; jitter adds up to a quarter
	}{
		{15 * time.Minute, 1, 0, 15 * time.Minute},
		{15 * time.Minute, 2, 0, 30 * time.Minute},
		{15 * time.Minute, 5, 0, 4 * time.Hour},
		{15 * time.Minute, 30, 0, 24 * time.Hour},
		{7 * 24 * time.Hour, 3, 0, 7 * 24 * time.Hour},
		{15 * time.Minute, 1, 2 * time.Hour, 2 * time.Hour},
		{15 * time.Minute, 1, 72 * time.Hour, 24 * time.Hour},
	} {
		if got := feedBackoff(tc.interval, tc.n, tc.after, 0); got != tc.want {
			t.Errorf("feedBackoff(%v, %d, %v, 0) = %v, want %v", tc.interval, tc.n, tc.after, got, tc.want)
		}
		if tc.after != 0 {
			continue
		}
		if got := feedBackoff(tc.interval, tc.n, 0, 0.999); got < tc.want || got > tc.want+tc.want/4 {
			t.Errorf("feedBackoff(%v, %d) with jitter = %v, want %v to %v", tc.interval, tc.n, got, tc.want, tc.want+tc.want/4)
		}
	}
}

func TestFeedItemsEmittedOnceAcrossARestart(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	first := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 3)))
	srv.useETag, srv.useLastModified = false, false // every poll reads the whole document
	putFeed(t, first, feedReq("blog", srv.URL(), 20))
	r.pollNow(first)
	wantKeys(t, r.items.keys("blog"), 1, 2, 3)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := r.service(true, nil)
	srv.set(rssDoc(items(1, 4)))
	r.advance(15*time.Minute, second)
	r.advance(15*time.Minute, second)
	wantKeys(t, r.items.keys("blog"), 1, 2, 3, 4)
	if n, _ := srv.counts(); n != 3 {
		t.Errorf("fetched %d times, want 3", n)
	}
}

func TestFeedTwoEnginesPollEachFeedOnce(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	tune := func(name string) func(*Config) { return func(c *Config) { c.NodeID = name } }
	one, two := r.service(true, tune("node-a")), r.service(true, tune("node-b"))
	// Balancing runs on the engines' clock.
	eventually(t, "shards shared", func() bool {
		r.clock.Advance(one.cfg.Poll)
		a, b := one.Stats().OwnedShards, two.Stats().OwnedShards
		return a > 0 && b > 0 && a+b == one.cfg.Shards
	})

	const feeds, rounds = 8, 3
	servers := make([]*feedServer, feeds)
	for i := range feeds {
		servers[i] = newFeedServer(t, rssDoc(items(1, 2)))
		servers[i].useETag, servers[i].useLastModified = false, false
		putFeed(t, []*Service{one, two}[i%2], feedReq(fmt.Sprintf("feed_%d", i), servers[i].URL(), 20))
	}
	r.pollNow(one, two)
	for round := 1; round <= rounds; round++ {
		for _, srv := range servers {
			srv.set(rssDoc(items(1, 2+round)))
		}
		r.advance(15*time.Minute, one, two)
	}
	// Each feed is fetched once per interval; a shard moving between the
	// engines mid-poll may cost an extra fetch, which its fence keeps from
	// committing (counted as dropped), never a second poll.
	dropped := one.Stats().Feeds.Dropped + two.Stats().Feeds.Dropped
	extra := int64(0)
	for i, srv := range servers {
		wantKeys(t, r.items.keys(fmt.Sprintf("feed_%d", i)), 1, 2, 3, 4, 5)
		n, _ := srv.counts()
		if n < rounds+1 {
			t.Errorf("feed %d fetched %d times, want %d: once per interval", i, n, rounds+1)
		}
		extra += int64(n - (rounds + 1))
	}
	if extra != dropped {
		t.Errorf("%d fetches beyond one per interval, but %d polls dropped by their fence: a second poll committed", extra, dropped)
	}
	if a, b := one.Stats().Feeds.Polls, two.Stats().Feeds.Polls; a+b != feeds*(rounds+1) || a == 0 || b == 0 {
		t.Errorf("engines committed %d and %d polls, want both to poll and %d in all", a, b, feeds*(rounds+1))
	}
}

func TestFeedPollOfAStaleOwnerIsFenced(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	srv.hold, srv.arrived = make(chan struct{}), make(chan struct{}, 4)
	putFeed(t, s, feedReq("blog", srv.URL(), 20))
	s.engine.feeds.dispatch(s.engine.ctx)
	<-srv.arrived

	// While the request is out, a newer holder claims the feed's shard.
	shard := shardOf(tenant, "blog", s.cfg.Shards)
	if _, err := r.db.Exec(context.Background(), `UPDATE trigger_shards SET owner = 'intruder', token = token + 100 WHERE shard = ?`, shard); err != nil {
		t.Fatal(err)
	}
	close(srv.hold)
	eventually(t, "the poll to end", func() bool { return s.Stats().Feeds.InFlight == 0 })
	r.drain(s)
	if n := len(r.items.of("blog")); n != 0 {
		t.Fatalf("a poll by a stale owner emitted %d items", n)
	}
	f := getFeed(t, s, "blog")
	if f.GetLastPolledAt() != nil || f.GetItemsSeen() != 0 {
		t.Errorf("a fenced poll changed the feed: %v", f)
	}
	eventually(t, "the fenced shard dropped", func() bool { _, ok := s.engine.ownedShards()[shard]; return !ok })
}

func TestFeedPauseAndDeleteTakeEffectAtOnce(t *testing.T) {
	t.Parallel()
	// A change made through the polling node cancels its poll in flight; a
	// change made through another node (an API instance that does not own
	// the shard) leaves it running, and the version guard throws its
	// result away.
	for _, tc := range []struct {
		action    string
		elsewhere bool
	}{{"pause", false}, {"pause", true}, {"delete", false}, {"delete", true}} {
		name := tc.action
		if tc.elsewhere {
			name += " through another node"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := setupFeeds(t)
			s := r.service(true, nil)
			api := s
			if tc.elsewhere {
				api = r.service(false, nil)
			}
			srv := newFeedServer(t, rssDoc(items(1, 2)))
			hold := make(chan struct{})
			srv.hold, srv.arrived = hold, make(chan struct{}, 4)
			putFeed(t, api, feedReq("blog", srv.URL(), 20))
			s.engine.feeds.dispatch(s.engine.ctx)
			<-srv.arrived // a poll is in flight

			if tc.action == "pause" {
				req := feedReq("blog", srv.URL(), 20)
				req.Paused = true
				if f := putFeed(t, api, req); !f.GetPaused() {
					t.Fatal("feed not paused")
				}
			} else {
				res, err := api.DeleteFeed(context.Background(), &triggerv1.DeleteFeedRequest{TenantId: tenant, FeedId: "blog"})
				if err != nil || !res.GetDeleted() {
					t.Fatalf("DeleteFeed = %v, %v", res, err)
				}
			}
			srv.mu.Lock()
			srv.hold = nil
			srv.mu.Unlock()
			close(hold)
			r.pollNow(s)
			r.advance(time.Hour, s)
			if n := len(r.items.of("blog")); n != 0 {
				t.Fatalf("emitted %d items after the %s", n, tc.action)
			}
			var rows int
			if err := r.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM trigger_feed_items WHERE tenant_id = ? AND feed_id = ?`,
				tenant, "blog").Scan(&rows); err != nil || rows != 0 {
				t.Fatalf("%d items recorded after the %s (%v)", rows, tc.action, err)
			}
			if n, _ := srv.counts(); n != 1 {
				t.Fatalf("fetched %d times, want only the request that was in flight", n)
			}
			if tc.action == "pause" {
				if f := getFeed(t, api, "blog"); f.GetLastPolledAt() != nil {
					t.Errorf("the poll in flight was recorded: %v", f)
				}
				// Resumed, it is polled at once, as a feed never polled.
				putFeed(t, api, feedReq("blog", srv.URL(), 20))
				r.pollNow(s)
				wantKeys(t, r.items.keys("blog"), 1, 2)
			}
		})
	}
}

func TestFeedOnAPrivateAddressIsRefused(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	r.outbound = nil // the default: public addresses only
	s := r.service(true, nil)
	var mu sync.Mutex
	reached := 0
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		reached++
		mu.Unlock()
		_, _ = w.Write([]byte(rssDoc(items(1, 2))))
	}))
	t.Cleanup(canary.Close)
	_, port, err := net.SplitHostPort(canary.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ id, url string }{
		{"by_ip", canary.URL + "/feed"},
		{"by_name", "http://localhost:" + port + "/feed"},
	} {
		putFeed(t, s, feedReq(tc.id, tc.url, 20))
		r.pollNow(s)
		f := getFeed(t, s, tc.id)
		if f.GetHealth() != triggerv1.FeedHealth_FEED_HEALTH_FAILING || !strings.Contains(f.GetLastError(), "loopback address, which is not allowed") {
			t.Errorf("%s: health %v, last_error %q; want failing with the refusal", tc.id, f.GetHealth(), f.GetLastError())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reached != 0 {
		t.Fatalf("the canary was reached %d times", reached)
	}
	if n := len(r.items.of("by_ip")) + len(r.items.of("by_name")); n != 0 {
		t.Fatalf("emitted %d items from a refused feed", n)
	}
}

func TestFeedDocumentProblemsAreReported(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, func(c *Config) { c.FeedMaxBytes = 2048 })
	big := newFeedServer(t, rssDoc(items(1, 40)))
	notFeed := newFeedServer(t, "<html><body>Not a feed</body></html>")
	notFeed.kind = "text/html"
	gone := newFeedServer(t, "")
	gone.failures, gone.failStatus = 100, http.StatusNotFound
	for _, tc := range []struct {
		id, url, want string
	}{
		{"big", big.URL(), "the feed is larger than 2 KiB"},
		{"html", notFeed.URL(), "the document is not an RSS, Atom or JSON feed"},
		{"gone", gone.URL(), "the feed's server answered HTTP 404 Not Found"},
	} {
		putFeed(t, s, feedReq(tc.id, tc.url, 20))
		r.pollNow(s)
		if f := getFeed(t, s, tc.id); f.GetLastError() != tc.want || f.GetHealth() != triggerv1.FeedHealth_FEED_HEALTH_FAILING {
			t.Errorf("%s: health %v, last_error %q, want %q", tc.id, f.GetHealth(), f.GetLastError(), tc.want)
		}
	}
}

func TestFeedSeenItemsStayBounded(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, func(c *Config) { c.FeedForgetAfter = time.Hour; c.FeedKeepAbsent = 3 })
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	srv.useETag, srv.useLastModified = false, false
	putFeed(t, s, feedReq("blog", srv.URL(), 20))
	r.pollNow(s)
	stored := func() int {
		var n int
		if err := r.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM trigger_feed_items WHERE tenant_id = ? AND feed_id = ?`,
			tenant, "blog").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Item 1 stays in the feed the whole time; items come and go after it.
	for n := 3; n <= 12; n++ {
		srv.set(rssDoc([]testItem{item(n), item(1)}))
		r.advance(15*time.Minute, s)
	}
	if got := stored(); got > 2+3 {
		t.Errorf("%d items stored, want at most the 2 present and 3 absent", got)
	}
	// Hours later, item 1 is still known: never emitted again.
	for range 8 {
		r.advance(15*time.Minute, s)
	}
	keys := r.items.keys("blog")
	if keys["guid:urn:item:1"] != 1 {
		t.Errorf("item 1, present throughout, emitted %d times", keys["guid:urn:item:1"])
	}
	if got := stored(); got != 2 {
		t.Errorf("%d items stored after absent ones expired, want the 2 present", got)
	}
}

func TestFeedBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(false, nil)
	ok := func() *triggerv1.PutFeedRequest {
		return &triggerv1.PutFeedRequest{TenantId: tenant, FeedId: "f1", WorkspaceId: "ws_1", Url: "https://blog.example/feed.xml"}
	}
	long := strings.Repeat("x", 201)
	for _, tc := range []struct {
		name  string
		edit  func(*triggerv1.PutFeedRequest)
		field string
	}{
		{"no tenant", func(r *triggerv1.PutFeedRequest) { r.TenantId = "" }, "tenant_id"},
		{"no feed id", func(r *triggerv1.PutFeedRequest) { r.FeedId = "" }, "feed_id"},
		{"long feed id", func(r *triggerv1.PutFeedRequest) { r.FeedId = long }, "feed_id"},
		{"no workspace", func(r *triggerv1.PutFeedRequest) { r.WorkspaceId = "" }, "workspace_id"},
		{"no url", func(r *triggerv1.PutFeedRequest) { r.Url = "" }, "url"},
		{"ftp url", func(r *triggerv1.PutFeedRequest) { r.Url = "ftp://blog.example/feed" }, "url"},
		{"file url", func(r *triggerv1.PutFeedRequest) { r.Url = "file:///etc/passwd" }, "url"},
		{"relative url", func(r *triggerv1.PutFeedRequest) { r.Url = "/feed.xml" }, "url"},
		{"no host", func(r *triggerv1.PutFeedRequest) { r.Url = "https:///feed.xml" }, "url"},
		{"malformed", func(r *triggerv1.PutFeedRequest) { r.Url = "https://blog.example/%zz" }, "url"},
		{"spaces", func(r *triggerv1.PutFeedRequest) { r.Url = "https://blog.example/a feed" }, "url"},
		{"credentials", func(r *triggerv1.PutFeedRequest) { r.Url = "https://user:pw@blog.example/feed" }, "url"},
		{"bad port", func(r *triggerv1.PutFeedRequest) { r.Url = "https://blog.example:99999/feed" }, "url"},
		{"long url", func(r *triggerv1.PutFeedRequest) { r.Url = "https://blog.example/" + strings.Repeat("a", 2048) }, "url"},
		{"interval too short", func(r *triggerv1.PutFeedRequest) { r.Interval = durationpb.New(4 * time.Minute) }, "interval"},
		{"interval too long", func(r *triggerv1.PutFeedRequest) { r.Interval = durationpb.New(8 * 24 * time.Hour) }, "interval"},
		{"negative backfill", func(r *triggerv1.PutFeedRequest) { r.Backfill = -1 }, "backfill"},
		{"backfill too large", func(r *triggerv1.PutFeedRequest) { r.Backfill = 21 }, "backfill"},
	} {
		req := ok()
		tc.edit(req)
		_, err := s.PutFeed(context.Background(), req)
		e, isErr := errs.As(err)
		if !isErr || e.Kind != errs.Invalid || e.Fields[tc.field] == "" {
			t.Errorf("%s: err = %v, want invalid with a message for %s", tc.name, err, tc.field)
		}
	}
	res, err := s.ListFeeds(context.Background(), &triggerv1.ListFeedsRequest{TenantId: tenant})
	if err != nil || len(res.GetFeeds()) != 0 {
		t.Fatalf("after bad input: %d feeds stored (%v)", len(res.GetFeeds()), err)
	}

	// The limits themselves are accepted; tenants do not see each other's feeds.
	req := ok()
	req.Interval, req.Backfill = durationpb.New(5*time.Minute), 20
	putFeed(t, s, req)
	other := ok()
	other.TenantId, other.Interval = "tnt_other", durationpb.New(7*24*time.Hour)
	if _, err := s.PutFeed(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFeed(context.Background(), &triggerv1.GetFeedRequest{TenantId: "tnt_nobody", FeedId: "f1"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetFeed of another tenant's feed: %v, want not found", err)
	}
	res, err = s.ListFeeds(context.Background(), &triggerv1.ListFeedsRequest{TenantId: tenant})
	if err != nil || len(res.GetFeeds()) != 1 || res.GetFeeds()[0].GetInterval().AsDuration() != 5*time.Minute {
		t.Fatalf("ListFeeds = %v, %v; want the tenant's one feed", res, err)
	}
	if res, _ := s.ListFeeds(context.Background(), &triggerv1.ListFeedsRequest{TenantId: tenant, WorkspaceId: "ws_other"}); len(res.GetFeeds()) != 0 {
		t.Errorf("ListFeeds of another workspace returned %d feeds", len(res.GetFeeds()))
	}
	if res, err := s.DeleteFeed(context.Background(), &triggerv1.DeleteFeedRequest{TenantId: "tnt_nobody", FeedId: "f1"}); err != nil || res.GetDeleted() {
		t.Errorf("DeleteFeed of another tenant's feed = %v, %v; want nothing deleted", res, err)
	}
	if f := getFeed(t, s, "f1"); f.GetTenantId() != tenant {
		t.Errorf("feed = %v", f)
	}
}

func TestFeedItemKeys(t *testing.T) {
	t.Parallel()
	long := "https://blog.example/" + strings.Repeat("p", 300)
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		it   testItem
		want string
	}{
		{"guid", testItem{guid: "urn:a", link: "https://x/1", title: "T"}, "guid:urn:a"},
		{"link without guid", testItem{link: "https://x/1", title: "T"}, "link:https://x/1"},
		{"long guid is hashed", testItem{guid: long}, "guid:sha256:"},
		{"title and date", testItem{title: "T", at: at}, "title-date:sha256:"},
	} {
		doc := rssDoc([]testItem{tc.it})
		parsed, err := gofeed.NewParser().ParseString(doc)
		if err != nil {
			t.Fatal(err)
		}
		got := itemKey(parsed.Items[0])
		if !strings.HasPrefix(got, tc.want) || (strings.HasSuffix(tc.want, ":") && len(got) != len(tc.want)+64) {
			t.Errorf("%s: key %q, want %q", tc.name, got, tc.want)
		}
		if len(got) > maxItemKeyLen {
			t.Errorf("%s: key of %d bytes", tc.name, len(got))
		}
	}
	// The same title at another date is another item.
	a := itemKeyOf(t, testItem{title: "T", at: at})
	b := itemKeyOf(t, testItem{title: "T", at: at.Add(time.Hour)})
	if a == b {
		t.Error("items with one title and different dates share a key")
	}
}

func itemKeyOf(t *testing.T, it testItem) string {
	t.Helper()
	parsed, err := gofeed.NewParser().ParseString(rssDoc([]testItem{it}))
	if err != nil {
		t.Fatal(err)
	}
	return itemKey(parsed.Items[0])
}

func TestPlainTextSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain words", "plain words"},
		{"<p>One</p><p>Two &amp; three</p>", "One Two & three"},
		{"a<br>b<style>p{}</style><script>x()</script> c", "a b c"},
		{"<img src=x onerror=alert(1)>caption", "caption"},
	} {
		if got := collapseSpace(plainText(tc.in)); got != tc.want {
			t.Errorf("plainText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := truncateUTF8(strings.Repeat("é", 1500), maxSummaryBytes); len(got) > maxSummaryBytes || !strings.HasPrefix(got, "é") || len(got)%2 != 0 {
		t.Errorf("truncated to %d bytes, splitting a character or over the limit", len(got))
	}
}

func TestFeedThatDoesNotAnswerTimesOut(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, func(c *Config) { c.FeedTimeout = 200 * time.Millisecond })
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	hold := make(chan struct{})
	srv.hold = hold
	t.Cleanup(func() { close(hold) }) // before the server closes: it waits for its handlers
	putFeed(t, s, feedReq("slow", srv.URL(), 20))
	// The engine's own loop may look for due feeds at the same moment as
	// the test, and one of the two looks may come before the feed was
	// stored: look until the poll is recorded.
	eventually(t, "the slow feed's poll to be recorded", func() bool {
		r.pollNow(s)
		return getFeed(t, s, "slow").GetLastPolledAt() != nil
	})
	f := getFeed(t, s, "slow")
	if f.GetLastError() != "the feed did not answer within 200ms" || f.GetConsecutiveErrors() != 1 {
		t.Errorf("last_error %q, errors %d; want the timeout, once", f.GetLastError(), f.GetConsecutiveErrors())
	}
	if n := len(r.items.of("slow")); n != 0 {
		t.Errorf("emitted %d items", n)
	}
}

func TestFeedHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	srv.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7200")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	putFeed(t, s, feedReq("busy", srv.URL(), 20))
	r.pollNow(s)
	f := getFeed(t, s, "busy")
	if wait := f.GetNextPollAt().AsTime().Sub(f.GetLastPolledAt().AsTime()); wait < 2*time.Hour {
		t.Errorf("after a 503 with Retry-After 7200 the feed waits %v, want at least 2h", wait)
	}
	if f.GetLastError() != "the feed's server answered HTTP 503 Service Unavailable" {
		t.Errorf("last_error = %q", f.GetLastError())
	}
}

func TestFeedSurgeOfNewItemsIsCapped(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, func(c *Config) { c.FeedMaxNewItems = 3 })
	srv := newFeedServer(t, rssDoc(items(1, 2)))
	putFeed(t, s, feedReq("blog", srv.URL(), 0))
	r.pollNow(s)
	// Eight new items at once: the newest three are acted on, the rest only
	// marked seen, and none of them comes back later.
	srv.set(rssDoc(items(1, 10)))
	r.advance(15*time.Minute, s)
	wantKeys(t, r.items.keys("blog"), 8, 9, 10)
	srv.set(rssDoc(items(1, 11)))
	r.advance(15*time.Minute, s)
	wantKeys(t, r.items.keys("blog"), 8, 9, 10, 11)
	if f := getFeed(t, s, "blog"); f.GetItemsSeen() != 11 || f.GetItemsEmitted() != 4 {
		t.Errorf("seen %d, emitted %d, want 11 and 4", f.GetItemsSeen(), f.GetItemsEmitted())
	}
}

func TestFeedNewURLIsPolledAsAFirstPoll(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, nil)
	old := newFeedServer(t, rssDoc(items(1, 3)))
	putFeed(t, s, feedReq("blog", old.URL(), 20))
	r.pollNow(s)
	wantKeys(t, r.items.keys("blog"), 1, 2, 3)

	// The blog moved: its new address serves the old items and a backlog.
	moved := newFeedServer(t, rssDoc(append(items(10, 15), items(1, 3)...)))
	f := putFeed(t, s, feedReq("blog", moved.URL(), 2))
	if f.GetUrl() != moved.URL() || !f.GetNextPollAt().AsTime().Equal(r.clock.Now()) {
		t.Fatalf("after a new URL: %v, want it polled now", f)
	}
	r.pollNow(s)
	// Items seen under the old address stay seen; of the rest, the backfill.
	wantKeys(t, r.items.keys("blog"), 1, 2, 3, 14, 15)
	moved.mu.Lock()
	asked := slices.Clone(moved.gotINM)
	moved.mu.Unlock()
	if len(asked) == 0 {
		t.Fatal("the new address was never asked")
	}
	first := asked[0]
	if first != "" {
		t.Errorf("the new address was sent If-None-Match %q, the old address's validator", first)
	}
}

func TestFeedMovedPermanentlyIsPolledAtItsNewAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		moves  bool
	}{{http.StatusMovedPermanently, true}, {http.StatusPermanentRedirect, true}, {http.StatusFound, false}, {http.StatusTemporaryRedirect, false}} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			r := setupFeeds(t)
			s := r.service(true, nil)
			srv := newFeedServer(t, rssDoc(items(1, 2)))
			var redirects atomic.Int32
			old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				redirects.Add(1)
				http.Redirect(w, req, srv.URL(), tc.status)
			}))
			t.Cleanup(old.Close)
			putFeed(t, s, feedReq("moved", old.URL+"/rss", 20))
			r.pollNow(s)
			f := getFeed(t, s, "moved")
			want := old.URL + "/rss"
			if tc.moves {
				want = srv.URL()
			}
			if f.GetUrl() != want || f.GetLastError() != "" {
				t.Fatalf("after a %d the feed's URL is %q (last error %q), want %q", tc.status, f.GetUrl(), f.GetLastError(), want)
			}
			wantKeys(t, r.items.keys("moved"), 1, 2)

			srv.set(rssDoc(items(1, 3)))
			r.advance(15*time.Minute, s)
			wantRedirects := int32(1)
			if !tc.moves {
				wantRedirects = 2
			}
			if n := redirects.Load(); n != wantRedirects {
				t.Errorf("the old address was asked %d times, want %d", n, wantRedirects)
			}
			// Moving is not a new feed: what was seen stays seen.
			wantKeys(t, r.items.keys("moved"), 1, 2, 3)
		})
	}
}

func TestFeedPollsPerHostAreCapped(t *testing.T) {
	t.Parallel()
	r := setupFeeds(t)
	s := r.service(true, func(c *Config) { c.FeedPollsPerHost = 1 })
	busy := newFeedServer(t, rssDoc(items(1, 1)))
	hold := make(chan struct{})
	busy.hold, busy.arrived = hold, make(chan struct{}, 8)
	release := sync.OnceFunc(func() {
		busy.mu.Lock()
		busy.hold = nil
		busy.mu.Unlock()
		close(hold)
	})
	t.Cleanup(release) // before the server closes: it waits for its handlers
	for _, id := range []string{"a", "b", "c"} {
		putFeed(t, s, feedReq(id, busy.URL()+"?feed="+id, 20))
	}
	// Another host (the same server under another name) is not held back.
	other := newFeedServer(t, rssDoc(items(1, 1)))
	otherURL := strings.Replace(other.URL(), "127.0.0.1", "localhost", 1)
	putFeed(t, s, feedReq("elsewhere", otherURL, 20))

	s.engine.feeds.dispatch(s.engine.ctx)
	<-busy.arrived
	eventually(t, "the other host's feed to be polled", func() bool { return getFeed(t, s, "elsewhere").GetLastPolledAt() != nil })
	// A poll that raced a feed's creation was abandoned by the creation
	// itself (its feed changed) and started again: count what is waited
	// for, not what arrived.
	eventually(t, "one poll waiting at the busy host", func() bool { return busy.waitingNow() == 1 })
	s.engine.feeds.dispatch(s.engine.ctx)
	if n := busy.waitingNow(); n != 1 {
		t.Fatalf("%d polls in flight against one host, want 1", n)
	}
	release()
	eventually(t, "every feed of the busy host to be polled, one at a time", func() bool {
		s.engine.feeds.dispatch(s.engine.ctx)
		for _, id := range []string{"a", "b", "c"} {
			if getFeed(t, s, id).GetLastPolledAt() == nil {
				return false
			}
		}
		return true
	})
	if n, _ := busy.counts(); n < 3 {
		t.Errorf("the busy host answered %d requests, want one a feed at least", n)
	}
}
