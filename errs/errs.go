package errs

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Kind says what went wrong in a way the caller can act on.
type Kind string

const (
	Internal        Kind = "internal"
	Invalid         Kind = "invalid"
	NotFound        Kind = "not_found"
	Conflict        Kind = "conflict"
	Forbidden       Kind = "forbidden"
	Unauthenticated Kind = "unauthenticated"
	Unavailable     Kind = "unavailable"
	RateLimited     Kind = "rate_limited"
	TooLarge        Kind = "too_large"
)

// Error is a Herald error.
type Error struct {
	Kind Kind
	// Message is safe to show to the user.
	Message string
	// Fields maps an input field ("text", "due_at", "media[0]") to what is
	// wrong with it.
	Fields map[string]string
	// Err is the cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(k + ": " + e.Fields[k])
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k with a user-facing message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap gives err a kind and a user-facing message, keeping err as the cause.
func Wrap(err error, k Kind, msg string) *Error {
	return &Error{Kind: k, Message: msg, Err: err}
}

// Fields is a builder for field-by-field validation errors.
//
//	var v errs.Fields
//	if text == "" { v.Add("text", "must not be empty") }
//	if err := v.Err(); err != nil { return err }
type Fields map[string]string

// Add records a problem with field; the first problem of a field wins.
func (f *Fields) Add(field, format string, args ...any) {
	if *f == nil {
		*f = make(Fields)
	}
	if _, ok := (*f)[field]; !ok {
		(*f)[field] = fmt.Sprintf(format, args...)
	}
}

// Err returns an Invalid error holding the fields, or nil if there are none.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: "some fields are not valid", Fields: map[string]string(f)}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// Internal for any other non-nil error, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// HTTPStatus is the HTTP status for err.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case "":
		return http.StatusOK
	case Invalid:
		return http.StatusUnprocessableEntity
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Forbidden:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case Unavailable:
		return http.StatusServiceUnavailable
	case RateLimited:
		return http.StatusTooManyRequests
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusInternalServerError
	}
}

// PublicMessage is what may be shown to an end user for err: its message for
// a Herald error, and a generic sentence for anything else, so internals
// never leak.
func PublicMessage(err error) string {
	if e, ok := As(err); ok && e.Message != "" {
		return e.Message
	}
	switch KindOf(err) {
	case NotFound:
		return "not found"
	case Unavailable:
		return "temporarily unavailable, try again shortly"
	}
	return "internal error"
}
