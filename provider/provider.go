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
	ID      string
	Network string
	// InstanceURL is the account's server where the network has several
	// (a Mastodon instance, a Bluesky PDS) and the API's base URL where a
	// deployment overrides it (simnet in tests); empty means the network's
	// public API.
	InstanceURL string
	AccessToken string
	Handle      string
	// RemoteID is the network's id for what Herald posts as: a Bluesky DID,
	// a Facebook page id, an Instagram business account id, a LinkedIn
	// member or organisation URN, a Telegram chat id.
	RemoteID string
	// RefreshToken and ExpiresAt are the credentials' renewal, for networks
	// whose access tokens expire (zero ExpiresAt: never, or unknown).
	RefreshToken string
	ExpiresAt    time.Time
	// Secret is a credential that is neither an access nor a refresh token:
	// a signed webhook's signing secret.
	Secret string
}

// Credentials are what a connect flow or a refresh yields.
type Credentials struct {
	AccessToken string
	// RefreshToken is empty when the network did not issue a new one: the
	// stored one stays (a refresh never erases a refresh token).
	RefreshToken string
	ExpiresAt    time.Time
}

// Media is one attachment. Open is called for each upload.
type Media struct {
	// Key is the file's key in Herald's blob store, for providers that
	// hand the network a signed link to it (mediaurl) instead of the bytes.
	Key         string
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
	// ReplyTo, when set, makes this post a reply to (a thread's next part)
	// or, with AsComment, a comment on an earlier post of the same account.
	// Root is the thread's first post (networks that need both, as Bluesky
	// does); nil means ReplyTo is the root.
	ReplyTo   *Result
	Root      *Result
	AsComment bool
}

// Result is where the network put the post.
type Result struct {
	RemoteID  string
	RemoteURL string
	// Ref is the provider's own reference to the post, opaque to Herald and
	// stored with the attempt: what it needs to reply to, look up or delete
	// the post later (a Bluesky strong ref, "at-uri cid").
	Ref string
}

// Profile is what a network says about an account's owner.
type Profile struct {
	RemoteID    string
	Handle      string
	DisplayName string
	URL         string
}

// Limits are a network's content limits and capabilities. Text length is
// counted the network's way by the provider's Validate (graphemes for
// Bluesky, weighted characters for X); MaxTextChars is in that unit.
type Limits struct {
	MaxTextChars  int
	MaxMedia      int
	MaxImageBytes int64
	ImageTypes    []string
	// MaxVideoBytes and VideoTypes: zero and empty when videos are not
	// supported.
	MaxVideoBytes int64
	VideoTypes    []string
	// MaxAltTextChars is the longest media description; 0 when the network
	// takes none.
	MaxAltTextChars int
	// MediaRequired: a post without media is refused (Instagram).
	MediaRequired bool
	// Threads: a post may reply to the account's previous post, so a thread
	// publishes part by part. FirstComment: a comment can follow the post.
	Threads      bool
	FirstComment bool
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

// Looker is implemented by a provider that can find a post it published
// by the attempt's idempotency key, to settle an unknown outcome without a
// blind retry (the key is carried in the post where the network has no
// idempotency of its own, or the record key is derived from it).
type Looker interface {
	// Lookup returns the post published for acct under key; found is false
	// when the network has none. Errors are *Error.
	Lookup(ctx context.Context, acct Account, key string) (res Result, found bool, err error)
}

// Deduper is implemented by a provider whose network recognises a repeat
// of a post's IdempotencyKey and does not post it twice (Mastodon's
// Idempotency-Key header, Bluesky's caller-chosen record keys, Herald's
// signed webhook whose receivers deduplicate on its id). Publisher retries
// an unknown outcome under the same key only with a Looker or a Deduper;
// for any other network an unknown outcome goes to the user to decide, as
// a retry could post twice.
type Deduper interface {
	DedupesByKey() bool
}

// Deleter is implemented by a provider that can delete a published post.
type Deleter interface {
	Delete(ctx context.Context, acct Account, res Result) error
}

// Refresher is implemented by a provider whose access tokens expire.
// Publisher calls it once per account however many publishes need it.
type Refresher interface {
	// NeedsRefresh reports whether acct's credentials should be renewed
	// before a call at now.
	NeedsRefresh(acct Account, now time.Time) bool
	// Refresh renews acct's credentials. A Disconnected error means the
	// refresh token itself was refused.
	Refresh(ctx context.Context, acct Account) (Credentials, error)
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
	// Expired: the access token has expired but may be renewed with the
	// refresh token (Refresher); the call had no effect.
	Expired Kind = "expired"
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

// ConnectField is one input of a network's connect form, for networks whose
// accounts connect with what the user types (an app password, a bot token,
// a webhook URL) rather than through OAuth.
type ConnectField struct {
	// Name is the input's name ("bot_token"); field errors use it.
	Name  string
	Label string
	// Help says where to find the value.
	Help        string
	Placeholder string
	// Secret inputs are typed into a password field and never shown back.
	Secret   bool
	Optional bool
}

// Connected is an account a connect form verified with its network: what
// Portal stores. Account.InstanceURL is shown to the user, so a URL that is
// itself a credential (a Discord or Slack webhook) travels in AccessToken,
// which is sealed; Account.RemoteID is what Publish needs as the account's
// remote id.
type Connected struct {
	Account Account
	Profile Profile
}

// FormConnector is implemented by a provider whose accounts connect with a
// form. ConnectForm returns an errs.Fields error naming the inputs at fault,
// or a *Error for what the network refused.
type FormConnector interface {
	ConnectFields() []ConnectField
	ConnectForm(ctx context.Context, values map[string]string) (Connected, error)
}
