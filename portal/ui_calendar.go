package portal

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// The calendar pages: one workspace's posts, or every workspace's, as a
// month grid, a week or a list, in one zone (the zone query parameter,
// else the workspace's; across workspaces the zone they share, else UTC —
// users have no zone of their own yet). Each post is a chip linking to its
// edit page; calendar.js lets a chip be dragged to another day, which
// posts the move form below, so without the script the edit page does it.

// calendarViews are the page's layouts.
var calendarViews = []string{"month", "week", "list"}

func (u *webUI) routesCalendar(mux routeAdder, form int64) {
	mux.Handle("GET /calendar", u.signedIn(form, u.calendarPage))
	mux.Handle("GET /workspaces/{id}/calendar", u.signedIn(form, u.calendarPage))
	mux.Handle("POST /workspaces/{id}/calendar/posts/{post}/move", u.signedIn(form, u.movePost))
}

// calDay is one day of the grid: [Start, End) in the view's zone.
type calDay struct {
	Date       string // 2006-01-02
	Day        int
	Label      string // "Mon 28 Mar"
	InRange    bool   // in the month shown (always, for a week or list)
	Today      bool
	Start, End time.Time
	Chips      []calChip
}

// calChip is one post on the calendar.
type calChip struct {
	ID, WorkspaceID, Workspace string
	Time                       string // 15:04 in the view's zone
	Status                     string
	Accounts                   []string
	Labels                     []string
	Text                       string
	Link                       string
	// MoveURL is where dragging posts to; empty when the post cannot move.
	MoveURL string
}

// calendarGrid lays out the days of view around day (a date in loc):
// whole weeks from Monday covering day's month, day's week, or day's
// month alone for the list. Days are cut at local midnight, so a day with
// a DST change is as long as the clocks make it.
func calendarGrid(view string, day time.Time, loc *time.Location, now time.Time) []calDay {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	var first, last time.Time // civil dates, carried as UTC midnights
	switch view {
	case "week":
		first = d.AddDate(0, 0, -mondayOffset(d))
		last = first.AddDate(0, 0, 6)
	case "list":
		first = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		last = first.AddDate(0, 1, -1)
	default:
		monthStart := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		monthEnd := monthStart.AddDate(0, 1, -1)
		first = monthStart.AddDate(0, 0, -mondayOffset(monthStart))
		last = monthEnd.AddDate(0, 0, 6-mondayOffset(monthEnd))
	}
	today := now.In(loc).Format(time.DateOnly)
	var out []calDay
	for c := first; !c.After(last); c = c.AddDate(0, 0, 1) {
		next := c.AddDate(0, 0, 1)
		out = append(out, calDay{
			Date: c.Format(time.DateOnly), Day: c.Day(), Label: c.Format("Mon 2 Jan"),
			InRange: view != "month" || c.Month() == d.Month(),
			Today:   c.Format(time.DateOnly) == today,
			Start:   localMidnight(c, loc), End: localMidnight(next, loc),
		})
	}
	return out
}

// mondayOffset is how many days d is after the Monday of its week.
func mondayOffset(d time.Time) int { return (int(d.Weekday()) + 6) % 7 }

// localMidnight is the instant day (a civil date) begins in loc: midnight,
// or the first instant after it where the clocks skip midnight.
func localMidnight(day time.Time, loc *time.Location) time.Time {
	t := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	for t.Day() != day.Day() {
		// time.Date may normalize a skipped midnight to the day before;
		// the day then begins where the clocks resume.
		_, end := t.ZoneBounds()
		t = end
	}
	return t
}

// calendarView is the calendar page.
type calendarView struct {
	chrome
	WS       *Workspace
	Base     string // the page's path, without query
	View     string
	Zone     string
	Title    string
	Date     string
	Prev     string
	Next     string
	Today    string
	Weekdays []string
	Weeks    [][]calDay
	Days     []calDay
	Empty    bool
	// Truncated: the range holds more posts than one page shows.
	Truncated bool

	Account, Status, Label string
	Accounts               []calChoice
	Statuses               []calChoice
	Labels                 []string
	Zones                  []string
	Views                  []calChoice
}

type calChoice struct{ Value, Label string }

// GET /calendar and GET /workspaces/{id}/calendar
func (u *webUI) calendarPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	v := calendarView{Base: "/calendar", View: q.Get("view"), Account: q.Get("account"), Status: q.Get("status"),
		Label: normalizeLabel(q.Get("label"))}
	var workspaces []Workspace
	if id := r.PathValue("id"); id != "" {
		ws, err := u.s.GetWorkspace(ctx, p, id)
		if err != nil {
			return err
		}
		v.WS, v.Base, workspaces = &ws, workspacePath(ws.ID)+"/calendar", []Workspace{ws}
	} else {
		all, err := u.s.ListWorkspaces(ctx, p)
		if err != nil {
			return err
		}
		for _, ws := range all {
			if ws.Role.can(actReadPosts) {
				workspaces = append(workspaces, ws)
			}
		}
	}

	var bad errs.Fields
	if v.View == "" {
		v.View = "month"
	} else if !slices.Contains(calendarViews, v.View) {
		bad.Add("view", "must be month, week or list")
	}
	loc := time.UTC
	if z := q.Get("zone"); z != "" {
		loc = checkZone(&bad, "zone", z)
	} else if zone := sharedZone(workspaces); zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now()
	day := now.In(loc)
	if ds := q.Get("date"); ds != "" {
		d, err := time.Parse(time.DateOnly, ds)
		if err != nil {
			bad.Add("date", "must be a date like 2026-12-01, not %q", ds)
		} else {
			day = d
		}
	}
	if v.Status != "" && !slices.Contains(calendarStatuses, v.Status) {
		bad.Add("status", "must be one of %s", strings.Join(calendarStatuses, ", "))
	}
	if len(bad) > 0 {
		// The error page shows one message: it names each bad parameter.
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(bad)) {
			parts = append(parts, k+" "+bad[k])
		}
		return &errs.Error{Kind: errs.Invalid, Message: sentence("The calendar could not be shown: " + strings.Join(parts, "; ")), Fields: bad}
	}
	v.Zone, v.Date = loc.String(), day.Format(time.DateOnly)

	days := calendarGrid(v.View, day, loc, now)
	cq := CalendarQuery{From: days[0].Start, To: days[len(days)-1].End, AccountID: v.Account, Status: v.Status, Label: v.Label}
	if v.WS != nil {
		cq.WorkspaceID = v.WS.ID
	}
	res, err := u.s.Calendar(ctx, p, cq)
	if err != nil {
		return err
	}
	v.Truncated = res.Truncated

	// Accounts name the chips and fill the account filter, where the
	// viewer's role may see them; otherwise a chip names the network.
	names := map[string]string{}
	wsIDs := make([]string, 0, len(workspaces))
	for _, ws := range workspaces {
		wsIDs = append(wsIDs, ws.ID)
		if !ws.Role.can(actAccounts) {
			continue
		}
		accts, err := u.s.ListAccounts(ctx, p, ws.ID)
		if err != nil {
			return err
		}
		for _, a := range accts {
			names[a.ID] = accountName(a) + " · " + networkLabel(a.Network)
			label := names[a.ID]
			if v.WS == nil {
				label += " (" + ws.Name + ")"
			}
			v.Accounts = append(v.Accounts, calChoice{Value: a.ID, Label: label})
		}
	}
	if v.Labels, err = u.s.workspaceLabels(ctx, p.AgencyID, wsIDs); err != nil {
		return err
	}
	if v.Label != "" && !slices.Contains(v.Labels, v.Label) {
		v.Labels = append(v.Labels, v.Label)
	}
	for _, st := range calendarStatuses {
		v.Statuses = append(v.Statuses, calChoice{Value: st, Label: statusLabel(st)})
	}
	for _, vw := range calendarViews {
		v.Views = append(v.Views, calChoice{Value: vw, Label: strings.ToUpper(vw[:1]) + vw[1:]})
	}
	v.Zones = []string{loc.String()}
	for _, ws := range workspaces {
		if !slices.Contains(v.Zones, ws.Timezone) {
			v.Zones = append(v.Zones, ws.Timezone)
		}
	}
	if !slices.Contains(v.Zones, "UTC") {
		v.Zones = append(v.Zones, "UTC")
	}

	byDay := map[string]int{}
	for i, d := range days {
		byDay[d.Date] = i
	}
	for _, post := range res.Posts {
		at := post.ScheduledAt.In(loc)
		i, ok := byDay[at.Format(time.DateOnly)]
		if !ok {
			continue
		}
		chip := u.calendarChip(post, res.Workspaces[post.WorkspaceID], at, names, now)
		if v.WS != nil {
			chip.Workspace = "" // named by the page already
		}
		days[i].Chips = append(days[i].Chips, chip)
	}

	switch v.View {
	case "week":
		v.Title = days[0].Start.Format("2 Jan") + " – " + days[6].Start.Format("2 Jan 2006")
		v.Weeks = [][]calDay{days}
		v.Prev, v.Next = day.AddDate(0, 0, -7).Format(time.DateOnly), day.AddDate(0, 0, 7).Format(time.DateOnly)
	case "list":
		v.Title = day.Format("January 2006")
		for _, d := range days {
			if len(d.Chips) > 0 {
				v.Days = append(v.Days, d)
			}
		}
		v.Empty = len(v.Days) == 0
		v.Prev, v.Next = firstOfMonth(day, -1), firstOfMonth(day, 1)
	default:
		v.Title = day.Format("January 2006")
		for i := 0; i < len(days); i += 7 {
			v.Weeks = append(v.Weeks, days[i:i+7])
		}
		v.Prev, v.Next = firstOfMonth(day, -1), firstOfMonth(day, 1)
	}
	v.Weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	v.Prev, v.Next = v.link(map[string]string{"date": v.Prev}), v.link(map[string]string{"date": v.Next})
	v.Today = v.link(map[string]string{"date": ""})
	v.chrome = u.chrome(w, r, p, "Calendar", "calendar")
	if v.WS != nil {
		v.Current, v.chrome.Title = v.WS.ID, v.WS.Name+" calendar"
	}
	u.render(w, r, http.StatusOK, "calendar", v)
	return nil
}

// firstOfMonth is the first day of the month months after t's.
func firstOfMonth(t time.Time, months int) string {
	return time.Date(t.Year(), t.Month()+time.Month(months), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// link is the page's URL with some query parameters changed ("" drops one).
func (v calendarView) link(change map[string]string) string {
	q := url.Values{}
	set := func(k, val string) {
		if val != "" {
			q.Set(k, val)
		}
	}
	set("view", v.View)
	set("date", v.Date)
	set("zone", v.Zone)
	set("account", v.Account)
	set("status", v.Status)
	set("label", v.Label)
	for k, val := range change {
		q.Del(k)
		set(k, val)
	}
	return v.Base + "?" + q.Encode()
}

// Link is link for the template: pairs of key and value.
func (v calendarView) Link(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return v.link(m)
}

func (u *webUI) calendarChip(post Post, ws Workspace, at time.Time, names map[string]string, now time.Time) calChip {
	c := calChip{ID: post.ID, WorkspaceID: post.WorkspaceID, Workspace: ws.Name, Time: at.Format("15:04"), Status: post.Status,
		Labels: post.Labels, Text: postExcerpt(post.Text)}
	for _, t := range post.Targets {
		name, ok := names[t.AccountID]
		if !ok {
			name = networkLabel(t.Network)
		}
		c.Accounts = append(c.Accounts, name)
	}
	base := workspacePath(post.WorkspaceID) + "/posts/" + url.PathEscape(post.ID)
	c.Link = base
	editable := ws.Role.can(actWritePosts) && !post.Finished && slices.Contains(
		[]string{PostScheduled, PostPendingApproval, PostApproved, PostSkipped}, post.Status)
	if editable {
		c.Link = base + "/edit"
		if post.Kind == KindOnce && post.ScheduledAt.After(now) {
			c.MoveURL = workspacePath(post.WorkspaceID) + "/calendar/posts/" + url.PathEscape(post.ID) + "/move"
		}
	}
	return c
}

// sharedZone is the zone every workspace is in, or "" when they differ.
func sharedZone(wss []Workspace) string {
	zone := ""
	for i, ws := range wss {
		if i > 0 && ws.Timezone != zone {
			return ""
		}
		zone = ws.Timezone
	}
	return zone
}

// POST /workspaces/{id}/calendar/posts/{post}/move {day, zone, back}: the
// drop of a dragged chip. The script asks for JSON; a plain form is
// answered with a redirect back to the calendar and a message.
func (u *webUI) movePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	wantJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	back := safeNext(r.PostFormValue("back"))
	if back == "/" {
		back = workspacePath(r.PathValue("id")) + "/calendar"
	}
	err := func() error {
		post, ws, err := u.pathPost(r, p)
		if err != nil {
			return err
		}
		var v errs.Fields
		zone := ws.Timezone
		if z := r.PostFormValue("zone"); z != "" {
			zone = z
		}
		loc := checkZone(&v, "zone", zone)
		if err := v.Err(); err != nil {
			return err
		}
		moved, err := u.s.RescheduleToDay(ctx, p, post.ID, r.PostFormValue("day"), loc, time.Now())
		if err != nil {
			return err
		}
		if wantJSON {
			return writeJSON(w, http.StatusOK, postView(moved))
		}
		u.setFlash(w, flash{Kind: "success", Message: "Moved to " + wallLabel(moved.LocalTime) + " (" + moved.Zone + ")."})
		redirect(w, r, back)
		return nil
	}()
	switch {
	case err == nil:
		return nil
	case wantJSON:
		u.s.writeError(w, r, err)
		return nil
	case errs.KindOf(err) == errs.Invalid || errs.KindOf(err) == errs.Conflict:
		msg := errs.PublicMessage(err)
		if f := fieldsOf(err); f["day"] != "" {
			msg = f["day"]
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The post was not moved: " + msg)})
		redirect(w, r, back)
		return nil
	default:
		return err
	}
}
