package portal

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// The composer's schedule choices beyond a single time: a simple repeat
// (daily, weekly on chosen days, monthly; ending after N times or on a
// date) or a raw RRULE, turned here into the domain's When.

// weekdays are the composer's day choices, as RRULE names them.
var weekdays = []struct{ Code, Label string }{
	{"MO", "Mon"}, {"TU", "Tue"}, {"WE", "Wed"}, {"TH", "Thu"}, {"FR", "Fri"}, {"SA", "Sat"}, {"SU", "Sun"},
}

// formWhen reads the composer's "when" choice. Problems only the form can
// have (a repeat end that is not a number) are added to v under the form's
// input names.
func formWhen(r *http.Request, v *errs.Fields, loc *time.Location) When {
	at := strings.TrimSpace(r.PostFormValue("scheduled_at"))
	switch r.PostFormValue("when") {
	case "now":
		return When{PublishNow: true}
	case "draft":
		return When{Draft: true}
	case "queue":
		q := strings.TrimSpace(r.PostFormValue("queue_id"))
		return When{QueueID: &q, Evergreen: r.PostFormValue("evergreen") != ""}
	case "repeat":
		return When{Repeat: formRepeat(r, v, at, loc)}
	}
	return When{ScheduledAt: &at}
}

// formRepeat builds the rule of the composer's repeat choice. The first
// occurrence is the form's date and time.
func formRepeat(r *http.Request, v *errs.Fields, start string, loc *time.Location) *RepeatInput {
	in := &RepeatInput{StartLocal: start, SkipIfLaterThan: strings.TrimSpace(r.PostFormValue("repeat_skip_late"))}
	var parts []string
	switch r.PostFormValue("repeat_freq") {
	case "custom":
		in.RRule = strings.TrimSpace(r.PostFormValue("repeat_rrule"))
		if in.RRule == "" {
			v.Add("repeat_rrule", "Write a rule such as FREQ=WEEKLY;BYDAY=MO,TH;COUNT=8, or choose a simple repeat.")
		}
	case "weekly":
		parts = append(parts, "FREQ=WEEKLY")
		var days []string
		for _, d := range weekdays {
			if hasValue(r.PostForm["repeat_days"], d.Code) {
				days = append(days, d.Code)
			}
		}
		if len(days) == 0 {
			v.Add("repeat_days", "Choose at least one day of the week.")
		} else {
			parts = append(parts, "BYDAY="+strings.Join(days, ","))
		}
	case "monthly":
		parts = append(parts, "FREQ=MONTHLY")
	default:
		parts = append(parts, "FREQ=DAILY")
	}
	if in.RRule == "" && len(parts) > 0 {
		switch r.PostFormValue("repeat_end") {
		case "count":
			n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("repeat_count")))
			if err != nil || n < 1 || n > 1000 {
				v.Add("repeat_count", "Give how many times, from 1 to 1000.")
			} else {
				parts = append(parts, "COUNT="+strconv.Itoa(n))
			}
		case "until":
			d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(r.PostFormValue("repeat_until")), loc)
			if err != nil {
				v.Add("repeat_until", "Choose the last day it repeats.")
			} else {
				// The whole last day counts, in the workspace's zone.
				end := d.AddDate(0, 0, 1).Add(-time.Second).UTC()
				parts = append(parts, "UNTIL="+end.Format("20060102T150405Z"))
			}
		}
		in.RRule = strings.Join(parts, ";")
	}
	if skip := strings.TrimSpace(r.PostFormValue("repeat_skip_dates")); skip != "" {
		tod := ""
		if t, err := parseWall(start); err == nil {
			tod = t.Format("T15:04")
		}
		for _, d := range strings.FieldsFunc(skip, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			in.Exceptions = append(in.Exceptions, d+tod)
		}
	}
	return in
}

func hasValue(vs []string, want string) bool {
	for _, v := range vs {
		if v == want {
			return true
		}
	}
	return false
}

// formScheduleFields are the composer's inputs a When's field errors go
// to: the API's field names become the form's.
var formScheduleFields = map[string]string{
	"repeat.rrule":              "repeat_rrule",
	"repeat.start_local":        "scheduled_at",
	"repeat.zone":               "repeat_rrule",
	"repeat.exceptions":         "repeat_skip_dates",
	"repeat.skip_if_later_than": "repeat_skip_late",
	"repeat":                    "when",
	"publish_now":               "when",
	"draft":                     "when",
}

// renameFields gives a domain error the form's input names.
func renameFields(err error, names map[string]string) error {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = map[string]string{}
	for f, msg := range e.Fields {
		base, rest := f, ""
		if i := strings.IndexByte(f, '['); i > 0 {
			base, rest = f[:i], f[i:]
		}
		if to, ok := names[base]; ok {
			f = to + rest
		}
		out.Fields[f] = msg
	}
	return &out
}

// attachFirings loads the latest firings of the recurring and queued posts
// of a list, for the page to show each firing's outcome.
func (s *Service) attachFirings(ctx context.Context, agencyID string, posts []Post, n int) error {
	for i := range posts {
		if !repeating(posts[i].Kind) || posts[i].FiredCount == 0 {
			continue
		}
		f, err := s.firings(ctx, s.db, agencyID, posts[i].ID, n)
		if err != nil {
			return err
		}
		posts[i].Firings = f
	}
	return nil
}
