package portal

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// calendarWeekday checks the grid's shape: whole weeks, Monday first,
// each day beginning at its local midnight where the last one ended.
func checkGrid(t *testing.T, days []calDay, loc *time.Location) {
	t.Helper()
	if len(days)%7 != 0 && len(days) < 28 {
		t.Fatalf("%d days", len(days))
	}
	for i, d := range days {
		start := d.Start.In(loc)
		if start.Format(time.DateOnly) != d.Date {
			t.Errorf("%s begins at %s, another day", d.Date, start)
		}
		if !d.End.After(d.Start) {
			t.Errorf("%s ends before it begins", d.Date)
		}
		if i > 0 && !days[i-1].End.Equal(d.Start) {
			t.Errorf("%s begins at %s, not where %s ended (%s)", d.Date, d.Start, days[i-1].Date, days[i-1].End)
		}
	}
}

func TestCalendarGridAcrossDST(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	santiago, _ := time.LoadLocation("America/Santiago")
	now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		view      string
		day       time.Time
		loc       *time.Location
		days      int
		first     string
		last      string
		short     string // a day the clocks make 23 hours long
		long      string // ... or 25
		dayStarts map[string]string
	}{
		{name: "month with spring forward", view: "month", day: time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC), loc: paris,
			days: 35, first: "2027-03-01", last: "2027-04-04", short: "2027-03-28"},
		{name: "month with fall back", view: "month", day: time.Date(2027, 10, 2, 0, 0, 0, 0, time.UTC), loc: paris,
			days: 35, first: "2027-09-27", last: "2027-10-31", long: "2027-10-31"},
		{name: "week with spring forward", view: "week", day: time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC), loc: paris,
			days: 7, first: "2027-03-29", last: "2027-04-04"},
		{name: "week ending on the change", view: "week", day: time.Date(2027, 3, 24, 0, 0, 0, 0, time.UTC), loc: paris,
			days: 7, first: "2027-03-22", last: "2027-03-28", short: "2027-03-28"},
		{name: "list is the month", view: "list", day: time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC), loc: paris,
			days: 28, first: "2027-02-01", last: "2027-02-28"},
		// Chile moves its clocks at midnight: 6 September 2026 begins at 01:00.
		{name: "midnight skipped", view: "week", day: time.Date(2026, 9, 6, 0, 0, 0, 0, time.UTC), loc: santiago,
			days: 7, first: "2026-08-31", last: "2026-09-06", short: "2026-09-06",
			dayStarts: map[string]string{"2026-09-06": "01:00", "2026-09-05": "00:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			days := calendarGrid(tc.view, tc.day, tc.loc, now)
			checkGrid(t, days, tc.loc)
			if len(days) != tc.days || days[0].Date != tc.first || days[len(days)-1].Date != tc.last {
				t.Fatalf("%d days from %s to %s, want %d from %s to %s", len(days), days[0].Date, days[len(days)-1].Date, tc.days, tc.first, tc.last)
			}
			if tc.view != "list" && days[0].Start.In(tc.loc).Weekday() != time.Monday {
				t.Errorf("the grid begins on a %s", days[0].Start.In(tc.loc).Weekday())
			}
			for _, d := range days {
				want := 24 * time.Hour
				switch d.Date {
				case tc.short:
					want = 23 * time.Hour
				case tc.long:
					want = 25 * time.Hour
				}
				if got := d.End.Sub(d.Start); got != want {
					t.Errorf("%s lasts %s, want %s", d.Date, got, want)
				}
				if at, ok := tc.dayStarts[d.Date]; ok && d.Start.In(tc.loc).Format("15:04") != at {
					t.Errorf("%s begins at %s, want %s", d.Date, d.Start.In(tc.loc).Format("15:04"), at)
				}
				if tc.view == "month" && d.InRange != (d.Start.In(tc.loc).Month() == tc.day.Month()) {
					t.Errorf("%s: in range %v", d.Date, d.InRange)
				}
			}
		})
	}
}

func TestMoveToDayKeepsTheWallTime(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2027, 3, 26, 9, 30, 0, 0, paris) // UTC+1
	got, err := moveToDay(at, "2027-03-29", paris)   // UTC+2
	if err != nil || got.In(paris).Format("2006-01-02 15:04") != "2027-03-29 09:30" || got.UTC().Hour() != 7 {
		t.Fatalf("moved to %s (%v), want 09:30 Paris on the 29th", got.In(paris), err)
	}
	// 02:30 does not exist on the day the clocks go forward.
	if _, err := moveToDay(time.Date(2027, 3, 26, 2, 30, 0, 0, paris), "2027-03-28", paris); fieldsOf(err)["day"] == "" {
		t.Errorf("a skipped time was accepted: %v", err)
	}
	if _, err := moveToDay(at, "28/03/2027", paris); fieldsOf(err)["day"] == "" {
		t.Errorf("a bad date was accepted: %v", err)
	}
}

// calendarDayOf is the data-date of the grid cell holding a post's chip.
func calendarDayOf(page, postID string) string {
	for _, cell := range regexp.MustCompile(`(?s)<td class="cal-day[^"]*" data-date="([0-9-]+)">(.*?)</td>`).FindAllStringSubmatch(page, -1) {
		if strings.Contains(cell[2], `data-post-id="`+postID+`"`) {
			return cell[1]
		}
	}
	return ""
}

func (a *agency) postAt(t *testing.T, wall string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"text": "post at " + wall, "account_ids": []string{a.account}, "scheduled_at": wall}
	for k, v := range extra {
		body[k] = v
	}
	res := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", body)).json(t)
	return res["id"].(string)
}

func TestCalendarPagesInTheViewersZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	// Either side of midnight on the day Paris moves its clocks forward.
	late := a.postAt(t, "2027-03-28T23:30", nil)
	early := a.postAt(t, "2027-03-28T00:30", nil)
	path := "/workspaces/" + a.workspace + "/calendar"

	page := c.must(http.StatusOK, c.get(path+"?date=2027-03-15")).Body
	wantText(t, page, "March 2027", "Times in Europe/Paris")
	for _, id := range []string{late, early} {
		if got := calendarDayOf(page, id); got != "2027-03-28" {
			t.Errorf("post %s is on %q, want 2027-03-28", id, got)
		}
	}
	if !strings.Contains(page, `href="/workspaces/`+a.workspace+`/posts/`+late+`/edit"`) ||
		!strings.Contains(page, `data-move-url="/workspaces/`+a.workspace+`/calendar/posts/`+late+`/move"`) {
		t.Error("a chip does not link to its edit page or carry its move URL")
	}
	wantText(t, page, "23:30", "00:30", "@ada@social.example")
	for _, link := range []string{"date=2027-02-01", "date=2027-04-01"} {
		if !strings.Contains(page, html.EscapeString(link)) {
			t.Errorf("no navigation link with %s", link)
		}
	}

	// In UTC, 00:30 Paris (UTC+1) is still the 27th.
	page = c.must(http.StatusOK, c.get(path+"?date=2027-03-15&zone=UTC")).Body
	if got := calendarDayOf(page, early); got != "2027-03-27" {
		t.Errorf("in UTC the early post is on %q, want 2027-03-27", got)
	}
	// The week and the list.
	page = c.must(http.StatusOK, c.get(path+"?view=week&date=2027-03-25")).Body
	if calendarDayOf(page, late) != "2027-03-28" || strings.Count(page, `<td class="cal-day`) != 7 {
		t.Errorf("the week does not hold the post on Sunday 28 March:\n%s", excerpt(page))
	}
	page = c.must(http.StatusOK, c.get(path+"?view=list&date=2027-03-01")).Body
	wantText(t, page, "Sun 28 Mar")

	// Across workspaces: the same post, with its workspace named.
	page = c.must(http.StatusOK, c.get("/calendar?date=2027-03-15")).Body
	if calendarDayOf(page, late) != "2027-03-28" {
		t.Error("the agency calendar does not show the post")
	}
	wantText(t, page, "All workspaces", "ada brand")

	// The workspace page and the nav link to it.
	ws := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace)).Body
	if !strings.Contains(ws, `id="calendar-link"`) || !strings.Contains(ws, `href="/calendar"`) {
		t.Error("no link to the calendar from the workspace page")
	}

	for _, bad := range []string{"?view=year", "?date=2027-13-01", "?zone=Mars/Olympus", "?status=lost"} {
		res := c.get(path + bad)
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", bad, res.Status)
		}
		field, _, _ := strings.Cut(strings.TrimPrefix(bad, "?"), "=")
		wantText(t, res.Body, "The calendar could not be shown: "+field+" ")
	}
}

func TestCalendarFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	b.prov.addToken("token-two", "remote-two", "two")
	second := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-two"})).json(t)["id"].(string)
	launch := a.postAt(t, "2027-03-10T10:00", map[string]any{"labels": []string{" Launch", "promo", "launch"}})
	other := a.postAt(t, "2027-03-11T10:00", map[string]any{"account_ids": []string{second}})
	published := a.postAt(t, "2027-03-12T10:00", nil)
	if _, err := b.db.Exec(context.Background(), `UPDATE portal_posts SET status = ? WHERE id = ?`, PostPublished, published); err != nil {
		t.Fatal(err)
	}

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+launch, nil)).json(t)
	if labels, _ := got["labels"].([]any); len(labels) != 2 || labels[0] != "launch" || labels[1] != "promo" {
		t.Errorf("labels %v, want [launch promo]", got["labels"])
	}
	ids := func(query string) []string {
		t.Helper()
		res := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/calendar?from=2027-03-01&to=2027-04-01"+query, nil)).json(t)
		var out []string
		for _, p := range res["posts"].([]any) {
			out = append(out, p.(map[string]any)["id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{launch, other, published}},
		{"&label=LAUNCH", []string{launch}},
		{"&label=none", nil},
		{"&account=" + second, []string{other}},
		{"&status=published", []string{published}},
		{"&status=scheduled&account=" + a.account, []string{launch}},
	} {
		if got := ids(tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q: %v, want %v", tc.query, got, tc.want)
		}
	}

	// The page's filters are the same query.
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/calendar?date=2027-03-01&label=launch")).Body
	if calendarDayOf(page, launch) == "" || calendarDayOf(page, other) != "" {
		t.Error("the label filter does not narrow the page")
	}
	if !strings.Contains(page, `<option value="launch" selected>`) || !strings.Contains(page, `<option value="`+second+`">`) {
		t.Error("the filters do not offer the labels and accounts")
	}
	// A published post is shown but cannot be dragged.
	page = c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/calendar?date=2027-03-01")).Body
	if !regexp.MustCompile(`data-post-id="` + published + `" data-status="published" draggable="false"`).MatchString(page) {
		t.Error("the published post's chip is draggable")
	}

	// Labels through the composer and the edit form.
	token := c.csrf()
	res := c.must(http.StatusSeeOther, c.post("/workspaces/"+a.workspace+"/posts", url.Values{"text": {"from the form"},
		"account_ids": {a.account}, "scheduled_at": {"2027-03-20T08:00"}, "when": {"schedule"}, "labels": {"Easter, menu"}, "csrf_token": {token}}))
	formPost := strings.TrimPrefix(res.location(), "/workspaces/"+a.workspace+"#post-")
	if got := ids("&label=menu"); len(got) != 1 || got[0] != formPost {
		t.Errorf("the composer's labels: %v", got)
	}
	edit := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/posts/"+formPost+"/edit")).Body
	if !strings.Contains(edit, `value="easter, menu"`) {
		t.Error("the edit form does not show the labels")
	}
	c.must(http.StatusSeeOther, c.post("/workspaces/"+a.workspace+"/posts/"+formPost, url.Values{"text": {"from the form"},
		"when": {"schedule"}, "scheduled_at": {"2027-03-20T08:00"}, "labels": {"menu"}, "csrf_token": {token}}))
	if got := ids("&label=easter"); len(got) != 0 {
		t.Errorf("the removed label still finds %v", got)
	}
	res2 := a.owner.do("PATCH", "/api/v1/posts/"+launch, map[string]any{"labels": []string{strings.Repeat("x", 41)}})
	if res2.Status != http.StatusUnprocessableEntity || res2.errorFields(t)["labels"] == nil {
		t.Errorf("an over-long label: %d %s", res2.Status, res2.Body)
	}
}

// move posts a drop as calendar.js does.
func move(c *uiClient, path string, form url.Values, token string) *uiResponse {
	c.t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	if token != "" {
		r.Header.Set("X-CSRF-Token", token)
	}
	return c.send(r)
}

func TestCalendarMove(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	post := a.postAt(t, "2027-03-26T09:30", nil)
	path := "/workspaces/" + a.workspace + "/calendar/posts/" + post + "/move"
	paris, _ := time.LoadLocation("Europe/Paris")

	// Over the change of clocks: still 09:30 in Paris, and Trigger knows.
	res := move(c, path, url.Values{"day": {"2027-03-29"}, "zone": {"Europe/Paris"}}, token)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `"scheduled_at":"2027-03-29T09:30"`) {
		t.Fatalf("move: %d %s", res.Status, res.Body)
	}
	if due := b.trigger.schedule(post).GetDueAt().AsTime(); !due.Equal(time.Date(2027, 3, 29, 9, 30, 0, 0, paris)) {
		t.Errorf("Trigger has it at %s", due)
	}

	// In another zone the time of day kept is that zone's: 08:30 in
	// London is 09:30 in Paris.
	res = move(c, path, url.Values{"day": {"2027-04-02"}, "zone": {"Europe/London"}}, token)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `"scheduled_at":"2027-04-02T09:30"`) {
		t.Fatalf("move in London: %d %s", res.Status, res.Body)
	}

	for _, tc := range []struct {
		name   string
		client *uiClient
		path   string
		form   url.Values
		token  string
		status int
		want   string
	}{
		{"the past", c, path, url.Values{"day": {"2020-01-06"}}, token, http.StatusUnprocessableEntity, "is in the past"},
		{"a bad day", c, path, url.Values{"day": {"soon"}}, token, http.StatusUnprocessableEntity, "must be a date"},
		{"a bad zone", c, path, url.Values{"day": {"2027-04-03"}, "zone": {"Nowhere"}}, token, http.StatusUnprocessableEntity, "time zone"},
		{"no CSRF token", c, path, url.Values{"day": {"2027-04-03"}}, "", http.StatusForbidden, ""},
		{"another workspace's path", c, "/workspaces/ws_other/calendar/posts/" + post + "/move", url.Values{"day": {"2027-04-03"}}, token, http.StatusNotFound, ""},
	} {
		res := move(tc.client, tc.path, tc.form, tc.token)
		if res.Status != tc.status || !strings.Contains(res.Body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, res.Status, excerpt(res.Body), tc.status, tc.want)
		}
	}

	// Another agency's owner cannot find it.
	other := b.otherAgency(t, "zed")
	oc := other.browser(t, b)
	res = move(oc, path, url.Values{"day": {"2027-04-03"}}, oc.csrf())
	if res.Status != http.StatusNotFound {
		t.Errorf("another tenant: %d %s", res.Status, res.Body)
	}

	// Published: refused, and said so.
	if _, err := b.db.Exec(context.Background(), `UPDATE portal_posts SET status = ? WHERE id = ?`, PostPublished, post); err != nil {
		t.Fatal(err)
	}
	res = move(c, path, url.Values{"day": {"2027-04-05"}}, token)
	if res.Status != http.StatusConflict || !strings.Contains(res.Body, "already published") {
		t.Errorf("published: %d %s", res.Status, res.Body)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+post, nil)).json(t)
	if got["scheduled_at"] != "2027-04-02T09:30" {
		t.Errorf("the refused moves changed the post: %v", got["scheduled_at"])
	}

	// Without the script: a plain form, answered with a redirect and a message.
	fresh := a.postAt(t, "2027-05-03T10:00", nil)
	back := "/workspaces/" + a.workspace + "/calendar?date=2027-05-01"
	c.must(http.StatusSeeOther, c.post("/workspaces/"+a.workspace+"/calendar/posts/"+fresh+"/move",
		url.Values{"day": {"2027-05-04"}, "back": {back}, "csrf_token": {token}}), back)
	wantText(t, c.must(http.StatusOK, c.get(back)).Body, "Moved to Tue 4 May 2027, 10:00")
	c.must(http.StatusSeeOther, c.post("/workspaces/"+a.workspace+"/calendar/posts/"+fresh+"/move",
		url.Values{"day": {"2021-05-04"}, "back": {back}, "csrf_token": {token}}), back)
	wantText(t, c.must(http.StatusOK, c.get(back)).Body, "The post was not moved", "is in the past")
}

func TestCalendarAPIRange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	post := a.postAt(t, "2027-03-28T23:30", nil)
	api := "/api/v1/workspaces/" + a.workspace + "/calendar"
	for _, tc := range []struct {
		query  string
		fields []string
	}{
		{"", []string{"from", "to"}},
		{"?from=2027-03-01", []string{"to"}},
		{"?from=yesterday&to=2027-03-02", []string{"from"}},
		{"?from=2027-03-10&to=2027-03-01", []string{"to"}},
		{"?from=2027-03-01&to=2027-05-03", []string{"to"}},
		{"?from=2027-03-01&to=2027-04-01&zone=Moon/Base", []string{"zone"}},
		{"?from=2027-03-01&to=2027-04-01&status=lost", []string{"status"}},
	} {
		res := a.owner.do("GET", api+tc.query, nil)
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%q: status %d, want 422: %s", tc.query, res.Status, res.Body)
			continue
		}
		f := res.errorFields(t)
		for _, want := range tc.fields {
			if f[want] == nil {
				t.Errorf("%q: no error for %s in %v", tc.query, want, f)
			}
		}
		if len(f) != len(tc.fields) {
			t.Errorf("%q: errors %v, want only %v", tc.query, f, tc.fields)
		}
	}

	// 62 whole days in Paris, across the change of clocks, is allowed.
	res := a.owner.must(http.StatusOK, a.owner.do("GET", api+"?from=2027-03-01&to=2027-05-02", nil)).json(t)
	if res["zone"] != "Europe/Paris" || res["from"] != "2027-02-28T23:00:00Z" || len(res["posts"].([]any)) != 1 {
		t.Errorf("range: %v", res)
	}
	// [from, to): an instant range that ends at the post leaves it out.
	res = a.owner.must(http.StatusOK, a.owner.do("GET", api+"?from=2027-03-28T00:00:00Z&to=2027-03-28T21:30:00Z", nil)).json(t)
	if len(res["posts"].([]any)) != 0 {
		t.Errorf("the post at the range's end is in it: %v", res["posts"])
	}
	// Across workspaces, with another agency's posts never in it.
	other := b.otherAgency(t, "zed")
	other.postAt(t, "2027-03-28T10:00", nil)
	res = a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/calendar?from=2027-03-01&to=2027-04-01", nil)).json(t)
	if ps := res["posts"].([]any); len(ps) != 1 || ps[0].(map[string]any)["id"] != post || res["zone"] != "UTC" {
		t.Errorf("agency calendar: %v", res)
	}
	// Another agency's workspace is not found.
	if res := a.owner.do("GET", "/api/v1/workspaces/"+other.workspace+"/calendar?from=2027-03-01&to=2027-04-01", nil); res.Status != http.StatusNotFound {
		t.Errorf("another agency's workspace: %d", res.Status)
	}
}
