// Package httpcall is what the providers that talk to a network over plain
// HTTP share about making one call: knowing whether the request went out
// before a failure (only then can a post exist), reading a bounded answer,
// turning Retry-After into an instant and a transport failure into a
// *provider.Error, keeping the latest rate-limit state per key, and, for
// the OAuth 2.0 networks, bearer calls, expired tokens and the code
// exchange and refresh through golang.org/x/oauth2 (oauth.go). It holds no
// network's rules; each provider maps its own status codes and bodies.
//
// It must never retry a request (whether to repeat a post is the
// Publisher's decision), never follow redirects on API calls (a redirected
// POST would be replayed as a GET elsewhere) and never put tokens or
// client secrets in errors.
package httpcall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// MaxResponseBytes bounds what is read of an answer: these APIs answer with
// a few kilobytes, and a server (or something posing as one) must not make
// Herald read without end.
const MaxResponseBytes = 1 << 20

// Exchange is one call's outcome.
type Exchange struct {
	Res  *http.Response
	Body []byte
	// Sent reports whether the request was written out in full before
	// anything failed: only then can the server have acted on it.
	Sent bool
}

// Status is the answer's status code, 0 without an answer.
func (ex Exchange) Status() int {
	if ex.Res == nil {
		return 0
	}
	return ex.Res.StatusCode
}

// NoRedirects returns a copy of client (nil: an outbound client with the
// default policy) that never follows redirects: a redirected POST would be
// replayed as a GET elsewhere, and a webhook URL that moved is a
// configuration problem to show, not to hide.
func NoRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = outbound.NewClient(outbound.Policy{})
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Do sends req and reads the answer. A transport error is returned as is,
// with ex.Sent telling whether the request went out. A failure answer is
// judged by its status even if its body breaks off; a success needs its
// body, so a broken success body is an error (with Sent set).
func Do(client *http.Client, req *http.Request) (Exchange, error) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := client.Do(req)
	if err != nil {
		return Exchange{Sent: sent.Load()}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes))
	ex := Exchange{Res: res, Body: body, Sent: true}
	if err != nil && res.StatusCode < 300 {
		return ex, err
	}
	return ex, nil
}

// NewRequest builds a request, failing as a BadContent provider error (a
// request that cannot be built will not build on a retry either).
func NewRequest(ctx context.Context, method, url string, body io.Reader, op string) (*http.Request, *provider.Error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, &provider.Error{Kind: provider.BadContent, Message: op + ": the request could not be built", Err: err}
	}
	return req, nil
}

// TransportError turns a failure to get an answer from peer ("Telegram")
// into a provider error. maybeApplied is set for requests with an effect
// (posting): if such a request went out, the outcome is Unknown. A context
// cancelled before sending is a Retry; an address the outbound policy
// refuses is Disconnected (the account's URL must change).
func TransportError(err error, ex Exchange, op, peer string, maybeApplied bool) *provider.Error {
	if errors.Is(err, outbound.ErrRefused) {
		return &provider.Error{Kind: provider.Disconnected, Message: op + ": " + errs.PublicMessage(err), Err: err}
	}
	if maybeApplied && ex.Sent {
		return &provider.Error{Kind: provider.Unknown, Status: ex.Status(), Message: fmt.Sprintf("%s: no answer from %s after the request was sent; it may or may not have been posted", op, peer), Err: err}
	}
	return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: could not reach %s", op, peer), Err: err}
}

// RetryAfter reads a Retry-After header (seconds, possibly fractional, or
// an HTTP date) as an instant; zero when absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return After(now, secs)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// After is now plus secs seconds, rounded up to the millisecond; zero for a
// negative, infinite or absurd (over a day) wait, which is not to be
// trusted.
func After(now time.Time, secs float64) time.Time {
	if secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) || secs > 86400 {
		return time.Time{}
	}
	return now.Add(time.Duration(math.Ceil(secs*1000)) * time.Millisecond)
}

// Later returns the later of two instants.
func Later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Short keeps what a server said short and on one line, fit to show a user.
func Short(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return msg
}

// Redact takes secret (a bot secret, a webhook secret) out of err: net/http
// puts the request's URL, which carries it, in its errors.
func Redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = strings.ReplaceAll(ue.URL, secret, "<redacted>")
	}
	if !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), secret, "<redacted>"), err: err}
}

// redacted keeps err for errors.Is (timeouts, the outbound policy) but
// shows its text without the secret.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
