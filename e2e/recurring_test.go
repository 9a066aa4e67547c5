package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
)

// firingPatience is how long a test waits for a schedule to fire: slots
// and rules are whole minutes, so a firing may be up to two minutes away.
const firingPatience = 4 * time.Minute

// eventuallyWithin is eventually with its own patience.
func eventuallyWithin(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// agencyWithAccount sets a fresh node up: an agency, a workspace in UTC and
// a Mastodon account on the simulated network (username who).
func agencyWithAccount(t *testing.T, h *herald, who string) (c *client, wsID, acctID string) {
	t.Helper()
	c = h.newClient()
	email := uniqueEmail(who)
	const password = "correct horse battery"
	c.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Agency " + who, "name": "Owner", "email": email, "password": password}, http.StatusCreated)
	c.login(email, password)
	wsID = str(c.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Client", "timezone": "UTC"}, http.StatusCreated), "id")
	tok := h.Sim.CreateAccount(who)
	acctID = str(c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": tok}, http.StatusCreated), "id")
	return c, wsID, acctID
}

// statusesOf counts what the simulated network holds for a user, by text.
func (h *herald) statusesOf(who, text string) int {
	n := 0
	for _, st := range h.Sim.Statuses() {
		if strings.EqualFold(st.Username, who) && st.Text == text {
			n++
		}
	}
	return n
}

// TestRecurringPostFiresEachOccurrence: a rule firing every minute, twice,
// through the real binary: each occurrence is published once, each
// firing's outcome is on the post, and the post ends published.
func TestRecurringPostFiresEachOccurrence(t *testing.T) {
	t.Parallel()
	h := startHerald(t, config.TransportLocal)
	c, wsID, acctID := agencyWithAccount(t, h, "recurring")
	posts := "/api/v1/workspaces/" + wsID + "/posts"

	// Refused by Trigger, field by field; nothing kept.
	for _, tc := range []struct{ rule, field string }{
		{"FREQ=SECONDLY", "repeat.rrule"},
		{"FREQ=DAILY;COUNT=0", "repeat.rrule"},
	} {
		res := c.call(http.MethodPost, posts, obj{"text": "x", "account_ids": []string{acctID},
			"repeat": obj{"rrule": tc.rule, "start_local": time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")}}, http.StatusUnprocessableEntity)
		if str(res, "error", "fields", tc.field) == "" {
			t.Errorf("%s: %v", tc.rule, res)
		}
	}
	res := c.call(http.MethodPost, posts, obj{"text": "x", "account_ids": []string{acctID},
		"repeat": obj{"rrule": "FREQ=DAILY", "start_local": "2030-01-01T09:00", "zone": "Mars/Olympus"}}, http.StatusUnprocessableEntity)
	if str(res, "error", "fields", "repeat.zone") == "" {
		t.Errorf("bad zone: %v", res)
	}
	if n := len(items(c.call(http.MethodGet, posts, nil, http.StatusOK), "posts")); n != 0 {
		t.Fatalf("%d posts kept after refusals", n)
	}

	// Starts at the next whole minute (at least 20 s away), every minute, twice.
	start := time.Now().UTC().Add(20 * time.Second).Truncate(time.Minute).Add(time.Minute)
	const text = "Every minute, twice"
	post := c.call(http.MethodPost, posts, obj{"text": text, "account_ids": []string{acctID},
		"repeat": obj{"rrule": "FREQ=MINUTELY;COUNT=2", "start_local": start.Format("2006-01-02T15:04")}}, http.StatusCreated)
	id := str(post, "id")
	if str(post, "kind") != "recurring" || str(post, "scheduled_at_utc") != start.Format(time.RFC3339) {
		t.Fatalf("created = %v", post)
	}

	var got obj
	eventuallyWithin(t, firingPatience, "both occurrences to be published", func() bool {
		got = c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK)
		return str(got, "status") == "published"
	})
	if got["fired_count"] != float64(2) || got["finished"] != true {
		t.Fatalf("finished post = %v", got)
	}
	firings := items(got, "firings")
	if len(firings) != 2 || str(firings[0], "due_at") != start.Add(time.Minute).Format(time.RFC3339) || str(firings[1], "due_at") != start.Format(time.RFC3339) {
		t.Fatalf("firings = %v", firings)
	}
	for _, f := range firings {
		tg := items(f, "targets")
		if len(tg) != 1 || str(tg[0], "status") != "published" || str(tg[0], "remote_url") == "" {
			t.Fatalf("firing = %v", f)
		}
	}
	if str(items(firings[0], "targets")[0], "remote_url") == str(items(firings[1], "targets")[0], "remote_url") {
		t.Fatal("two firings name one remote post")
	}
	if n := h.statusesOf("recurring", text); n != 2 {
		t.Fatalf("the network holds %d posts, want one per occurrence", n)
	}
}

// TestScheduleRefusalsOverTheWire: Trigger's refusals keep their fields
// when Portal reaches it over gRPC or Connect, so the user still learns
// which input is wrong; a queue's are the same.
func TestScheduleRefusalsOverTheWire(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportGRPC, config.TransportConnect} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			h := startHerald(t, transport)
			c, wsID, acctID := agencyWithAccount(t, h, "wire"+transport)
			res := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{"text": "x", "account_ids": []string{acctID},
				"repeat": obj{"rrule": "FREQ=MINUTELY;BYSECOND=0,30", "start_local": "2030-01-01T09:00"}}, http.StatusUnprocessableEntity)
			if !strings.Contains(str(res, "error", "fields", "repeat.rrule"), "once a minute") {
				t.Errorf("refused rule: %v", res)
			}
			q := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/queues", obj{"name": "Q", "account_ids": []string{acctID},
				"slots": []obj{{"weekday": 1, "time": "09:00"}}}, http.StatusCreated)
			res = c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{"text": "x", "queue_id": str(q, "id"), "evergreen": true}, http.StatusUnprocessableEntity)
			if str(res, "error", "fields", "evergreen") == "" {
				t.Errorf("evergreen in a queue that does not recycle: %v", res)
			}
			ok := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{"text": "weekly", "account_ids": []string{acctID},
				"repeat": obj{"rrule": "FREQ=WEEKLY;BYDAY=MO", "start_local": "2030-01-07T09:00"}}, http.StatusCreated)
			if str(ok, "scheduled_at_utc") != "2030-01-07T09:00:00Z" {
				t.Errorf("recurring post over %s = %v", transport, ok)
			}
		})
	}
}
