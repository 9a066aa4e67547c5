package mastodon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// exchange is one API call's outcome.
type exchange = httpcall.Exchange

// do sends req with the token and reads the answer (see httpcall.DoBearer). The
// rate-limit headers are recorded under rateKey when it is not empty.
func (p *Provider) do(req *http.Request, token, rateKey string) (exchange, error) {
	ex, err := httpcall.DoBearer(p.client, req, token)
	if ex.Res != nil && rateKey != "" {
		p.rates.observe(rateKey, ex.Res.Header, p.now())
	}
	return ex, err
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
	code := ex.Res.StatusCode
	said := serverMessage(ex.Body)
	e := &provider.Error{Status: code}
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	switch {
	case code == http.StatusUnauthorized && tokenExpired(ex.Res.Header, said):
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
		e.Message = fmt.Sprintf("%s: the instance redirected to %q; reconnect the account with the instance's current address", op, ex.Res.Header.Get("Location"))
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("rate limited by the instance")
		e.RetryAfter = p.rateLimitedUntil(ex.Res.Header)
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("the instance answered %d %s", code, http.StatusText(code)))
		e.RetryAfter = p.retryAfterHeader(ex.Res.Header)
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
	return httpcall.TransportError(err, ex, op, "the instance", maybeApplied)
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
	return httpcall.RetryAfter(h, p.now())
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
