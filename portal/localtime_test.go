package portal

import (
	"strings"
	"testing"
	"time"
)

func TestResolveLocal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		zone, wall string
		wantUTC    string // "" when the wall time must be refused
		wantErr    string
	}{
		{zone: "Europe/Paris", wall: "2030-06-01T09:30", wantUTC: "2030-06-01T07:30:00Z"},
		{zone: "Europe/Paris", wall: "2030-01-15T09:30:15", wantUTC: "2030-01-15T08:30:15Z"},
		// Spring forward: 02:00-03:00 does not exist on 2030-03-31.
		{zone: "Europe/Paris", wall: "2030-03-31T02:30", wantErr: "does not exist"},
		{zone: "Europe/Paris", wall: "2030-03-31T03:00", wantUTC: "2030-03-31T01:00:00Z"},
		// Fall back: 02:30 happens twice on 2030-10-27; the earlier (CEST) wins.
		{zone: "Europe/Paris", wall: "2030-10-27T02:30", wantUTC: "2030-10-27T00:30:00Z"},
		{zone: "America/New_York", wall: "2030-03-10T02:15", wantErr: "does not exist"},
		{zone: "America/New_York", wall: "2030-11-03T01:30", wantUTC: "2030-11-03T05:30:00Z"},
		// Half-hour DST shift.
		{zone: "Australia/Lord_Howe", wall: "2030-04-07T01:45", wantUTC: "2030-04-06T14:45:00Z"},
		{zone: "UTC", wall: "2030-03-31T02:30", wantUTC: "2030-03-31T02:30:00Z"},
		{zone: "Asia/Kolkata", wall: "2030-03-31T02:30", wantUTC: "2030-03-30T21:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.wall, func(t *testing.T) {
			t.Parallel()
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			wall, err := parseWall(tt.wall)
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolveLocal(wall, loc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := got.UTC().Format(time.RFC3339); s != tt.wantUTC {
				t.Fatalf("got %s, want %s", s, tt.wantUTC)
			}
			if got.Location().String() != tt.zone {
				t.Fatalf("location %s", got.Location())
			}
		})
	}
}

func TestParseWallRefusesOtherForms(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "2030-06-01", "2030-06-01T09:30Z", "2030-06-01 09:30", "2030-13-01T09:30", "tomorrow"} {
		if _, err := parseWall(s); err == nil {
			t.Errorf("parseWall(%q) accepted it", s)
		}
	}
}
