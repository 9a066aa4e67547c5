package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// RateLimit returns the webhook's bucket as Discord last reported it, and
// false if no answer was seen yet.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	w, perr := p.webhook(acct)
	if perr != nil {
		return provider.RateLimit{}, false
	}
	return p.rates.Get(w.ID)
}

// observe records X-RateLimit-Limit, -Remaining and -Reset (Unix seconds,
// fractional) or -Reset-After (seconds from now).
func (p *Provider) observe(key string, h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err1 != nil || err2 != nil {
		return
	}
	now := p.now()
	var reset time.Time
	if v, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset"), 64); err == nil && v > 0 {
		reset = time.UnixMilli(int64(v * 1000))
	} else if v, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64); err == nil {
		reset = httpcall.After(now, v)
	}
	if reset.IsZero() {
		return
	}
	p.rates.Observe(key, provider.RateLimit{Limit: limit, Remaining: remaining, Reset: reset, Seen: now})
}

// call is one request to a webhook.
type call struct {
	method, url, op string
	body            io.Reader
	contentType     string
	maybeApplied    bool
}

func (p *Provider) do(ctx context.Context, w Webhook, c call, result any) *provider.Error {
	req, perr := httpcall.NewRequest(ctx, c.method, c.url, c.body, c.op)
	if perr != nil {
		perr.Err = httpcall.Redact(perr.Err, w.Token)
		return perr
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	req.Header.Set("Accept", "application/json")
	ex, err := httpcall.Do(p.client, req)
	if err != nil {
		return httpcall.TransportError(httpcall.Redact(err, w.Token), ex, c.op, "Discord", c.maybeApplied)
	}
	p.observe(w.ID, ex.Res.Header)
	switch code := ex.Res.StatusCode; {
	case code == http.StatusNoContent:
		return nil
	case code >= 200 && code < 300:
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(ex.Body, result); err != nil {
			kind := provider.Retry
			if c.maybeApplied {
				kind = provider.Unknown // Discord said yes: the message probably exists
			}
			return &provider.Error{Kind: kind, Status: code, Message: c.op + ": Discord's answer could not be read", Err: err}
		}
		return nil
	}
	return p.apiError(ex, c.op)
}

// apiError is Discord's error body.
type apiError struct {
	Message    string          `json:"message"`
	Code       int             `json:"code"`
	Errors     json.RawMessage `json:"errors"`
	RetryAfter float64         `json:"retry_after"`
	Global     bool            `json:"global"`
}

// Discord's JSON error codes Herald tells apart.
const (
	codeUnknownWebhook = 10015
	codeUnknownMessage = 10008
	codeInvalidToken   = 50027
)

func (p *Provider) apiError(ex httpcall.Exchange, op string) *provider.Error {
	code := ex.Res.StatusCode
	var body apiError
	_ = json.Unmarshal(ex.Body, &body)
	said := httpcall.Short(body.Message)
	if details := fieldErrors(body.Errors); details != "" {
		said = httpcall.Short(said + " (" + details + ")")
	}
	msg := func(fallback string) string {
		if said != "" {
			return op + ": Discord said " + said
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: code}
	switch {
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("rate limited by Discord")
		now := p.now()
		e.RetryAfter = httpcall.After(now, body.RetryAfter)
		if body.RetryAfter == 0 {
			e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, now)
		}
		if v, err := strconv.ParseFloat(ex.Res.Header.Get("X-RateLimit-Reset-After"), 64); err == nil {
			e.RetryAfter = httpcall.Later(e.RetryAfter, httpcall.After(now, v))
		}
		if e.RetryAfter.IsZero() {
			e.RetryAfter = now.Add(time.Minute)
		}
	case code == http.StatusNotFound && body.Code == codeUnknownMessage:
		e.Kind, e.Message = provider.BadContent, msg("no such message")
	case code == http.StatusNotFound:
		e.Kind, e.Message = provider.Disconnected, op+": Discord has no such webhook (it was deleted); create a webhook in the channel again and reconnect with its URL"
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = provider.Disconnected, op+": Discord refused the webhook's token (it was reset); reconnect with the webhook's current URL"
	case code == http.StatusForbidden:
		e.Kind, e.Message = provider.Disconnected, msg("Discord refused access to the channel")+"; check the webhook, then reconnect"
	case code == http.StatusRequestEntityTooLarge:
		e.Kind, e.Message = provider.BadContent, op+": Discord refused the files as too large (10 MB in all per message)"
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("Discord answered %d", code))
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the webhook URL redirects elsewhere (%d); reconnect with the webhook's URL from Discord", op, code)
	case code >= 400:
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("Discord refused it (%d)", code))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from Discord", code))
	}
	return e
}

// fieldErrors flattens Discord's nested form errors,
// {"content": {"_errors": [{"code", "message"}]}}, into
// "content: Must be 2000 or fewer in length.".
func fieldErrors(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var tree any
	if json.Unmarshal(raw, &tree) != nil {
		return ""
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if list, ok := m["_errors"].([]any); ok {
			for _, item := range list {
				if e, ok := item.(map[string]any); ok {
					if s, ok := e["message"].(string); ok {
						out = append(out, strings.TrimPrefix(path+": ", ": ")+s)
					}
				}
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k != "_errors" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			next := k
			if path != "" {
				next = path + "." + k
			}
			walk(next, m[k])
		}
	}
	walk("", tree)
	return strings.Join(out, "; ")
}
