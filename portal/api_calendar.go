package portal

import (
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// routeAdder is what the calendar's routes need of Portal's router.
type routeAdder interface {
	Handle(pattern string, h http.Handler)
}

func (s *Service) routesCalendar(mux routeAdder, maxBody int64) {
	mux.Handle("GET /api/v1/calendar", s.authed(maxBody, s.apiCalendar))
	mux.Handle("GET /api/v1/workspaces/{id}/calendar", s.authed(maxBody, s.apiCalendar))
}

// GET /api/v1/workspaces/{id}/calendar and GET /api/v1/calendar
// ?from=&to=[&zone=][&account=][&status=][&label=] -> {from, to, zone,
// posts: [...], truncated}
//
// from and to are RFC 3339 instants or dates (YYYY-MM-DD, midnight in
// zone: the workspace's, else UTC); the range is [from, to), at most 62
// days. Posts are earliest first, at most 1000; truncated says a range
// held more.
func (s *Service) apiCalendar(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	var v errs.Fields
	loc := time.UTC
	if z := q.Get("zone"); z != "" {
		loc = checkZone(&v, "zone", z)
	} else if id := r.PathValue("id"); id != "" {
		ws, err := s.GetWorkspace(r.Context(), p, id)
		if err != nil {
			return err
		}
		if l, err := time.LoadLocation(ws.Timezone); err == nil {
			loc = l
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	from := calendarBound(&v, "from", q.Get("from"), loc)
	to := calendarBound(&v, "to", q.Get("to"), loc)
	if err := v.Err(); err != nil {
		return err
	}
	res, err := s.Calendar(r.Context(), p, CalendarQuery{WorkspaceID: r.PathValue("id"), From: from, To: to,
		AccountID: q.Get("account"), Status: q.Get("status"), Label: q.Get("label")})
	if err != nil {
		return err
	}
	out := make([]postJSON, 0, len(res.Posts))
	for _, post := range res.Posts {
		out = append(out, postView(post))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"from": ts(from), "to": ts(to), "zone": loc.String(),
		"posts": out, "truncated": res.Truncated})
}

// calendarBound reads one end of a calendar range.
func calendarBound(v *errs.Fields, field, s string, loc *time.Location) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		v.Add(field, "is required: a date (2026-12-01) or an RFC 3339 instant")
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return localMidnight(d, loc).UTC()
	}
	v.Add(field, "must be a date (2026-12-01) or an RFC 3339 instant (2026-12-01T00:00:00Z), not %q", s)
	return time.Time{}
}
