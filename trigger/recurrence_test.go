package trigger

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// zoneList reads the IANA zones the portal offers (the tz database's
// zone.tab zones and UTC).
func zoneList(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../portal/web/zones.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var zones []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			zones = append(zones, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(zones) < 300 {
		t.Fatalf("read %d zones, want the whole list", len(zones))
	}
	return zones
}

// transition is a change of a zone's UTC offset.
type transition struct {
	at            time.Time
	before, after int // offsets in seconds
	zone          string
	loc           *time.Location
}

// transitions walks a zone's offset periods from one instant to another.
func transitions(loc *time.Location, zone string, from, to time.Time) []transition {
	var out []transition
	t := from
	for t.Before(to) {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		_, before := end.Add(-time.Nanosecond).In(loc).Zone()
		_, after := end.In(loc).Zone()
		if before != after {
			out = append(out, transition{at: end, before: before, after: after, zone: zone, loc: loc})
		}
		t = end
	}
	return out
}

// TestDSTRuleEveryZone is the property test: for every zone and every DST
// transition from 2025 through 2030, a daily rule at a local time the
// transition skips or repeats (its first wall time, the middle of the
// window, its last minute) fires, on the transition's day, at the
// documented instant: the wall time read with the offset before the change
// (which moves a skipped time forward by the gap and takes the first of a
// repeated time) — and on the days around, at the one instant the wall
// time has.
func TestDSTRuleEveryZone(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var checked, mismatches, zonesWithDST int
	for _, zone := range zoneList(t) {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Errorf("zone %s: %v", zone, err)
			continue
		}
		trs := transitions(loc, zone, from, to)
		if len(trs) > 0 {
			zonesWithDST++
		}
		for _, tr := range trs {
			gap := time.Duration(tr.after-tr.before) * time.Second
			window := gap.Abs()
			// The window of wall times the change skips or repeats starts at
			// the wall time of the instant read with the earlier offset.
			start := floating(tr.at.In(time.FixedZone("", min(tr.before, tr.after))))
			for _, wall := range []time.Time{start, start.Add(window / 2).Truncate(time.Minute), start.Add(window - time.Minute)} {
				checked++
				if !checkDaily(t, tr, wall) {
					mismatches++
				}
			}
		}
	}
	if zonesWithDST < 50 {
		t.Errorf("found DST transitions in %d zones only: the walk is broken", zonesWithDST)
	}
	t.Logf("%d wall times at %d zones' transitions checked, %d mismatches", checked, zonesWithDST, mismatches)
}

// checkDaily checks the occurrences of a daily rule at wall's time of day
// from two days before the transition to two days after.
func checkDaily(t *testing.T, tr transition, wall time.Time) bool {
	t.Helper()
	startLocal := wall.AddDate(0, 0, -2).Format(localLayout)
	rec, err := compileRecurrence("FREQ=DAILY;COUNT=5", tr.zone, startLocal, nil, false)
	if err != nil {
		t.Errorf("%s %s: %v", tr.zone, startLocal, err)
		return false
	}
	var got []time.Time
	for at := range rec.after(time.Time{}) {
		got = append(got, at)
	}
	if len(got) != 5 {
		t.Errorf("%s from %s: %d occurrences, want 5", tr.zone, startLocal, len(got))
		return false
	}
	ok := true
	for i, at := range got {
		w := wall.AddDate(0, 0, i-2)
		var want time.Time
		if i == 2 {
			want = w.Add(-time.Duration(tr.before) * time.Second)
		} else {
			// Away from the change the wall time has one instant.
			want = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, tr.loc)
			if floating(want.In(tr.loc)) != w {
				continue // another change near this one; not this test's case
			}
		}
		if !at.Equal(want) {
			t.Errorf("%s, change at %v (%+d → %+d s): daily at %s gives %v, want %v",
				tr.zone, tr.at, tr.before, tr.after, w.Format(localLayout), at.UTC(), want.UTC())
			ok = false
		}
	}
	return ok
}

func TestResolveLocalKnownChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		zone, wall string
		want       string // RFC 3339 instant
	}{
		// RFC 5545 section 3.3.5's own examples.
		{"America/New_York", "2007-03-11T02:30:00", "2007-03-11T03:30:00-04:00"},
		{"America/New_York", "2007-11-04T01:30:00", "2007-11-04T01:30:00-04:00"},
		{"Europe/Paris", "2026-03-29T02:00:00", "2026-03-29T03:00:00+02:00"},
		{"Europe/Paris", "2026-03-29T02:59:00", "2026-03-29T03:59:00+02:00"},
		{"Europe/Paris", "2026-03-29T03:00:00", "2026-03-29T03:00:00+02:00"},
		{"Europe/Paris", "2026-10-25T02:00:00", "2026-10-25T02:00:00+02:00"},
		{"Europe/Paris", "2026-10-25T02:30:00", "2026-10-25T02:30:00+02:00"},
		{"Europe/Paris", "2026-10-25T03:00:00", "2026-10-25T03:00:00+01:00"},
		// A half-hour change.
		{"Australia/Lord_Howe", "2026-10-04T02:15:00", "2026-10-04T02:45:00+11:00"},
		{"UTC", "2026-10-25T02:30:00", "2026-10-25T02:30:00Z"},
	}
	for _, tt := range tests {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		wall, _ := time.Parse(localLayout, tt.wall)
		want, _ := time.Parse(time.RFC3339, tt.want)
		if got := resolveLocal(wall, loc); !got.Equal(want) {
			t.Errorf("%s %s = %v, want %v", tt.zone, tt.wall, got, want)
		}
	}
}

func TestRecurrenceOccurrences(t *testing.T) {
	t.Parallel()
	instants := func(t *testing.T, rule, startLocal string, exdates []string, n int) []string {
		t.Helper()
		rec, err := compileRecurrence(rule, "Europe/Paris", startLocal, exdates, false)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for at := range rec.after(time.Time{}) {
			out = append(out, at.Format(time.RFC3339))
			if len(out) == n {
				break
			}
		}
		return out
	}
	tests := []struct {
		name, rule, start string
		exdates           []string
		want              []string
	}{
		{"weekly on two days", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=30", "2026-12-01T09:30:00", nil,
			[]string{"2026-12-02T09:30:00+01:00", "2026-12-07T09:30:00+01:00", "2026-12-09T09:30:00+01:00"}},
		{"exdates skip", "FREQ=DAILY", "2026-12-01T09:30:00", []string{"2026-12-02T09:30:00"},
			[]string{"2026-12-01T09:30:00+01:00", "2026-12-03T09:30:00+01:00", "2026-12-04T09:30:00+01:00"}},
		{"count ends", "FREQ=DAILY;COUNT=2", "2026-12-01T09:30:00", nil,
			[]string{"2026-12-01T09:30:00+01:00", "2026-12-02T09:30:00+01:00"}},
		{"until in UTC is an instant", "FREQ=DAILY;UNTIL=20261202T083000Z", "2026-12-01T09:30:00", nil,
			[]string{"2026-12-01T09:30:00+01:00", "2026-12-02T09:30:00+01:00"}},
		{"until in UTC just before", "FREQ=DAILY;UNTIL=20261202T082959Z", "2026-12-01T09:30:00", nil,
			[]string{"2026-12-01T09:30:00+01:00"}},
		{"hourly across the spring gap never goes back", "FREQ=MINUTELY;INTERVAL=30", "2026-03-29T01:30:00", nil,
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"}},
		{"across the fall overlap", "FREQ=HOURLY", "2026-10-25T01:00:00", nil,
			[]string{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := instants(t, tt.rule, tt.start, tt.exdates, 3); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCatchUpFiresOnlyTheLatest(t *testing.T) {
	t.Parallel()
	rec, err := compileRecurrence("FREQ=WEEKLY", "Europe/Paris", "2026-01-05T09:00:00", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	now := due.Add(3*7*24*time.Hour + time.Hour) // three weeks later
	latest, missed, next := rec.catchUp(due, now)
	if want := due.Add(3 * 7 * 24 * time.Hour); !latest.Equal(want) || missed != 3 || !next.Equal(want.Add(7*24*time.Hour)) {
		t.Errorf("catchUp = %v, %d missed, next %v; want %v, 3, a week later", latest, missed, next, want)
	}
	// On time: the due occurrence itself, nothing missed.
	latest, missed, next = rec.catchUp(due, due.Add(time.Millisecond))
	if !latest.Equal(due) || missed != 0 || !next.Equal(due.Add(7*24*time.Hour)) {
		t.Errorf("on time: catchUp = %v, %d, %v", latest, missed, next)
	}
}
