package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestQueueFlow: through the real binary, a queue with a slot in the next
// minutes; a post added to it shows its slot, follows the queue when it is
// paused and resumed, goes out at its slot once, and as an evergreen post
// is recycled to the queue's next slot.
func TestQueueFlow(t *testing.T) {
	t.Parallel()
	h := startHerald(t, config.TransportLocal)
	c, wsID, acctID := agencyWithAccount(t, h, "queued")

	// The slot: today (UTC), the whole minute at least 40 s from now.
	slot := time.Now().UTC().Add(40 * time.Second).Truncate(time.Minute).Add(time.Minute)
	weekday := (int(slot.Weekday())+6)%7 + 1
	bad := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/queues", obj{"name": "Empty", "account_ids": []string{acctID}, "slots": []obj{}}, http.StatusUnprocessableEntity)
	if str(bad, "error", "fields", "slots") == "" {
		t.Fatalf("a queue without slots: %v", bad)
	}
	q := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/queues", obj{"name": "Evergreen", "zone": "UTC", "account_ids": []string{acctID},
		"slots":     []obj{{"weekday": weekday, "time": slot.Format("15:04")}},
		"recycling": obj{"min_gap": "1h", "max_repeats": 1}}, http.StatusCreated)
	qid := str(q, "id")

	const text = "An evergreen tip"
	post := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{"text": text, "queue_id": qid, "evergreen": true}, http.StatusCreated)
	id := str(post, "id")
	if str(post, "kind") != "queue" || str(post, "scheduled_at_utc") != slot.Format(time.RFC3339) {
		t.Fatalf("queued post = %v, want slot %s", post, slot.Format(time.RFC3339))
	}
	detail := c.call(http.MethodGet, "/api/v1/queues/"+qid, nil, http.StatusOK)
	if ps := items(detail, "posts"); len(ps) != 1 || str(ps[0], "id") != id || len(items(detail, "next_slots")) == 0 {
		t.Fatalf("queue = %v", detail)
	}

	// Paused and resumed at once: schedule.moved reaches Portal each time.
	c.call(http.MethodPost, "/api/v1/queues/"+qid+"/pause", obj{"paused": true}, http.StatusOK)
	eventually(t, "the post to show as held", func() bool {
		return c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK)["held"] == true
	})
	c.call(http.MethodPost, "/api/v1/queues/"+qid+"/pause", obj{"paused": false}, http.StatusOK)
	eventually(t, "the post to be released", func() bool {
		return c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK)["held"] != true
	})

	// It goes out at its slot, once, and is recycled to next week's.
	var got obj
	eventuallyWithin(t, firingPatience, "the queued post to go out", func() bool {
		got = c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK)
		f := items(got, "firings")
		return len(f) == 1 && str(items(f[0], "targets")[0], "status") == "published"
	})
	next := slot.AddDate(0, 0, 7).Format(time.RFC3339)
	eventually(t, "the post to show its next slot", func() bool {
		got = c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK)
		return str(got, "scheduled_at_utc") == next
	})
	if str(got, "status") != "scheduled" || got["fired_count"] != float64(1) {
		t.Fatalf("recycled post = %v", got)
	}
	if n := h.statusesOf("queued", text); n != 1 {
		t.Fatalf("the network holds %d posts, want 1", n)
	}
}

// TestSchedulesOnDistributedStacks: the events Portal now follows
// (schedule.moved, feed.item) cross real brokers: a queue's pause and new
// slot table reach the post's shown time, and a feed's item becomes a draft.
func TestSchedulesOnDistributedStacks(t *testing.T) {
	t.Parallel()
	stacks := map[string]func(t *testing.T, unique string) []string{
		"postgres+nats+etcd": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=nats://" + addr(t, "HERALD_TEST_NATS_ADDR", "127.0.0.1:4222") + "?stream=" + strings.ToUpper(unique) + "&prefix=" + unique,
				"HERALD_COORD__URL=etcd://" + addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379") + "/" + unique,
			}
		},
		"postgres+rabbitmq+etcd": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=" + rabbitURL(t, unique),
				"HERALD_COORD__URL=etcd://" + addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379") + "/" + unique,
			}
		},
		"postgres+activemq+zookeeper": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=stomp://" + addr(t, "HERALD_TEST_STOMP_ADDR", "127.0.0.1:61613") + "?prefix=" + unique + ".",
				"HERALD_COORD__URL=zk://" + addr(t, "HERALD_TEST_ZOOKEEPER_ADDR", "127.0.0.1:2181") + "/" + unique,
			}
		},
	}
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>
<item><guid>n1</guid><title>News</title><link>https://b.example/n1</link></item></channel></rss>`)
	}))
	t.Cleanup(feed.Close)
	for name, settings := range stacks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			unique := strings.ReplaceAll(id.New("hq"), "_", "")
			h := startHerald(t, config.TransportLocal, settings(t, unique)...)
			c, wsID, acctID := agencyWithAccount(t, h, "stack"+unique[len(unique)-6:])
			q := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/queues", obj{"name": "Q", "zone": "UTC", "account_ids": []string{acctID},
				"slots": []obj{{"weekday": 1, "time": "09:00"}}}, http.StatusCreated)
			qid := str(q, "id")
			post := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{"text": "queued", "queue_id": qid}, http.StatusCreated)
			pid := str(post, "id")
			c.call(http.MethodPost, "/api/v1/queues/"+qid+"/pause", obj{"paused": true}, http.StatusOK)
			eventually(t, "the post to show as held", func() bool {
				return c.call(http.MethodGet, "/api/v1/posts/"+pid, nil, http.StatusOK)["held"] == true
			})
			c.call(http.MethodPut, "/api/v1/queues/"+qid, obj{"name": "Q", "zone": "UTC", "account_ids": []string{acctID},
				"slots": []obj{{"weekday": 5, "time": "17:45"}}}, http.StatusOK)
			eventually(t, "the post's time to follow the new slot", func() bool {
				at := str(c.call(http.MethodGet, "/api/v1/posts/"+pid, nil, http.StatusOK), "scheduled_at_utc")
				ts, err := time.Parse(time.RFC3339, at)
				return err == nil && ts.Weekday() == time.Friday && ts.Format("15:04") == "17:45"
			})

			c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/automations", obj{"name": "B", "feed_url": feed.URL + "/rss",
				"backfill": 1, "template": "{{.title}} {{.link}}", "account_ids": []string{acctID}, "action": "draft"}, http.StatusCreated)
			eventually(t, "the feed's item to become a draft", func() bool {
				d := items(c.call(http.MethodGet, "/api/v1/workspaces/"+wsID+"/posts?status=draft", nil, http.StatusOK), "posts")
				return len(d) == 1 && str(d[0], "text") == "News https://b.example/n1"
			})
		})
	}
}
