package trigger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// randomRule builds an RRULE body from r: every frequency a schedule may
// have, intervals, the BY parts (with ordinals, negative days, set
// positions, week numbers), week starts, COUNT or UNTIL.
func randomRule(r *rand.Rand) string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	some := func(n int, f func() string) string {
		k := 1 + r.IntN(n)
		parts := make([]string, k)
		for i := range parts {
			parts[i] = f()
		}
		return strings.Join(parts, ",")
	}
	freq := pick("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY")
	parts := []string{"FREQ=" + freq}
	if r.IntN(2) == 0 {
		parts = append(parts, fmt.Sprintf("INTERVAL=%d", 1+r.IntN(4)))
	}
	day := func() string { return pick("MO", "TU", "WE", "TH", "FR", "SA", "SU") }
	if r.IntN(3) == 0 {
		if (freq == "MONTHLY" || freq == "YEARLY") && r.IntN(2) == 0 {
			parts = append(parts, "BYDAY="+some(2, func() string { return pick("1", "2", "-1", "3") + day() }))
		} else {
			parts = append(parts, "BYDAY="+some(3, day))
		}
	}
	if r.IntN(4) == 0 {
		parts = append(parts, "BYMONTHDAY="+some(2, func() string { return pick("1", "15", "28", "29", "30", "31", "-1", "-2") }))
	}
	if freq == "YEARLY" && r.IntN(3) == 0 {
		parts = append(parts, "BYMONTH="+some(2, func() string { return fmt.Sprint(1 + r.IntN(12)) }))
	}
	if freq == "YEARLY" && r.IntN(6) == 0 {
		parts = append(parts, "BYWEEKNO="+some(2, func() string { return pick("1", "10", "20", "52", "53", "-1") }))
	}
	if freq == "YEARLY" && r.IntN(6) == 0 {
		parts = append(parts, "BYYEARDAY="+some(2, func() string { return pick("1", "60", "100", "200", "365", "366", "-1") }))
	}
	if freq != "MINUTELY" && freq != "HOURLY" && r.IntN(3) == 0 {
		parts = append(parts, "BYHOUR="+some(3, func() string { return fmt.Sprint(r.IntN(24)) }))
	}
	if freq != "MINUTELY" && r.IntN(3) == 0 {
		parts = append(parts, "BYMINUTE="+some(2, func() string { return fmt.Sprint(r.IntN(60)) }))
	}
	// (BYSETPOS on minutes or hours picks among one value per period: a
	// rule that never fires, which rrule-go would search for years.)
	if freq != "MINUTELY" && freq != "HOURLY" && strings.Contains(strings.Join(parts, ";"), "BY") && r.IntN(4) == 0 {
		parts = append(parts, "BYSETPOS="+pick("1", "-1", "2", "1,-1"))
	}
	if freq == "WEEKLY" && r.IntN(2) == 0 {
		parts = append(parts, "WKST="+day())
	}
	switch r.IntN(3) {
	case 0:
		parts = append(parts, fmt.Sprintf("COUNT=%d", 1+r.IntN(40)))
	case 1:
		if r.IntN(2) == 0 {
			parts = append(parts, "UNTIL=20290301T120000Z")
		} else {
			parts = append(parts, "UNTIL=20290301T120000")
		}
	}
	return strings.Join(parts, ";")
}

// TestCursorGivesTheSameOccurrences is the property test of the cursor a
// fire keeps: for thousands of random rules, in zones with DST changes of
// one hour, half an hour and none, started around DST changes, with
// exdates, resuming the rule from each occurrence in turn (as successive
// fires do) gives exactly the occurrences, wall times and places in the
// rule that expanding the rule from its start gives (0 mismatches).
func TestCursorGivesTheSameOccurrences(t *testing.T) {
	t.Parallel()
	zones := []string{"Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Tehran", "UTC", "Pacific/Chatham"}
	starts := []string{"2026-03-29T01:30:00", "2026-10-25T02:30:00", "2026-03-08T02:15:00", "2026-01-31T09:00:00",
		"2026-02-28T23:59:00", "2027-12-31T00:00:00", "2028-02-29T12:00:00", "2026-04-05T01:45:00"}
	const rules, steps = 3000, 60
	r := rand.New(rand.NewPCG(4, 13))
	var checked, mismatches, compiled int
	for i := range rules {
		body := randomRule(r)
		zone := zones[r.IntN(len(zones))]
		start := starts[r.IntN(len(starts))]
		rec, err := compileRecurrence(body, zone, start, nil, false)
		if err != nil {
			continue // never fires, or a combination rrule-go refuses
		}
		var full []occurrence
		for o := range rec.occurrences() {
			full = append(full, o)
			if len(full) == steps {
				break
			}
		}
		// Exdates: skip a few of the occurrences found.
		var exdates []string
		for _, o := range full {
			if r.IntN(8) == 0 {
				exdates = append(exdates, o.wall.Format(localLayout))
			}
		}
		if len(exdates) > 0 {
			if rec, err = compileRecurrence(body, zone, start, exdates, false); err != nil {
				continue
			}
			full = full[:0]
			for o := range rec.occurrences() {
				full = append(full, o)
				if len(full) == steps {
					break
				}
			}
		}
		compiled++
		cur := full[0].ruleCursor
		for k := range full {
			res, err := rec.resume(cur)
			if err != nil {
				t.Fatalf("rule %d %q in %s from %s: resume at %v: %v", i, body, zone, start, cur, err)
			}
			var got []occurrence
			for o := range res.occurrences() {
				got = append(got, o)
				if len(got) == 2 {
					break
				}
			}
			checked++
			want := full[k:min(k+2, len(full))]
			// The expansion was cut at steps: past its end, the next
			// occurrence is not known.
			if k == len(full)-1 && len(full) == steps {
				got = got[:min(len(got), 1)]
			}
			if !sameOccurrences(got, want) {
				mismatches++
				if mismatches <= 5 {
					t.Errorf("rule %q in %s from %s, exdates %v: resumed at occurrence %d %v, got %v, want %v",
						body, zone, start, exdates, k, cur, got, want)
				}
				break
			}
			if len(got) < 2 {
				break
			}
			cur = got[1].ruleCursor
		}
	}
	t.Logf("%d rules, %d resumes checked, %d mismatches", compiled, checked, mismatches)
	if compiled < rules/2 {
		t.Errorf("only %d of %d random rules compiled: the generator makes too many invalid ones", compiled, rules)
	}
	if mismatches > 0 {
		t.Errorf("%d rules where the cursor gave other occurrences than expanding from the start", mismatches)
	}
}

func sameOccurrences(a, b []occurrence) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].at.Equal(b[i].at) || !a[i].wall.Equal(b[i].wall) || a[i].index != b[i].index {
			return false
		}
	}
	return true
}

// The cursor makes advancing a schedule that has fired for years as cheap
// as advancing a new one.
func BenchmarkAdvanceRecurring(b *testing.B) {
	rec, err := compileRecurrence("FREQ=MINUTELY", "Europe/Paris", "2020-01-01T00:00:00", nil, false)
	if err != nil {
		b.Fatal(err)
	}
	// Six years of minutes later.
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, _, _, n := rec.catchUpFrom(due, due)
	b.Run("from_start", func(b *testing.B) {
		for b.Loop() {
			rec.catchUpFrom(due, due)
		}
	})
	b.Run("from_cursor", func(b *testing.B) {
		for b.Loop() {
			res, err := rec.resume(n.ruleCursor)
			if err != nil {
				b.Fatal(err)
			}
			res.catchUpFrom(n.at, n.at)
		}
	})
}

// TestEngineKeepsTheRuleCursor fires a twice-weekly rule that started six
// years before the (fake) clock, across a DST change, and checks after each
// fire that the row's cursor names the pending occurrence exactly as the
// rule expanded from its start does (wall time and place in the rule, which
// COUNT counts); and that a cursor left from another version of the row is
// not used: the next fire expands the rule from its start and is right.
func TestEngineKeepsTheRuleCursor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(now)
	b.clock = clock
	s := b.service(true, nil)
	const tenant, rule, zone, start = "t_cursor", "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;COUNT=700", "Europe/Paris", "2020-01-06T09:00:00"
	mustSchedule(t, s, &triggerv1.ScheduleRequest{
		TenantId: tenant, ScheduleId: "r1", PostId: "post_r1", Revision: 1, Zone: zone, Rrule: rule, StartLocal: start,
	})
	rec, err := compileRecurrence(rule, zone, start, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var want []occurrence
	for o := range rec.occurrences() {
		if o.at.After(now) {
			want = append(want, o)
			if len(want) == 5 {
				break
			}
		}
	}
	ctx := context.Background()
	row := func() schedule {
		t.Helper()
		r, err := loadSchedule(ctx, b.db, tenant, "r1")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i, o := range want[:4] {
		if i == 2 {
			// A cursor of another version, pointing at a wrong place, read
			// by a new engine: it must be ignored.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.db.Exec(ctx, `UPDATE trigger_schedules SET cursor_local = '2020-01-09T09:00:00', cursor_index = 5,
				cursor_version = version - 1 WHERE tenant_id = ? AND id = ?`, tenant, "r1"); err != nil {
				t.Fatal(err)
			}
			s = b.service(true, nil)
		}
		clock.Advance(o.at.Sub(clock.Now()))
		// The clock goes on by a poll at a time, so an engine that made
		// its ticker after the jump loads the occurrence too.
		eventually(t, fmt.Sprintf("occurrence %d to fire", i), func() bool {
			if len(b.dues.of(tenant, "r1")) == i+1 {
				return true
			}
			clock.Advance(testConfig().Poll)
			return false
		})
		got := b.dues.of(tenant, "r1")[i].ev
		if !got.GetDueAt().AsTime().Equal(o.at) || !got.GetNextDueAt().AsTime().Equal(want[i+1].at) {
			t.Fatalf("fire %d: due %v next %v, want due %v next %v", i, got.GetDueAt().AsTime(), got.GetNextDueAt().AsTime(), o.at, want[i+1].at)
		}
		eventually(t, fmt.Sprintf("the row to move past occurrence %d", i), func() bool { return row().due == micros(want[i+1].at) })
		r := row()
		next := want[i+1]
		if c := r.ruleCursor(); c == nil || !c.wall.Equal(next.wall) || c.index != next.index {
			t.Errorf("after fire %d: cursor %q #%d at version %d of %d, want %s #%d at the row's version",
				i, r.cursorLocal, r.cursorIndex, r.cursorVersion, r.version, next.wall.Format(localLayout), next.index)
		}
	}
}
