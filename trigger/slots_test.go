package trigger

import (
	"slices"
	"testing"
	"time"
)

func mustSlots(t *testing.T, texts ...string) []slot {
	t.Helper()
	var out []slot
	for _, x := range texts {
		got, err := parseSlotsText(x)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// The instants below are worked out by hand from the zones' published
// transitions, not by the code under test.
func TestSlotInstantsFollowTheDSTRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		zone  string
		slots []string
		from  string
		want  []string
	}{
		{
			name: "weekly, strictly after from", zone: "UTC", slots: []string{"1 09:00"},
			from: "2026-03-02T09:00:00Z", // a Monday, at the slot itself
			want: []string{"2026-03-09T09:00:00Z", "2026-03-16T09:00:00Z"},
		},
		{
			// Paris jumps from 02:00 to 03:00 on Sunday 29 March 2026:
			// 02:30 does not exist and moves forward by the gap, to 03:30
			// CEST, after 03:15 of the same day.
			name: "a wall time in a gap moves forward, past a later slot", zone: "Europe/Paris", slots: []string{"7 02:30", "7 03:15"},
			from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z", "2026-04-05T00:30:00Z", "2026-04-05T01:15:00Z"},
		},
		{
			name: "two slots resolving to one instant are one slot", zone: "Europe/Paris", slots: []string{"7 02:30", "7 03:30"},
			from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:30:00Z", "2026-04-05T00:30:00Z", "2026-04-05T01:30:00Z"},
		},
		{
			// Paris sets clocks back from 03:00 to 02:00 on Sunday 25
			// October 2026: 02:30 happens twice; the slot is the first.
			name: "a wall time that exists twice is the earlier instant", zone: "Europe/Paris", slots: []string{"7 02:30", "7 03:00"},
			from: "2026-10-24T12:00:00Z",
			want: []string{"2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-11-01T01:30:00Z", "2026-11-01T02:00:00Z"},
		},
		{
			name: "New York spring forward", zone: "America/New_York", slots: []string{"7 02:30"},
			from: "2026-03-07T00:00:00Z",
			want: []string{"2026-03-08T07:30:00Z", "2026-03-15T06:30:00Z"},
		},
		{
			// Samoa skipped Friday 30 December 2011 (UTC-10 to UTC+14): that
			// Friday's 09:00 moves a whole day forward onto Saturday's.
			name: "a skipped day merges into the next", zone: "Pacific/Apia", slots: []string{"4 09:00", "5 09:00", "6 09:00"},
			from: "2011-12-28T00:00:00Z",
			want: []string{"2011-12-29T19:00:00Z", "2011-12-30T19:00:00Z", "2012-01-04T19:00:00Z"},
		},
		{
			name: "wall times are ordered across weekdays", zone: "Asia/Tokyo", slots: []string{"5 23:59", "1 00:00", "3 12:00"},
			from: "2026-03-01T00:00:00Z", // Sunday 09:00 in Tokyo
			want: []string{"2026-03-01T15:00:00Z", "2026-03-04T03:00:00Z", "2026-03-06T14:59:00Z", "2026-03-08T15:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			table := newWeekTable(loc, mustSlots(t, tt.slots...))
			var got []string
			for at := range table.after(utc(t, tt.from)) {
				got = append(got, at.UTC().Format(time.RFC3339))
				if len(got) == len(tt.want) {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("slots after %s:\n got %v\nwant %v", tt.from, got, tt.want)
			}
		})
	}
}

func TestPlanKeepsOrder(t *testing.T) {
	t.Parallel()
	// Slots every day at 09:00 UTC; now is Tuesday 3 March 2026 at noon.
	table := newWeekTable(time.UTC, mustSlots(t, "1 09:00,2 09:00,3 09:00,4 09:00,5 09:00,6 09:00,7 09:00"))
	now := utc(t, "2026-03-03T12:00:00Z")
	day := func(d int) int64 { return time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC).UnixMicro() }
	tests := []struct {
		name       string
		dues, want []int64
		keep       bool
	}{
		{name: "release: passed slots move after now, later ones keep theirs", keep: true,
			dues: []int64{day(2), day(3), day(9), day(12)}, want: []int64{day(4), day(5), day(9), day(12)}},
		{name: "release: a kept slot must follow the previous post's new slot", keep: true,
			dues: []int64{day(1), day(2), day(3), day(5)}, want: []int64{day(4), day(5), day(6), day(7)}},
		{name: "release: all in the future, nothing moves", keep: true,
			dues: []int64{day(4), day(6)}, want: []int64{day(4), day(6)}},
		{name: "new table: every post takes the next slot", keep: false,
			dues: []int64{day(4), day(9), day(20)}, want: []int64{day(4), day(5), day(6)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := table.plan(tt.dues, now, tt.keep); !slices.Equal(got, tt.want) {
				t.Errorf("plan = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseLocalTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		minute int
		ok     bool
	}{
		{"00:00", 0, true}, {"23:59", 23*60 + 59, true}, {"09:30", 570, true},
		{"9:30", 0, false}, {"24:00", 0, false}, {"12:60", 0, false}, {"+1:30", 0, false},
		{"12:3a", 0, false}, {"12-30", 0, false}, {"", 0, false}, {"12:30:00", 0, false},
	}
	for _, tt := range tests {
		m, ok := parseLocalTime(tt.in)
		if ok != tt.ok || (ok && m != tt.minute) {
			t.Errorf("parseLocalTime(%q) = %d, %v; want %d, %v", tt.in, m, ok, tt.minute, tt.ok)
		}
	}
}
