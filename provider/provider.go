// Package provider is how Herald talks to a social network. A Provider
// publishes a post for one account and reports failures with a Kind that
// says what to do next (retry later, reconnect the account, fix the
// content), never a bare error.
//
// Providers are libraries, not services: Publisher uses them to publish and
// Portal to connect accounts.
package provider

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Account is a connected social account as a provider needs it.
type Account struct {
	ID          string
	Network     string
	InstanceURL string
	AccessToken string
	Handle      string
}

// Media is one attachment. Open is called for each upload.
type Media struct {
	FileName    string
	MimeType    string
	Size        int64
	Description string
	Open        func(ctx context.Context) (io.ReadCloser, error)
}

// Post is what to publish.
type Post struct {
	Text  string
	Media []Media
	// IdempotencyKey is the same for every try of one publish attempt, so the
	// network can recognise a repeat and not post twice.
	IdempotencyKey string
}

// Result is where the network put the post.
type Result struct {
	RemoteID  string
	RemoteURL string
}

// Profile is what a network says about an account's owner.
type Profile struct {
	RemoteID    string
	Handle      string
	DisplayName string
	URL         string
}

// Limits are a network's content limits.
type Limits struct {
	MaxTextChars  int
	MaxMedia      int
	MaxImageBytes int64
	ImageTypes    []string
}

// Violation is one problem with content.
type Violation struct {
	Field   string
	Message string
}

// Provider publishes to one network.
type Provider interface {
	// Network is the provider's name ("mastodon").
	Network() string
	Limits() Limits
	// Validate checks a post against the network's limits.
	Validate(text string, media []Media) []Violation
	// Publish publishes p for acct. Errors are *Error.
	Publish(ctx context.Context, acct Account, p Post) (Result, error)
	// VerifyCredentials checks acct's token and says whose it is.
	VerifyCredentials(ctx context.Context, acct Account) (Profile, error)
}

// Kind says what to do about a failed call.
type Kind string

const (
	// Retry: a temporary failure (5xx, connection refused before sending);
	// try again later.
	Retry Kind = "retry"
	// RateLimited: the network asked to wait until RetryAfter.
	RateLimited Kind = "rate_limited"
	// BadContent: the network refused the content; retrying won't help.
	BadContent Kind = "bad_content"
	// Disconnected: the token was refused; the account must be reconnected.
	Disconnected Kind = "disconnected"
	// Unknown: the request may or may not have taken effect (timeout, reset
	// after sending). Settle it with the idempotency key, never blindly.
	Unknown Kind = "unknown"
)

// Error is a provider failure.
type Error struct {
	Kind Kind
	// Message is safe to show to the user.
	Message string
	// Status is the HTTP status, if there was one.
	Status int
	// RetryAfter is when to try again, for Retry and RateLimited.
	RetryAfter time.Time
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Kind, e.Message)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// RateLimit is an account's request budget as its network last reported it
// (Mastodon: the X-RateLimit-Limit, -Remaining and -Reset headers).
type RateLimit struct {
	// Limit is the budget of one window; 0 when the network does not say.
	Limit int
	// Remaining is what is left of the budget until Reset.
	Remaining int
	// Reset is when the budget is whole again.
	Reset time.Time
	// Seen is when Herald received these numbers.
	Seen time.Time
}

// Exhausted reports whether the budget is spent at now.
func (r RateLimit) Exhausted(now time.Time) bool {
	return r.Remaining <= 0 && now.Before(r.Reset)
}

// RateLimitReporter is optionally implemented by a Provider that sees the
// network's rate-limit state. Publisher records it after each call and,
// on every node, stops calling the network for an account whose budget is
// spent until it resets. A provider without it is still honoured when it
// refuses a call as RateLimited with a RetryAfter.
type RateLimitReporter interface {
	// RateLimit returns the budget the network reported for acct on its
	// latest response; ok is false when none has been seen.
	RateLimit(acct Account) (rl RateLimit, ok bool)
}
