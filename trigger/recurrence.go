package trigger

import (
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teambition/rrule-go"
)

// localLayout is how local wall times (start_local, exdates_local) are
// written: an RFC 3339 date-time without an offset, as the zone gives it.
const localLayout = "2006-01-02T15:04:05"

// recurrence is a compiled recurring rule: the RRULE evaluated on floating
// wall-clock times (as if the zone had no DST), each occurrence then
// resolved to an instant in the zone by resolveLocal. Evaluating on wall
// times keeps the rule's meaning ("every day at 09:30") independent of how
// the library would build times across a DST change, and puts the one DST
// rule of the package in one place.
type recurrence struct {
	loc  *time.Location
	rule *rrule.RRule
	// exdates are skipped wall times, as floating times in UTC.
	exdates map[time.Time]bool
	// until is the last instant an occurrence may have, when the rule's
	// UNTIL was given in UTC; zero otherwise.
	until time.Time
	// opt is the rule's options with every default rrule-go would take
	// from the start written out, so the rule can start again from any of
	// its occurrences (resume) and mean the same.
	opt rrule.ROption
	// base is the place, in the rule's own sequence, of the rule's first
	// occurrence: 0, or the cursor's index once resumed.
	base int64
	// skip: occurrences before this place are not yielded (a rule resumed
	// by expanding it from its start).
	skip int64
}

// ruleCursor is where a schedule stands in its rule: the wall time (a
// floating time in UTC) of its pending occurrence and that occurrence's
// place in the rule's own sequence (counting exdates and dropped wall
// times, as COUNT does). A fire resumes the rule from it instead of
// expanding the rule from its start again.
type ruleCursor struct {
	wall  time.Time
	index int64
}

// occurrence is one occurrence a schedule fires at.
type occurrence struct {
	at time.Time
	ruleCursor
}

// recurrenceError names what is wrong with a recurrence and the request
// field it comes from.
type recurrenceError struct {
	field, msg string
}

func (e *recurrenceError) Error() string { return e.field + " " + e.msg }

func badRule(format string, args ...any) error {
	return &recurrenceError{field: "rrule", msg: fmt.Sprintf(format, args...)}
}

// compileRecurrence checks and compiles a recurrence. secondly allows rules
// that fire more than once a minute (tests only).
func compileRecurrence(body, zone, startLocal string, exdates []string, secondly bool) (*recurrence, error) {
	loc, err := loadZone(zone)
	if err != nil || zone == "" || zone == "Local" {
		return nil, &recurrenceError{field: "zone", msg: "must be an IANA zone name such as Europe/Paris"}
	}
	start, err := time.ParseInLocation(localLayout, startLocal, time.UTC)
	if err != nil {
		return nil, &recurrenceError{field: "start_local", msg: "must be a local date-time such as 2026-12-01T09:30:00"}
	}
	rec := &recurrence{loc: loc, exdates: map[time.Time]bool{}}
	for _, x := range exdates {
		t, err := time.ParseInLocation(localLayout, x, time.UTC)
		if err != nil {
			return nil, &recurrenceError{field: "exdates_local", msg: fmt.Sprintf("%q is not a local date-time such as 2026-12-01T09:30:00", x)}
		}
		rec.exdates[t] = true
	}

	// rrule-go is lenient where a scheduler must not be (COUNT=0 and
	// INTERVAL=0 mean "unbounded" and "1" to it), so the parts it would
	// silently reinterpret are checked on the text first.
	body = strings.TrimPrefix(strings.TrimSpace(body), "RRULE:")
	if body == "" || strings.ContainsAny(body, "\r\n") {
		return nil, badRule("must be one RRULE such as FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=30")
	}
	var utcUntil bool
	for part := range strings.SplitSeq(body, ";") {
		key, value, _ := strings.Cut(part, "=")
		switch strings.ToUpper(key) {
		case "DTSTART", "TZID":
			return nil, badRule("must not carry %s: the start is start_local in zone", key)
		case "COUNT", "INTERVAL":
			if n, err := strconv.Atoi(value); err != nil || n < 1 {
				return nil, badRule("%s must be a whole number of at least 1", key)
			}
		case "UNTIL":
			utcUntil = strings.HasSuffix(value, "Z")
		case "BYSECOND":
			if strings.Contains(value, ",") && !secondly {
				return nil, badRule("fires more than once a minute (BYSECOND has several values)")
			}
		}
	}
	opt, err := rrule.StrToROptionInLocation(body, time.UTC)
	if err != nil {
		return nil, badRule("is not a valid RFC 5545 RRULE: %v", err)
	}
	if opt.Freq == rrule.SECONDLY && !secondly {
		return nil, badRule("fires more than once a minute (FREQ=SECONDLY); use MINUTELY or coarser")
	}
	if len(opt.Bysetpos) > 0 && opt.Freq > rrule.DAILY {
		// BYSETPOS picks among each period's occurrences; with periods of a
		// minute or an hour a rule whose position never exists is searched
		// period by period for centuries before it is known to never fire.
		return nil, badRule("BYSETPOS is supported with FREQ=DAILY or coarser only")
	}
	if opt.Count > 0 && !opt.Until.IsZero() {
		return nil, badRule("must not have both COUNT and UNTIL")
	}
	if utcUntil {
		// UNTIL in UTC is an instant (what RFC 5545 asks for with a zoned
		// start): the rule runs on wall times up to the wall time of that
		// instant, and occurrences are cut at the instant itself.
		rec.until = opt.Until
		opt.Until = floating(opt.Until.In(loc))
	}
	opt.Dtstart = start
	rule, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, badRule("is not a valid RFC 5545 RRULE: %v", err)
	}
	rec.rule = rule
	rec.opt = explicitDefaults(*opt)
	if _, ok := first(rec.after(time.Time{})); !ok {
		return nil, badRule("never fires (check COUNT, UNTIL, the BY parts and exdates_local against start_local)")
	}
	return rec, nil
}

// zones caches loaded zones: every fire of a recurring schedule compiles
// its rule, and reading a zone from the embedded database each time costs
// more than the rest of the fire's work in memory.
var zones sync.Map // name -> *time.Location

func loadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// floating returns t's wall clock as the same wall clock in UTC.
func floating(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// explicitDefaults writes out the parts rrule-go fills in from the start
// when a rule leaves them out (the day of a monthly rule, the weekday of a
// weekly one, the time of day of a daily one...), as rrule-go itself does.
// A rule resumed from a later start must keep the original start's.
func explicitDefaults(opt rrule.ROption) rrule.ROption {
	start := opt.Dtstart
	if len(opt.Byweekno) == 0 && len(opt.Byyearday) == 0 && len(opt.Bymonthday) == 0 &&
		len(opt.Byweekday) == 0 && len(opt.Byeaster) == 0 {
		switch opt.Freq {
		case rrule.YEARLY:
			if len(opt.Bymonth) == 0 {
				opt.Bymonth = []int{int(start.Month())}
			}
			opt.Bymonthday = []int{start.Day()}
		case rrule.MONTHLY:
			opt.Bymonthday = []int{start.Day()}
		case rrule.WEEKLY:
			opt.Byweekday = []rrule.Weekday{goWeekday[start.Weekday()]}
		}
	}
	if len(opt.Byhour) == 0 && opt.Freq < rrule.HOURLY {
		opt.Byhour = []int{start.Hour()}
	}
	if len(opt.Byminute) == 0 && opt.Freq < rrule.MINUTELY {
		opt.Byminute = []int{start.Minute()}
	}
	if len(opt.Bysecond) == 0 && opt.Freq < rrule.SECONDLY {
		opt.Bysecond = []int{start.Second()}
	}
	if opt.Until.IsZero() {
		// rrule-go ends an open rule about 292 years after its start.
		opt.Until = start.Add(time.Duration(math.MaxInt64))
	}
	return opt
}

var goWeekday = [...]rrule.Weekday{
	time.Sunday: rrule.SU, time.Monday: rrule.MO, time.Tuesday: rrule.TU, time.Wednesday: rrule.WE,
	time.Thursday: rrule.TH, time.Friday: rrule.FR, time.Saturday: rrule.SA,
}

// resume returns the rule as seen from c, one of its occurrences: its
// occurrences are c's and those after it, exactly as expanding the rule
// from its start gives them (a property test checks it), at the cost of
// the occurrences from c on only. Each period of the rule (year, month,
// week, day... of INTERVAL) that holds an occurrence is one of the rule's
// periods, so starting at c keeps the periods in phase; COUNT is cut by the
// occurrences before c.
//
// BYSETPOS is the exception: rrule-go picks set positions of a weekly rule
// among the days of the start's week from the start on, so a rule with
// BYSETPOS is always expanded from its start.
func (r *recurrence) resume(c ruleCursor) (*recurrence, error) {
	if len(r.opt.Bysetpos) > 0 {
		out := *r
		out.skip = c.index
		return &out, nil
	}
	opt := r.opt
	opt.Dtstart = c.wall
	if opt.Count > 0 {
		left := int64(opt.Count) - c.index
		if left < 1 {
			return nil, fmt.Errorf("cursor at occurrence %d of a rule of %d", c.index, opt.Count)
		}
		opt.Count = int(left)
	}
	rule, err := rrule.NewRRule(opt)
	if err != nil {
		return nil, err
	}
	out := *r
	out.rule, out.opt, out.base = rule, opt, c.index
	return &out, nil
}

// after yields, in order, the instants of the occurrences later than from.
func (r *recurrence) after(from time.Time) iter.Seq[time.Time] {
	return func(yield func(time.Time) bool) {
		for o := range r.occurrences() {
			if o.at.After(from) && !yield(o.at) {
				return
			}
		}
	}
}

// occurrences yields, in order, the occurrences of the rule. The instants
// a schedule fires at strictly increase: an occurrence whose instant is not
// later than an earlier occurrence's (a wall time in a DST gap moved
// forward past the next wall time, with rules more frequent than the gap)
// is dropped.
func (r *recurrence) occurrences() iter.Seq[occurrence] {
	return func(yield func(occurrence) bool) {
		next := r.rule.Iterator()
		var prev time.Time
		for index := r.base; ; index++ {
			wall, ok := next()
			if !ok {
				return
			}
			if r.exdates[wall] {
				continue
			}
			at := resolveLocal(wall, r.loc)
			if !r.until.IsZero() && at.After(r.until) {
				continue
			}
			if !prev.IsZero() && !at.After(prev) {
				continue
			}
			prev = at
			if index < r.skip {
				continue
			}
			if !yield(occurrence{at: at, ruleCursor: ruleCursor{wall: wall, index: index}}) {
				return
			}
		}
	}
}

// first returns the first value of seq.
func first(seq iter.Seq[time.Time]) (time.Time, bool) {
	for t := range seq {
		return t, true
	}
	return time.Time{}, false
}

// catchUp is what a fire at now does with a schedule whose first pending
// occurrence is due: latest is the latest occurrence due by now (the one
// that fires), missed how many due occurrences before it are skipped, next
// the first occurrence after now (zero when the rule has ended).
func (r *recurrence) catchUp(due, now time.Time) (latest time.Time, missed int64, next time.Time) {
	latest, missed, _, n := r.catchUpFrom(due, now)
	return latest, missed, n.at
}

// catchUpFrom is catchUp also returning the latest missed occurrence (the
// one before latest; zero when none was missed) and the next occurrence
// whole, so the schedule can keep it as its cursor (zero when the rule has
// ended).
func (r *recurrence) catchUpFrom(due, now time.Time) (latest time.Time, missed int64, lastMissed time.Time, next occurrence) {
	for o := range r.occurrences() {
		if o.at.Before(due) {
			continue
		}
		if o.at.After(now) {
			return latest, missed, lastMissed, o
		}
		if !latest.IsZero() {
			missed++
			lastMissed = latest
		}
		latest = o.at
	}
	return latest, missed, lastMissed, occurrence{}
}

// resolveLocal turns a wall-clock time in loc (given as a floating time in
// UTC) into an instant, by the package's one DST rule, which is RFC 5545's
// (section 3.3.5):
//   - a wall time that occurs twice (clocks set back) is the first, earlier
//     instant;
//   - a wall time that does not occur (clocks set forward) is read with the
//     offset in force before the gap, so it moves forward by the gap's
//     length: 02:30 on a day that jumps from 02:00 to 03:00 is 03:30.
func resolveLocal(wall time.Time, loc *time.Location) time.Time {
	// The zone periods that can hold the wall time: the one Go's own
	// resolution lands in, and its neighbours (an offset never exceeds a
	// day, so a wall time's instants lie in these).
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	type period struct {
		start, end time.Time // zero: unbounded
		offset     int
	}
	periodAt := func(t time.Time) period {
		start, end := t.ZoneBounds()
		_, off := t.Zone()
		return period{start, end, off}
	}
	cur := periodAt(guess)
	periods := []period{cur}
	if !cur.start.IsZero() {
		periods = append([]period{periodAt(cur.start.Add(-time.Nanosecond))}, periods...)
	}
	if !cur.end.IsZero() {
		periods = append(periods, periodAt(cur.end))
	}
	for _, p := range periods {
		at := wall.Add(-time.Duration(p.offset) * time.Second)
		if (p.start.IsZero() || !at.Before(p.start)) && (p.end.IsZero() || at.Before(p.end)) {
			// Periods are in time order: the first match is the earlier
			// instant of an ambiguous wall time.
			return at.In(loc)
		}
	}
	// A gap: find the transition the wall time falls into and use the
	// offset before it.
	for i := 0; i+1 < len(periods); i++ {
		before, after := periods[i], periods[i+1]
		edge := before.end
		if edge.IsZero() {
			continue
		}
		lo := edge.Add(time.Duration(before.offset) * time.Second)
		hi := edge.Add(time.Duration(after.offset) * time.Second)
		// wall is a floating time in UTC, so it compares with the wall
		// times at the edge taken as instants in UTC.
		if !wall.Before(lo) && wall.Before(hi) {
			return wall.Add(-time.Duration(before.offset) * time.Second).In(loc)
		}
	}
	// Not reached with a consistent zone database; Go's choice is a safe
	// fallback.
	return guess
}

// exdatesText and parseExdates store exdates_local as one column.
func exdatesText(xs []string) string { return strings.Join(xs, ",") }

func parseExdates(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
