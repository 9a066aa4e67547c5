package portal

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

// calendarListed is a calendar range as the API shows it,
// "id=status@scheduled_at:text" per post; workspace "" is the agency-wide
// calendar.
func calendarListed(c *client, workspace string) string {
	c.t.Helper()
	path := "/api/v1/calendar"
	if workspace != "" {
		path = "/api/v1/workspaces/" + workspace + "/calendar"
	}
	from := time.Now().UTC().Format(time.DateOnly)
	to := time.Now().UTC().AddDate(0, 0, 40).Format(time.DateOnly)
	posts := c.must(http.StatusOK, c.do("GET", path+"?zone=UTC&from="+from+"&to="+to, nil)).json(c.t)["posts"].([]any)
	var out []string
	for _, p := range posts {
		m := p.(map[string]any)
		out = append(out, fmt.Sprintf("%s=%s@%s:%s", m["id"], m["status"], m["scheduled_at"], m["text"]))
	}
	return strings.Join(out, ",")
}

// The calendar reads through the cache, one entry per range and filter,
// all of a workspace's going stale with any write to its posts: each write
// shows in the next read, of the workspace and of the agency-wide view.
func TestCachedCalendarSeesEveryWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.owner
	if got := calendarListed(c, a.workspace); got != "" {
		t.Fatalf("new workspace's calendar: %q", got)
	}
	hits := kindStat(t, b.svc, "portal.calendar").Hits
	calendarListed(c, a.workspace)
	if got := kindStat(t, b.svc, "portal.calendar").Hits; got != hits+1 {
		t.Errorf("a second read with no write between: hits %d, want %d", got, hits+1)
	}
	both := func(what, want string) {
		t.Helper()
		if got := calendarListed(c, a.workspace); got != want {
			t.Fatalf("%s, workspace calendar: %q, want %q", what, got, want)
		}
		if got := calendarListed(c, ""); got != want {
			t.Fatalf("%s, agency calendar: %q, want %q", what, got, want)
		}
	}
	calendarListed(c, "") // cached before the writes too

	at := future()
	post := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "first", "account_ids": []string{a.account}, "scheduled_at": at})).json(t)["id"].(string)
	both("after create", post+"=scheduled@"+at+":first")

	c.must(http.StatusOK, c.do("PATCH", "/api/v1/posts/"+post, map[string]any{"text": "edited"}))
	both("after an edit", post+"=scheduled@"+at+":edited")

	later := time.Now().In(mustZone(t, "Europe/Paris")).Add(72 * time.Hour).Format("2006-01-02T15:04")
	c.must(http.StatusOK, c.do("PATCH", "/api/v1/posts/"+post, map[string]any{"scheduled_at": later}))
	both("after a reschedule", post+"=scheduled@"+later+":edited")

	b.publish(t, "evt_calcache", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{
		TenantId: a.id, WorkspaceId: a.workspace, PostId: post, Revision: 3, AccountId: a.account, RemoteId: "1"}))
	both("after post.published", post+"=published@"+later+":edited")

	c.must(http.StatusNoContent, c.do("DELETE", "/api/v1/posts/"+post, nil))
	both("after delete", "")
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
