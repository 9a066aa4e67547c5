package linkedin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// apiError is LinkedIn's error body.
type apiError struct {
	Status           int    `json:"status"`
	Code             string `json:"code"`
	ServiceErrorCode int    `json:"serviceErrorCode"`
	Message          string `json:"message"`
}

// request builds a call to the versioned API for op.
func (p *Provider) request(ctx context.Context, method, url string, body io.Reader, op string) (*http.Request, *provider.Error) {
	req, perr := httpcall.NewRequest(ctx, method, url, body, op)
	if perr != nil {
		return nil, perr
	}
	req.Header.Set("Linkedin-Version", p.version)
	req.Header.Set("X-Restli-Protocol-Version", "2.0.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// statusError turns a failure answer to op into a provider error.
func (p *Provider) statusError(acct provider.Account, ex httpcall.Exchange, op string) *provider.Error {
	code := ex.Res.StatusCode
	var ae apiError
	_ = json.Unmarshal(ex.Body, &ae)
	said := httpcall.Short(ae.Message)
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: code}
	switch {
	case code == http.StatusUnauthorized:
		return httpcall.Unauthorized(acct, p.now(), code, op, said)
	case code == http.StatusForbidden:
		// ACCESS_DENIED: the token lacks the permission, or the member is
		// not an administrator of the organization posted as.
		e.Kind, e.Message = provider.Disconnected, msg("LinkedIn refused access")+"; reconnect the account with the permission to post"
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("LinkedIn's daily limit is reached")
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
		if e.RetryAfter.IsZero() {
			// LinkedIn's limits are daily and reset at midnight UTC.
			e.RetryAfter = p.now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		}
	case code == http.StatusUpgradeRequired:
		e.Kind = provider.Retry
		e.Message = fmt.Sprintf("%s: LinkedIn no longer serves API version %s; Herald must be updated (or given a newer version)", op, p.version)
	case code == http.StatusRequestTimeout || code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("LinkedIn answered %d %s", code, http.StatusText(code)))
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: LinkedIn redirected the request (%d)", op, code)
	case code >= 400:
		// 422 is LinkedIn's answer to a post it will not take (too long, a
		// duplicate); 400 to one it cannot read.
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("LinkedIn refused it (%d %s)", code, http.StatusText(code)))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from LinkedIn", code))
	}
	return e
}
