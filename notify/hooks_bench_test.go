package notify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// BenchmarkEventsToDeliveries measures post.published events, handed to
// the service 16 at a time, until every in-app notification is stored and
// every webhook delivery received: 3 recipients and 2 webhook endpoints
// per workspace (so 3 notifications and 2 signed POSTs per event), 10
// workspaces, receivers on loopback answering at once. Latency is from
// handing the event to the bus to the receiver getting the POST. For
// 5,000 events:
//
//	go test -run '^$' -bench EventsToDeliveries -benchtime 5000x ./notify/
//
// The /postgres variants use the PostgreSQL test server
// (HERALD_TEST_POSTGRES_URL); /nodes=2 runs two services on one database,
// each consuming half of the events, both delivery loops claiming from the
// same table.
func BenchmarkEventsToDeliveries(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, nodes := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/nodes=%d", d, nodes), func(b *testing.B) { benchmarkDeliveries(b, d, nodes, 0) })
		}
	}
}

// BenchmarkEventsToDeliveriesPaced offers 200 events a second (400
// webhook POSTs, 600 notifications) instead of all at once: the latency of
// the path below saturation rather than the queueing of a burst.
//
//	go test -run '^$' -bench EventsToDeliveriesPaced -benchtime 4000x ./notify/
func BenchmarkEventsToDeliveriesPaced(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) { benchmarkDeliveries(b, d, 1, 200) })
	}
}

// benchmarkDeliveries hands b.N events to nodes services, all at once or
// at rate events a second.
func benchmarkDeliveries(b *testing.B, dialect store.Dialect, nodes, rate int) {
	ctx := context.Background()
	// The test server's URL holds a pool of 4 connections, sized for
	// parallel tests; one service under load wants what a node has.
	u := strings.Replace(storetest.URLFor(b, dialect), "pool_max_conns=4", "pool_max_conns=16", 1)
	db, err := store.Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	portal := &fakePortal{recipients: map[string][]*portalv1.Recipient{}}
	const workspaces, endpointsPer = 10, 2
	for w := range workspaces {
		portal.set("ten_a", fmt.Sprintf("ws_%d", w), &portalv1.Recipient{UserId: "usr_1"}, &portalv1.Recipient{UserId: "usr_2"}, &portalv1.Recipient{UserId: "usr_3"})
	}

	var (
		mu       sync.Mutex
		sentAt   = make(map[string]time.Time, b.N)
		got      = make(map[string]int, b.N)
		latency  = make([]time.Duration, 0, b.N*endpointsPer)
		received int
		done     = make(chan struct{})
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		now := time.Now()
		key := r.Header.Get("webhook-id") + r.URL.Path
		mu.Lock()
		if got[key] == 0 {
			got[key]++
			latency = append(latency, now.Sub(sentAt[r.Header.Get("webhook-id")]))
			received++
			if received == b.N*endpointsPer {
				close(done)
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rc.Close)

	quiet := func(c *Config) {
		c.Webhooks = DefaultWebhookConfig()
		c.Webhooks.Timeout = 5 * time.Second
		c.Webhooks.Poll = 100 * time.Millisecond
	}
	var buses []*fakeBus
	var first *Service
	for range nodes {
		fb := newFakeBus()
		svc := startService(b, db, fb, portal, loopback, quiet)
		if first == nil {
			first = svc
		}
		buses = append(buses, fb)
	}
	for w := range workspaces {
		for e := range endpointsPer {
			createEndpoint(b, first, "ten_a", fmt.Sprintf("ws_%d", w), kindWebhook, fmt.Sprintf("%s/ws%d/e%d", rc.URL, w, e), bus.TopicPostPublished)
		}
	}
	msgs := make([]*bus.Message, b.N)
	for i := range msgs {
		payload, err := proto.Marshal(published("ten_a", fmt.Sprintf("ws_%d", i%workspaces)))
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = &bus.Message{ID: id.New("evt"), Topic: bus.TopicPostPublished, Payload: payload, Delivery: 1}
	}

	b.ResetTimer()
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				mu.Lock()
				sentAt[msgs[i].ID] = time.Now()
				mu.Unlock()
				if err := buses[i%nodes].Publish(ctx, msgs[i]); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range msgs {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
		work <- i
	}
	close(work)
	wg.Wait()
	inApp := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d deliveries received", received, b.N*endpointsPer)
	}
	b.StopTimer()
	total := time.Since(start)

	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM notify_notifications`).Scan(&n); err != nil || n != 3*b.N {
		b.Fatalf("%d notifications stored, want %d (%v)", n, 3*b.N, err)
	}
	slices.Sort(latency)
	pct := func(p float64) float64 {
		return float64(latency[int(p*float64(len(latency)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/total.Seconds(), "events/s")
	b.ReportMetric(float64(3*b.N)/inApp.Seconds(), "in-app/s")
	b.ReportMetric(float64(received)/total.Seconds(), "webhooks/s")
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}
