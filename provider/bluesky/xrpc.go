package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// maxResponseBytes bounds what is read of an XRPC answer: records and
// sessions are a few kilobytes.
const maxResponseBytes = 1 << 20

// call is one XRPC request.
type call struct {
	method string // "com.atproto.repo.createRecord"
	post   bool
	query  url.Values
	// body is JSON-encoded unless raw is set (uploadBlob's bytes).
	body        any
	raw         io.Reader
	contentType string
	token       string
	// rateKey, when set, records the answer's rate-limit headers.
	rateKey string
}

// answer is one call's outcome.
type answer struct {
	status int
	header http.Header
	body   []byte
	// sent reports whether the request went out in full: only then can the
	// PDS have acted on it.
	sent bool
}

// xrpcError is the body of an XRPC failure.
type xrpcError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (a answer) xrpcError() xrpcError {
	var e xrpcError
	_ = json.Unmarshal(a.body, &e)
	return e
}

// do sends c to the PDS at base. A transport failure is returned as is,
// with the answer's sent telling whether the request went out.
func (p *Provider) do(ctx context.Context, base string, c call) (answer, error) {
	u := base + "/xrpc/" + c.method
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	method := http.MethodGet
	var body io.Reader
	if c.post {
		method = http.MethodPost
		switch {
		case c.raw != nil:
			body = c.raw
		case c.body != nil:
			b, err := json.Marshal(c.body)
			if err != nil {
				return answer{}, fmt.Errorf("bluesky: encoding %s: %w", c.method, err)
			}
			body = bytes.NewReader(b)
			c.contentType = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return answer{}, fmt.Errorf("bluesky: building %s: %w", c.method, err)
	}
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	}))
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		return answer{sent: sent.Load()}, err
	}
	defer res.Body.Close()
	if c.rateKey != "" {
		p.rates.observe(c.rateKey, res.Header, p.now())
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	a := answer{status: res.StatusCode, header: res.Header, body: b, sent: true}
	// A failure is judged by its status even if its body breaks off; a
	// success needs its body.
	if err != nil && res.StatusCode < 300 {
		return a, err
	}
	return a, nil
}

// decode reads a successful answer into v.
func (a answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("bluesky: unreadable answer (HTTP %d): %w", a.status, err)
	}
	return nil
}

// Error names the PDS sends in XRPC failures that mean the account's
// session, or the account, is unusable until it is connected again.
var disconnectedErrors = map[string]string{
	"InvalidToken":            "the PDS refused the session",
	"AuthRequired":            "the PDS asked to sign in again",
	"AuthenticationRequired":  "the PDS asked to sign in again",
	"AuthMissing":             "the PDS asked to sign in again",
	"AccountTakedown":         "the account was taken down by its PDS",
	"AccountDeactivated":      "the account is deactivated",
	"RepoTakendown":           "the account was taken down by its PDS",
	"RepoDeactivated":         "the account is deactivated",
	"RepoSuspended":           "the account is suspended",
	"AuthFactorTokenRequired": "the account asks for a sign-in code; use an app password instead",
}

// statusError turns a failed answer to op ("uploading media[0]") into a
// provider error.
func (p *Provider) statusError(a answer, op string) *provider.Error {
	x := a.xrpcError()
	said := strings.Join(strings.Fields(x.Message), " ")
	if len(said) > 300 {
		said = said[:300] + "…"
	}
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: a.status}
	if x.Error != "" {
		e.Err = fmt.Errorf("xrpc error %s", x.Error)
	}
	switch {
	case x.Error == "ExpiredToken":
		e.Kind, e.Message = provider.Expired, op+": the session has expired"
	case disconnectedErrors[x.Error] != "":
		e.Kind, e.Message = provider.Disconnected, op+": "+disconnectedErrors[x.Error]+"; reconnect the account"
	case a.status == http.StatusUnauthorized, a.status == http.StatusForbidden:
		e.Kind, e.Message = provider.Disconnected, msg("the PDS refused access")+"; reconnect the account"
	case a.status == http.StatusTooManyRequests || x.Error == "RateLimitExceeded":
		e.Kind, e.Message = provider.RateLimited, op+": rate limited by the PDS"
		e.RetryAfter = p.rateLimitedUntil(a.header)
	case a.status == http.StatusRequestTimeout, a.status >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("the PDS answered %d %s", a.status, http.StatusText(a.status)))
		e.RetryAfter = p.retryAfter(a.header)
	case a.status == http.StatusNotFound && x.Error == "":
		e.Kind, e.Message = provider.Disconnected, op+": the server has no XRPC API here; is the address a Bluesky PDS?"
	case a.status >= 300 && a.status < 400:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the PDS redirected to %q; reconnect the account with its current address", op, a.header.Get("Location"))
	case a.status == http.StatusRequestEntityTooLarge || x.Error == "BlobTooLarge":
		e.Kind, e.Message = provider.BadContent, op+": the PDS refused it as too large"
	case a.status >= 400:
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("the PDS refused it (%d %s)", a.status, http.StatusText(a.status)))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from the PDS", a.status))
	}
	return e
}

// transportError turns a failure to get an answer into a provider error;
// maybeApplied marks requests with an effect (creating a record), whose
// outcome is Unknown once they went out.
func transportError(err error, a answer, op string, maybeApplied bool) *provider.Error {
	if errors.Is(err, outbound.ErrRefused) {
		return &provider.Error{Kind: provider.Disconnected, Message: op + ": " + errs.PublicMessage(err), Err: err}
	}
	if maybeApplied && a.sent {
		return &provider.Error{Kind: provider.Unknown, Message: op + ": no answer from the PDS after the request was sent; it may or may not have been posted", Err: err}
	}
	return &provider.Error{Kind: provider.Retry, Message: op + ": could not reach the PDS", Err: err}
}

// rateLimitedUntil is when a 429 says to try again: the later of
// RateLimit-Reset (Unix seconds, as the Bluesky PDS sends it) and
// Retry-After, or a minute from now if neither is given.
func (p *Provider) rateLimitedUntil(h http.Header) time.Time {
	until := p.retryAfter(h)
	if reset, ok := parseReset(h.Get("RateLimit-Reset")); ok && reset.After(until) {
		until = reset
	}
	if until.IsZero() {
		until = p.now().Add(time.Minute)
	}
	return until
}

// retryAfter reads Retry-After, in seconds or as an HTTP date.
func (p *Provider) retryAfter(h http.Header) time.Time {
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

// parseReset reads RateLimit-Reset: Unix seconds.
func parseReset(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
