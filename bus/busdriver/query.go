package busdriver

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Query reads an adapter's options from its URL's query, collecting every
// problem (a malformed value, an option given twice, an option the adapter
// does not know) as an errs.Fields entry named after the option, so a typo
// in a configuration file is reported rather than silently ignored.
//
//	q := busdriver.NewQuery(u.Query())
//	ackWait := q.Duration("ack_wait", 30*time.Second, time.Second)
//	if err := q.Err(); err != nil { ... }
type Query struct {
	v    url.Values
	used map[string]bool
	f    errs.Fields
}

// NewQuery reads v.
func NewQuery(v url.Values) *Query { return &Query{v: v, used: map[string]bool{}} }

// raw returns the option's value and whether it was given.
func (q *Query) raw(name string) (string, bool) {
	q.used[name] = true
	vs, ok := q.v[name]
	if !ok {
		return "", false
	}
	if len(vs) > 1 {
		q.f.Add(name, "is given %d times; give it once", len(vs))
	}
	return vs[0], true
}

// String returns the option, or def when it is absent. An empty value is
// refused: it is more likely a mistake than a wish for "".
func (q *Query) String(name, def string) string {
	s, ok := q.raw(name)
	if !ok {
		return def
	}
	if s == "" {
		q.f.Add(name, "must not be empty")
		return def
	}
	return s
}

// OneOf returns the option, which must be one of allowed, or def.
func (q *Query) OneOf(name, def string, allowed ...string) string {
	s, ok := q.raw(name)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		q.f.Add(name, "must be one of %s, not %q", strings.Join(allowed, ", "), s)
		return def
	}
	return s
}

// Duration returns the option, a Go duration ("30s", "1m") of at least min,
// or def. Zero is accepted when min is zero (it usually means "none").
func (q *Query) Duration(name string, def, min time.Duration) time.Duration {
	s, ok := q.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		q.f.Add(name, "must be a duration such as 30s or 5m, not %q", s)
		return def
	case d < min:
		q.f.Add(name, "must be at least %v, not %v", min, d)
		return def
	}
	return d
}

// Int returns the option, an integer of at least min, or def.
func (q *Query) Int(name string, def, min int) int {
	s, ok := q.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		q.f.Add(name, "must be an integer, not %q", s)
		return def
	case n < min:
		q.f.Add(name, "must be at least %d, not %d", min, n)
		return def
	}
	return n
}

// Bool returns the option ("true", "false", "1", "0"), or def.
func (q *Query) Bool(name string, def bool) bool {
	s, ok := q.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.f.Add(name, "must be true or false, not %q", s)
		return def
	}
	return b
}

// Fail records a problem with an option that the adapter checked itself.
func (q *Query) Fail(name, format string, args ...any) {
	q.f.Add(name, format, args...)
}

// Err returns every problem found, including options that were given but
// never read (unknown to the adapter), or nil.
func (q *Query) Err() error {
	for name := range q.v {
		if !q.used[name] {
			q.f.Add(name, "is not an option of this bus (%s)", q.known())
		}
	}
	return q.f.Err()
}

func (q *Query) known() string {
	names := make([]string, 0, len(q.used))
	for n := range q.used {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Sprintf("known: %s", strings.Join(names, ", "))
}
