package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
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
