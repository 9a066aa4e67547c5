// Package httpapi is what the OAuth 2.0 REST providers (X, LinkedIn) share:
// sending a call and knowing whether it went out, reading a bounded answer,
// turning transport failures, Retry-After and expired tokens into
// provider errors, keeping the latest rate-limit state per account, and
// the OAuth 2.0 code exchange and refresh through golang.org/x/oauth2.
//
// It must never follow redirects on API calls (a redirected POST would be
// replayed as a GET elsewhere) nor put tokens or client secrets in errors.
package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// MaxResponseBytes bounds what is read of an API answer.
const MaxResponseBytes = 1 << 20

// NoRedirects returns a copy of client (outbound.NewClient's default when
// nil) that never follows redirects.
func NoRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = outbound.NewClient(outbound.Policy{})
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Exchange is one call's outcome.
type Exchange struct {
	Res  *http.Response
	Body []byte
	// Sent reports whether the request was written out in full before
	// anything failed: only then can the server have acted on it.
	Sent bool
}

// Do sends req with the bearer token and reads the answer. A transport
// error is returned as is, with ex.Sent telling whether the request went
// out. A failure answer whose body breaks off is still returned; a success
// needs its body.
func Do(client *http.Client, req *http.Request, token string) (Exchange, error) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
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

// TransportError turns a failure to get an answer into a provider error.
// maybeApplied is set for calls with an effect (creating a post): if such
// a call went out, the outcome is Unknown.
func TransportError(err error, ex Exchange, network, op string, maybeApplied bool) *provider.Error {
	if errors.Is(err, outbound.ErrRefused) {
		return &provider.Error{Kind: provider.Disconnected, Message: op + ": " + errs.PublicMessage(err), Err: err}
	}
	if maybeApplied && ex.Sent {
		return &provider.Error{Kind: provider.Unknown, Message: fmt.Sprintf("%s: no answer from %s after the request was sent; it may or may not have been posted", op, network), Err: err}
	}
	return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: could not reach %s", op, network), Err: err}
}

// RetryAfter reads Retry-After, in seconds or as an HTTP date; zero when
// absent.
func RetryAfter(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// ClockSkew is how early before its recorded expiry an access token is
// taken for expired, since the network's clock and Herald's differ.
const ClockSkew = time.Minute

// Unauthorized is the error for a 401: Expired when acct's access token
// has (about) expired, so a refresh may fix it, else Disconnected.
func Unauthorized(acct provider.Account, now time.Time, status int, op, said string) *provider.Error {
	if said != "" {
		said = ": " + said
	}
	if !acct.ExpiresAt.IsZero() && !now.Before(acct.ExpiresAt.Add(-ClockSkew)) {
		return &provider.Error{Kind: provider.Expired, Status: status, Message: op + ": the access token has expired" + said}
	}
	return &provider.Error{Kind: provider.Disconnected, Status: status, Message: op + ": the network refused the access token" + said + "; reconnect the account"}
}

// NeedsRefresh reports whether acct's access token expires within margin
// of now and can be renewed (it has a refresh token).
func NeedsRefresh(acct provider.Account, now time.Time, margin time.Duration) bool {
	if acct.RefreshToken == "" || acct.ExpiresAt.IsZero() {
		return false
	}
	return !now.Add(margin).Before(acct.ExpiresAt)
}

// AccountKey tells accounts apart in a RateBook: by Account.ID, or, without
// one, by a hash of the token (never the token in clear).
func AccountKey(acct provider.Account) string {
	if acct.ID != "" {
		return acct.ID
	}
	sum := sha256.Sum256([]byte(acct.InstanceURL + "\n" + acct.AccessToken))
	return "anon:" + hex.EncodeToString(sum[:16])
}

// RateBook keeps the latest rate-limit state per account.
type RateBook struct {
	mu sync.Mutex
	m  map[string]provider.RateLimit
}

// Get returns the state recorded under key.
func (b *RateBook) Get(key string) (provider.RateLimit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	return r, ok
}

// Observe records next under key. Answers can arrive out of order when an
// account has several calls in flight, so an older window never replaces a
// newer one, and within one window the lowest remaining count wins.
func (b *RateBook) Observe(key string, next provider.RateLimit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]provider.RateLimit{}
	}
	if prev, ok := b.m[key]; ok {
		switch {
		case prev.Reset.After(next.Reset):
			return
		case prev.Reset.Equal(next.Reset) && prev.Remaining < next.Remaining:
			next.Remaining = prev.Remaining
		}
	}
	b.m[key] = next
}

// NewRequest builds a request; a failure is a programming error or a
// malformed account URL.
func NewRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, url, err)
	}
	return req, nil
}

// Short keeps what reaches a user short and on one line.
func Short(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
