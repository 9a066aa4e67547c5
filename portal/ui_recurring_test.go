package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

func TestUIRecurringComposer(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	path := "/workspaces/" + a.workspace
	start := tomorrowAt("09:30")
	base := func(extra url.Values) url.Values {
		f := url.Values{"csrf_token": {token}, "text": {"Specials"}, "account_ids": {a.account}, "when": {"repeat"}, "scheduled_at": {start}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	res := c.must(http.StatusOK, c.get(path))
	for _, want := range []string{`name="repeat_freq"`, `name="repeat_days" value="MO"`, `name="repeat_rrule"`, `value="draft"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("composer lacks %s", want)
		}
	}

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"weekly without days", base(url.Values{"repeat_freq": {"weekly"}}), "compose-days", "Choose at least one day"},
		{"bad count", base(url.Values{"repeat_freq": {"daily"}, "repeat_end": {"count"}, "repeat_count": {"zero"}}), "compose-count-n", "from 1 to 1000"},
		{"rule Trigger refuses", base(url.Values{"repeat_freq": {"custom"}, "repeat_rrule": {"FREQ=SECONDLY"}}), "compose-rrule", "more than once a minute"},
		{"bad skipped date", base(url.Values{"repeat_freq": {"daily"}, "repeat_skip_dates": {"christmas"}}), "compose-skip", "One of the skipped dates"},
	} {
		res := c.must(http.StatusUnprocessableEntity, c.post(path+"/posts", tc.form))
		m := regexp.MustCompile(`id="` + tc.field + `-error">([^<]*)<`).FindStringSubmatch(res.Body)
		if m == nil || !strings.Contains(html.UnescapeString(m[1]), tc.want) {
			t.Errorf("%s: the error beside %s is %v, want %q", tc.name, tc.field, m, tc.want)
		}
	}
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("refused posts left %d rows", n)
	}

	// Weekly on Monday and Thursday, four times, skipping a date.
	skip := tomorrowAt("00:00")[:10]
	res = c.must(http.StatusSeeOther, c.post(path+"/posts", base(url.Values{"repeat_freq": {"weekly"}, "repeat_days": {"TH", "MO"},
		"repeat_end": {"count"}, "repeat_count": {"4"}, "repeat_skip_dates": {skip}})))
	id := strings.TrimPrefix(res.location(), path+"#post-")
	sch, err := ts.GetSchedule(context.Background(), &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id})
	if err != nil {
		t.Fatal(err)
	}
	if s := sch.GetSchedule(); s.GetRrule() != "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4" || len(s.GetExdatesLocal()) != 1 ||
		s.GetExdatesLocal()[0] != skip+"T09:30:00" || s.GetZone() != "Europe/Paris" {
		t.Fatalf("trigger holds %v", s)
	}
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Every week on MO, TH, 4 times, first on")

	// Until a date: the whole last day counts, in the workspace's zone.
	until := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	res = c.must(http.StatusSeeOther, c.post(path+"/posts", base(url.Values{"repeat_freq": {"daily"}, "repeat_end": {"until"}, "repeat_until": {until}})))
	id2 := strings.TrimPrefix(res.location(), path+"#post-")
	sch, _ = ts.GetSchedule(context.Background(), &triggerv1.GetScheduleRequest{TenantId: a.id, ScheduleId: id2})
	loc, _ := time.LoadLocation("Europe/Paris")
	d, _ := time.ParseInLocation("2006-01-02", until, loc)
	if want := "FREQ=DAILY;UNTIL=" + d.AddDate(0, 0, 1).Add(-time.Second).UTC().Format("20060102T150405Z"); sch.GetSchedule().GetRrule() != want {
		t.Fatalf("rule %q, want %q", sch.GetSchedule().GetRrule(), want)
	}

	// A firing's outcome shows on the post.
	first := sch.GetSchedule().GetDueAt().AsTime()
	next := first.Add(24 * time.Hour)
	b.publish(t, "due-ui", bus.TopicPostDue, mustMarshal(t, &eventsv1.PostDue{TenantId: a.id, PostId: id2, Revision: 1, ScheduleId: id2,
		DueAt: timestamppb.New(first), NextDueAt: timestamppb.New(next)}))
	b.publish(t, "pub-ui", bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: a.id, WorkspaceId: a.workspace, PostId: id2,
		Revision: 1, AccountId: a.account, Network: "mastodon", RemoteUrl: "https://social.example/@ada/77", DueAt: timestamppb.New(first)}))
	res = c.must(http.StatusOK, c.get(path+"/posts"))
	wantText(t, res.Body, "Went out 1 time", "Next:")
	if !strings.Contains(res.Body, `href="https://social.example/@ada/77"`) {
		t.Errorf("the firing's link is not shown:\n%s", excerpt(res.Body))
	}
}
