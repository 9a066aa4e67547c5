package x

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// problem is X's error body: v2's problem shape, with the v1.1 errors
// array some endpoints still answer with.
type problem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Errors []struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"errors"`
}

func (pr problem) say() string {
	msg := pr.Detail
	if msg == "" && len(pr.Errors) > 0 {
		msg = pr.Errors[0].Message
	}
	if msg == "" {
		msg = pr.Title
	}
	return httpcall.Short(msg)
}

// call sends req for acct. Only answers of POST /2/tweets feed the rate
// book (record), the budget that decides whether Herald may publish.
func (p *Provider) call(req *http.Request, acct provider.Account, record bool) (httpcall.Exchange, error) {
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err == nil && record {
		if rl, ok := p.rateHeaders(ex.Res.Header); ok {
			p.rates.Observe(httpcall.AccountKey(acct), rl)
		}
	}
	return ex, err
}

func (p *Provider) rateHeaders(h http.Header) (provider.RateLimit, bool) {
	limit, err1 := strconv.Atoi(h.Get("x-rate-limit-limit"))
	remaining, err2 := strconv.Atoi(h.Get("x-rate-limit-remaining"))
	reset, err3 := strconv.ParseInt(h.Get("x-rate-limit-reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || reset <= 0 {
		return provider.RateLimit{}, false
	}
	return provider.RateLimit{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0), Seen: p.now()}, true
}

// statusError turns a failure answer to op into a provider error.
func (p *Provider) statusError(acct provider.Account, ex httpcall.Exchange, op string) *provider.Error {
	code := ex.Res.StatusCode
	var pr problem
	_ = json.Unmarshal(ex.Body, &pr)
	said := pr.say()
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: code}
	lower := strings.ToLower(said + " " + pr.Type)
	switch {
	case code == http.StatusUnauthorized:
		return httpcall.Unauthorized(acct, p.now(), code, op, said)
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("X is limiting requests")
		e.RetryAfter = p.rateLimitedUntil(ex.Res.Header)
	case code == http.StatusForbidden && strings.Contains(lower, "duplicate content"):
		e.Kind = provider.BadContent
		e.Message = op + ": X refuses a post identical to one the account already made (if an earlier try's outcome was unknown, it was posted)"
	case code == http.StatusForbidden && (strings.Contains(lower, "scope") || strings.Contains(lower, "client-forbidden") ||
		strings.Contains(lower, "unsupported-authentication") || strings.Contains(lower, "suspended") || strings.Contains(lower, "oauth")):
		e.Kind, e.Message = provider.Disconnected, msg("X refused access")+"; reconnect the account"
	case code == http.StatusForbidden:
		// What is left of 403s when posting is about the post: a reply to
		// a post that is gone, content X will not take.
		e.Kind, e.Message = provider.BadContent, msg("X refused the post")
	case code == http.StatusRequestTimeout || code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("X answered %d %s", code, http.StatusText(code)))
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: X redirected the request (%d)", op, code)
	case code >= 400:
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("X refused it (%d %s)", code, http.StatusText(code)))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from X", code))
	}
	return e
}

// rateLimitedUntil is when a 429 says to try again: the later of
// x-rate-limit-reset and Retry-After, or X's 15-minute window from now.
func (p *Provider) rateLimitedUntil(h http.Header) time.Time {
	until := httpcall.RetryAfter(h, p.now())
	if n, err := strconv.ParseInt(h.Get("x-rate-limit-reset"), 10, 64); err == nil && n > 0 {
		if reset := time.Unix(n, 0); reset.After(until) {
			until = reset
		}
	}
	if until.IsZero() {
		until = p.now().Add(defaultPause)
	}
	return until
}
