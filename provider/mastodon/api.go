package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// maxResponseBytes bounds what is read of an API answer: entities are a few
// kilobytes, and an instance (or something posing as one) must not make
// Herald read without end.
const maxResponseBytes = 1 << 20

// exchange is one API call's outcome.
type exchange struct {
	res  *http.Response
	body []byte
	// sent reports whether the request was written out in full before
	// anything failed: only then can the server have acted on it.
	sent bool
}

// do sends req with the token and reads the answer. The rate-limit headers
// are recorded under rateKey when it is not empty. A transport error is
// returned as is, with ex.sent telling whether the request went out.
func (p *Provider) do(req *http.Request, token, rateKey string) (exchange, error) {
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
	req.Header.Set("Accept", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		return exchange{sent: sent.Load()}, err
	}
	defer res.Body.Close()
	if rateKey != "" {
		p.rates.observe(rateKey, res.Header, p.now())
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	// Whatever happens to the body, the status line came back: the request
	// was sent. A failure answer is judged by its status even if its body
	// breaks off; a success needs its body.
	ex := exchange{res: res, body: body, sent: true}
	if err != nil && res.StatusCode < 300 {
		return ex, err
	}
	return ex, nil
}

// apiError is Mastodon's error body; OAuth endpoints add a description.
type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// serverMessage is what the server said went wrong, if it said anything
// readable.
func serverMessage(body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msg := e.Error
	if e.Description != "" {
		msg = e.Description
	}
	// Keep what reaches a user short and single-line.
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// statusError turns a non-success answer to op ("uploading media[0]") into
// a provider error.
func (p *Provider) statusError(ex exchange, op string) *provider.Error {
	code := ex.res.StatusCode
	said := serverMessage(ex.body)
	e := &provider.Error{Status: code}
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	switch {
	case code == http.StatusUnauthorized && tokenExpired(ex.res.Header, said):
		// Doorkeeper says so in WWW-Authenticate and the body; the call
		// had no effect, and Refresh may renew the token.
		e.Kind, e.Message = provider.Expired, msg("the access token has expired")
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = provider.Disconnected, msg("the instance refused the access token")+"; reconnect the account"
	case code == http.StatusForbidden:
		e.Kind, e.Message = provider.Disconnected, msg("the instance refused access")+"; reconnect the account"
	case code == http.StatusNotFound, code == http.StatusGone:
		e.Kind, e.Message = provider.Disconnected, msg("the instance has no such API; is it a Mastodon server?")
	case code >= 300 && code < 400:
		e.Kind = provider.Disconnected
		e.Message = fmt.Sprintf("%s: the instance redirected to %q; reconnect the account with the instance's current address", op, ex.res.Header.Get("Location"))
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("rate limited by the instance")
		e.RetryAfter = p.rateLimitedUntil(ex.res.Header)
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("the instance answered %d %s", code, http.StatusText(code)))
		e.RetryAfter = p.retryAfterHeader(ex.res.Header)
	case code == http.StatusRequestEntityTooLarge:
		e.Kind, e.Message = provider.BadContent, op+": the instance refused it as too large"
	case code >= 400:
		// 422 is Mastodon's answer to content it will not take; other 4xx
		// mean a request it cannot make sense of, which retrying won't fix.
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("the instance refused it (%d %s)", code, http.StatusText(code)))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from the instance", code))
	}
	return e
}

// tokenExpired reports whether a 401 is for an expired (not a revoked or
// unknown) access token.
func tokenExpired(h http.Header, said string) bool {
	return strings.Contains(strings.ToLower(h.Get("WWW-Authenticate")+" "+said), "token expired")
}

// transportError turns a failure to get an answer into a provider error.
// maybeApplied is set for requests with an effect (posting a status): if
// such a request went out, the outcome is Unknown.
func transportError(err error, ex exchange, op string, maybeApplied bool) *provider.Error {
	if errors.Is(err, outbound.ErrRefused) {
		return &provider.Error{Kind: provider.Disconnected, Message: op + ": " + errs.PublicMessage(err), Err: err}
	}
	if maybeApplied && ex.sent {
		return &provider.Error{Kind: provider.Unknown, Message: op + ": no answer from the instance after the request was sent; it may or may not have been posted", Err: err}
	}
	return &provider.Error{Kind: provider.Retry, Message: op + ": could not reach the instance", Err: err}
}

// rateLimitedUntil is when a 429 says to try again: the later of the
// rate-limit reset and Retry-After, or a minute from now if neither is
// given.
func (p *Provider) rateLimitedUntil(h http.Header) time.Time {
	until := p.retryAfterHeader(h)
	if reset, ok := parseReset(h.Get("X-RateLimit-Reset")); ok && reset.After(until) {
		until = reset
	}
	if until.IsZero() {
		until = p.now().Add(defaultRateLimitPause)
	}
	return until
}

// retryAfterHeader reads Retry-After, in seconds or as an HTTP date.
func (p *Provider) retryAfterHeader(h http.Header) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return p.now().Add(time.Duration(secs) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// parseReset reads X-RateLimit-Reset: an ISO 8601 instant on Mastodon,
// Unix seconds on some compatible servers.
func parseReset(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

func newRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("mastodon: building %s %s: %w", method, url, err)
	}
	return req, nil
}
