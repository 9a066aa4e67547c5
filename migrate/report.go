package migrate

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrMismatch is returned (wrapped, with the Report) when the target does
// not hold what the source holds.
var ErrMismatch = errors.New("migrate: the target differs from the source")

// Report is what a run copied and what its verification found.
type Report struct {
	// Tables has one check per table moved, in copy order.
	Tables []TableCheck
	// Media is the check of the media objects; nil when none were moved.
	Media *MediaCheck
	// Notes say what was left alone and why.
	Notes []string
	// Copy is how long copying took (zero for a verification alone);
	// Verify how long verifying took.
	Copy, Verify time.Duration
}

// TableCheck compares one table in the source and the target.
type TableCheck struct {
	Service string
	Table   string
	// SourceRows and TargetRows are the tables' row counts.
	SourceRows, TargetRows int64
	// SourceSum and TargetSum are SHA-256 checksums over the rows in
	// primary-key order, each value normalised to the target column's kind.
	SourceSum, TargetSum string
	// Copied is how many rows this run inserted (rows already in the target
	// from an earlier run are not counted).
	Copied int64
}

// OK reports whether the target's table holds what the source's does.
func (c TableCheck) OK() bool { return c.SourceRows == c.TargetRows && c.SourceSum == c.TargetSum }

// MediaCheck compares the media objects of the source and the target.
type MediaCheck struct {
	// Objects and Bytes are what the source holds.
	Objects int
	Bytes   int64
	// Copied and CopiedBytes are what this run wrote; the other objects
	// were in the target already, with the same size and MD5.
	Copied      int
	CopiedBytes int64
	// Extra counts objects of the target that the source lacks; they are
	// left alone and are no mismatch.
	Extra int
	// Problems has one line per object that differs.
	Problems []string
}

// OK reports whether every table and object matched.
func (r *Report) OK() bool { return len(r.Mismatches()) == 0 }

// Mismatches lists what differs, one line each.
func (r *Report) Mismatches() []string {
	var out []string
	for _, t := range r.Tables {
		switch {
		case t.SourceRows != t.TargetRows:
			out = append(out, fmt.Sprintf("%s: %d rows in the source, %d in the target", t.Table, t.SourceRows, t.TargetRows))
		case t.SourceSum != t.TargetSum:
			out = append(out, fmt.Sprintf("%s: the same %d rows, but their contents differ (checksum %.12s in the source, %.12s in the target)",
				t.Table, t.SourceRows, t.SourceSum, t.TargetSum))
		}
	}
	if r.Media != nil {
		for _, p := range r.Media.Problems {
			out = append(out, "media "+p)
		}
	}
	return out
}

// Rows is the number of rows of the source, over every table.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.SourceRows
	}
	return n
}

// err is the error Run and Verify return with the report.
func (r *Report) err() error {
	m := r.Mismatches()
	if len(m) == 0 {
		return nil
	}
	more := ""
	if len(m) > 5 {
		more = fmt.Sprintf("; and %d more", len(m)-5)
		m = m[:5]
	}
	return fmt.Errorf("%w: %s%s", ErrMismatch, strings.Join(m, "; "), more)
}

// WriteTo writes the report for an operator: a line per table, the media,
// and the verdict.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	width := len("table")
	for _, t := range r.Tables {
		width = max(width, len(t.Table))
	}
	fmt.Fprintf(&b, "%-*s  %11s  %11s  %10s  %-12s\n", width, "table", "source rows", "target rows", "copied now", "checksum")
	for _, t := range r.Tables {
		verdict := "ok"
		if !t.OK() {
			verdict = "DIFFERS"
		}
		sum := fmt.Sprintf("%.12s", t.SourceSum)
		if t.SourceSum != t.TargetSum {
			sum = fmt.Sprintf("%.12s/%.12s", t.SourceSum, t.TargetSum)
		}
		fmt.Fprintf(&b, "%-*s  %11d  %11d  %10d  %s %s\n", width, t.Table, t.SourceRows, t.TargetRows, t.Copied, sum, verdict)
	}
	if m := r.Media; m != nil {
		fmt.Fprintf(&b, "media: %d objects, %s; copied now %d (%s), already there %d",
			m.Objects, bytesText(m.Bytes), m.Copied, bytesText(m.CopiedBytes), m.Objects-m.Copied)
		if m.Extra > 0 {
			fmt.Fprintf(&b, "; %d objects only in the target (left alone)", m.Extra)
		}
		if len(m.Problems) == 0 {
			b.WriteString("; every object has the same size and MD5: ok\n")
		} else {
			fmt.Fprintf(&b, "; %d DIFFER\n", len(m.Problems))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if r.Copy > 0 {
		fmt.Fprintf(&b, "copied in %s, ", r.Copy.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "verified in %s\n", r.Verify.Round(time.Millisecond))
	if m := r.Mismatches(); len(m) > 0 {
		fmt.Fprintf(&b, "MISMATCH: the target differs from the source in %d places:\n", len(m))
		for _, line := range m {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	} else {
		objects := 0
		if r.Media != nil {
			objects = r.Media.Objects
		}
		fmt.Fprintf(&b, "OK: the target holds the same %d rows in %d tables and %d media objects as the source\n",
			r.Rows(), len(r.Tables), objects)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
