package portable

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Query reads the options of a cache URL. Each problem is recorded against
// the option's name; Err reports them all at once, with any option nobody
// asked for, so that a typo is an error rather than silently ignored.
type Query struct {
	vals  url.Values
	asked []string
	v     errs.Fields
}

// NewQuery reads u's query string.
func NewQuery(u *url.URL) *Query {
	q := &Query{vals: u.Query()}
	return q
}

// Problem records a problem with a field of the URL that is not an option
// ("url", "host", ...).
func (q *Query) Problem(field, format string, args ...any) { q.v.Add(field, format, args...) }

// value returns the last value given for name, and whether it was given.
func (q *Query) value(name string) (string, bool) {
	q.asked = append(q.asked, name)
	vals, ok := q.vals[name]
	if !ok || len(vals) == 0 {
		return "", false
	}
	return vals[len(vals)-1], true
}

// Duration reads a duration option ("5m", "250ms"); min is the least value
// accepted (0 to accept "0").
func (q *Query) Duration(name string, def, min time.Duration) time.Duration {
	s, ok := q.value(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < min {
		if min == 0 {
			q.v.Add(name, "must be a duration such as 5m or 0, not %q", s)
		} else {
			q.v.Add(name, "must be a duration of at least %v, such as 5m, not %q", min, s)
		}
		return def
	}
	return d
}

// Int reads a positive count.
func (q *Query) Int(name string, def int) int {
	s, ok := q.value(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		q.v.Add(name, "must be a whole number of at least 1, not %q", s)
		return def
	}
	return n
}

// Err returns every problem found, including options that were given but
// never asked for, as one errs.Invalid error whose message names the URL
// (redacted).
func (q *Query) Err(redactedURL string) error {
	for name := range q.vals {
		if !slices.Contains(q.asked, name) {
			known := slices.Clone(q.asked)
			slices.Sort(known)
			q.v.Add(name, "unknown option (known: %s)", strings.Join(known, ", "))
		}
	}
	if err := q.v.Err(); err != nil {
		e, _ := errs.As(err)
		e.Message = fmt.Sprintf("cache URL %s is not valid", redactedURL)
		return e
	}
	return nil
}

// Unreachable is the error of an Open whose server did not answer or
// refused it: one line naming the port, the URL without its password and
// the cause, so that a node that cannot start says why at once.
func Unreachable(redactedURL string, kind errs.Kind, err error) error {
	what := "cannot reach the server"
	if kind == errs.Unauthenticated {
		what = "the server refused the credentials"
	}
	return errs.Wrap(err, kind, fmt.Sprintf("cache %s: %s", redactedURL, what))
}
