package store

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"none", "SELECT 1", "SELECT 1"},
		{"in order", "SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"in a literal", "SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1"},
		{"after an escaped quote", "UPDATE t SET a = 'it''s ?' WHERE b = ?", "UPDATE t SET a = 'it''s ?' WHERE b = $1"},
		{"in a quoted identifier", `SELECT "odd?col" FROM t WHERE a = ?`, `SELECT "odd?col" FROM t WHERE a = $1`},
		{"in a line comment", "SELECT a -- why? the owner's\nFROM t WHERE b = ?", "SELECT a -- why? the owner's\nFROM t WHERE b = $1"},
		{"in a block comment", "SELECT a /* the post's id? */ FROM t WHERE b = ?", "SELECT a /* the post's id? */ FROM t WHERE b = $1"},
		{"many", "VALUES (?,?,?,?,?,?,?,?,?,?,?)", "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"},
		{"a lone minus", "SELECT ? - 1", "SELECT $1 - 1"},
	}
	pg := New(nil, Config{Dialect: Postgres})
	lite := New(nil, Config{Dialect: SQLite})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := pg.rebind(tc.in); got != tc.want {
				t.Errorf("postgres rebind(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if got := lite.rebind(tc.in); got != tc.in {
				t.Errorf("sqlite rebind(%q) = %q, want it unchanged", tc.in, got)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	Register("storetest-fake", func(ctx context.Context, u *url.URL) (*DB, error) {
		return nil, errors.New("fake opener reached")
	})
	if !slices.Contains(Schemes(), "storetest-fake") {
		t.Errorf("Schemes() = %v, want it to list a registered scheme", Schemes())
	}
	tests := []struct {
		url     string
		want    string
		notWant string
	}{
		{"nosuch://x", `unknown scheme "nosuch"`, ""},
		{"postgres-typo://user:s3cret@host/db", `unknown scheme "postgres-typo"`, "s3cret"},
		{"storetest-fake://x", "fake opener reached", ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			_, err := Open(t.Context(), tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v, want an error mentioning %q", tc.url, err, tc.want)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("Open(%q) = %v, shows %q", tc.url, err, tc.notWant)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://herald:s3cret@db:5432/herald?sslmode=disable", "postgres://herald:xxxxx@db:5432/herald?sslmode=disable"},
		{"postgres://herald@db/herald", "postgres://herald@db/herald"},
		{"sqlite://herald-data/herald.db", "sqlite://herald-data/herald.db"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMicros(t *testing.T) {
	t.Parallel()
	if got := ToMicros(time.Time{}); got != 0 {
		t.Errorf("ToMicros(zero) = %d, want 0", got)
	}
	if got := FromMicros(0); !got.IsZero() {
		t.Errorf("FromMicros(0) = %v, want the zero time", got)
	}
	in := time.Date(2025, 10, 26, 2, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	us := ToMicros(in)
	if us != in.UnixMicro() {
		t.Errorf("ToMicros = %d, want %d", us, in.UnixMicro())
	}
	out := FromMicros(us)
	if !out.Equal(in.Truncate(time.Microsecond)) || out.Location() != time.UTC {
		t.Errorf("FromMicros(ToMicros(%v)) = %v, want the same instant to the microsecond, in UTC", in, out)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	err := NotFound(sql.ErrNoRows, "schedule")
	if !errs.Is(err, errs.NotFound) || !strings.Contains(errs.PublicMessage(err), "schedule") {
		t.Errorf("NotFound(ErrNoRows) = %v, want a NotFound error naming the schedule", err)
	}
	other := errors.New("boom")
	if got := NotFound(other, "schedule"); got != other {
		t.Errorf("NotFound(other) = %v, want it unchanged", got)
	}
}
