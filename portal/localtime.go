package portal

import (
	"fmt"
	"sort"
	"time"
	// The zone database is embedded so zones resolve the same on every
	// machine, including minimal containers without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Local wall-time layouts accepted for scheduled_at.
var wallLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// localTimeError is a wall time that cannot be turned into an instant.
type localTimeError struct{ msg string }

func (e *localTimeError) Error() string { return e.msg }

// parseWall reads a wall clock time without a zone.
func parseWall(s string) (time.Time, error) {
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &localTimeError{fmt.Sprintf("must be a local date and time like 2026-12-01T09:30, not %q", s)}
}

// resolveLocal turns a wall clock time in loc into an instant, following
// the package's documented rule: a time skipped by a DST gap is an error, a
// time that happens twice is the earlier instant.
//
// Rather than trusting time.Date's normalization (which picks one side of
// a change without saying), it collects every UTC offset loc uses around
// the wall time and keeps the instants that really show that wall time.
func resolveLocal(wall time.Time, loc *time.Location) (time.Time, error) {
	// wall carries the clock reading as if it were UTC.
	w := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, time.UTC)
	var candidates []time.Time
	seen := map[int]bool{}
	// Offsets are within ±26h, so every offset that could apply is in force
	// somewhere in this window.
	for t := w.Add(-27 * time.Hour); t.Before(w.Add(27 * time.Hour)); {
		_, off := t.In(loc).Zone()
		if !seen[off] {
			seen[off] = true
			c := w.Add(-time.Duration(off) * time.Second)
			if _, coff := c.In(loc).Zone(); coff == off {
				candidates = append(candidates, c)
			}
		}
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.After(t) {
			break
		}
		t = end
	}
	if len(candidates) == 0 {
		return time.Time{}, &localTimeError{fmt.Sprintf("%s does not exist in %s: the clocks skip it when daylight saving time starts; pick another time",
			wall.Format("2006-01-02 15:04"), loc)}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Before(candidates[j]) })
	return candidates[0].In(loc), nil
}

// formatWall shows an instant as the wall time in its location, the form
// scheduled_at is given in.
func formatWall(t time.Time) string {
	if t.Second() != 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04")
}
