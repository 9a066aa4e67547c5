package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
)

// APIError is the Graph API's error object:
//
//	{"error": {"message": "...", "type": "OAuthException", "code": 190,
//	 "error_subcode": 463, "error_user_msg": "...", "fbtrace_id": "..."}}
type APIError struct {
	Message      string `json:"message"`
	Type         string `json:"type"`
	Code         int    `json:"code"`
	Subcode      int    `json:"error_subcode"`
	UserTitle    string `json:"error_user_title"`
	UserMessage  string `json:"error_user_msg"`
	IsTransient  bool   `json:"is_transient"`
	FBTraceID    string `json:"fbtrace_id"`
	ErrorMessage string `json:"error_message"` // Threads' container errors
}

func (e *APIError) Error() string {
	return fmt.Sprintf("graph error %d/%d (%s): %s [fbtrace_id %s]", e.Code, e.Subcode, e.Type, e.Message, e.FBTraceID)
}

// DecodeError reads the error object from an answer's body; nil if there is
// none.
func DecodeError(body []byte) *APIError {
	var w struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(body, &w) != nil || w.Error == nil || (w.Error.Code == 0 && w.Error.Message == "") {
		return nil
	}
	return w.Error
}

// Error codes Herald acts on (developers.facebook.com, "Graph API error
// handling"; Instagram and Threads use the same object).
const (
	CodeUnknown          = 1
	CodeService          = 2
	CodeAppRateLimit     = 4
	CodeIGRateLimit      = 9 // Instagram: publishing limit reached (subcode 2207042)
	CodePermission       = 10
	CodeUserRateLimit    = 17
	CodePageRateLimit    = 32
	CodeInvalidParameter = 100
	CodeSession          = 102
	CodeAccessToken      = 190
	CodeSpamBlock        = 368
	CodeDuplicatePost    = 506
	CodeCustomRateLimit  = 613
	CodeFeedRateLimit    = 341
)

// Subcodes of CodeAccessToken.
const (
	SubcodeAppNotInstalled = 458
	SubcodeUserCheckpoint  = 459
	SubcodePasswordChanged = 460
	SubcodeExpired         = 463
	SubcodeUnconfirmed     = 464
	SubcodeInvalidToken    = 467
	SubcodeInvalidSession  = 492
)

// defaultPause is how long to hold off after a rate-limit refusal that
// names no time: the Platform limits are counted over a rolling hour, so a
// few minutes lets the count fall below 100 %.
const defaultPause = 10 * time.Minute

// IsRateLimitCode reports whether code is one of the Graph API's throttling
// codes: application (4), user (17), page (32), custom (613), feed (341),
// Instagram publishing (9), and the Business Use Case codes 80000-80014.
func IsRateLimitCode(code int) bool {
	switch code {
	case CodeAppRateLimit, CodeIGRateLimit, CodeUserRateLimit, CodePageRateLimit, CodeCustomRateLimit, CodeFeedRateLimit:
		return true
	}
	return code >= 80000 && code <= 80014
}

// statusError turns a failure answer into a provider error, by the Graph
// error code first, the HTTP status second.
func statusError(res *http.Response, body []byte, op string, u usage, now time.Time) *provider.Error {
	status := res.StatusCode
	ge := DecodeError(body)
	e := &provider.Error{Status: status}
	if ge != nil {
		e.Err = ge
	}
	said := ""
	if ge != nil {
		said = ge.UserMessage
		if said == "" {
			said = ge.Message
		}
		said = short(said)
	}
	msg := func(fallback string) string {
		if said != "" {
			return op + ": " + said
		}
		return op + ": " + fallback
	}
	rateLimited := func(m string) *provider.Error {
		e.Kind, e.Message = provider.RateLimited, msg(m)
		e.RetryAfter = u.until(now)
		if ra := retryAfterHeader(res.Header, now); ra.After(e.RetryAfter) {
			e.RetryAfter = ra
		}
		if e.RetryAfter.IsZero() {
			e.RetryAfter = now.Add(defaultPause)
		}
		return e
	}
	switch {
	case ge != nil && ge.Code == CodeAccessToken:
		if ge.Subcode == SubcodeExpired {
			e.Kind, e.Message = provider.Expired, op+": the access token has expired"
			return e
		}
		e.Kind, e.Message = provider.Disconnected, msg("Meta refused the access token")+"; reconnect the account"
	case ge != nil && ge.Code == CodeSession:
		e.Kind, e.Message = provider.Disconnected, msg("Meta ended the session")+"; reconnect the account"
	case ge != nil && (ge.Code == CodePermission || (ge.Code >= 200 && ge.Code <= 299)):
		e.Kind, e.Message = provider.Disconnected, msg("Herald lacks a permission on this account")+"; reconnect the account and grant every permission asked"
	case ge != nil && IsRateLimitCode(ge.Code):
		return rateLimited("Meta is limiting requests for this account")
	case u.exhausted():
		return rateLimited("Meta's rate limit for this account is used up")
	case status == http.StatusTooManyRequests:
		return rateLimited("Meta is limiting requests")
	case ge != nil && (ge.Code == CodeUnknown || ge.Code == CodeService || ge.IsTransient):
		e.Kind, e.Message = provider.Retry, msg("Meta had a temporary problem")
		e.RetryAfter = retryAfterHeader(res.Header, now)
	case status >= 500 || status == http.StatusRequestTimeout:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("Meta answered %d %s", status, http.StatusText(status)))
		e.RetryAfter = retryAfterHeader(res.Header, now)
	case ge != nil && ge.Code == CodeDuplicatePost:
		e.Kind, e.Message = provider.BadContent, msg("the same text was just posted")
	case ge != nil && ge.Code == CodeSpamBlock:
		e.Kind, e.Message = provider.BadContent, msg("Meta blocked this as abusive or against its policies")
	case status == http.StatusUnauthorized:
		e.Kind, e.Message = provider.Disconnected, msg("Meta refused the access token")+"; reconnect the account"
	case status >= 300 && status < 400:
		e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: Meta redirected the request (%d)", op, status)
	default:
		// 100 (invalid parameter) and the rest: the content or the request
		// is wrong, and repeating it will not help.
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("Meta refused it (%d %s)", status, http.StatusText(status)))
	}
	return e
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func retryAfterHeader(h http.Header, now time.Time) time.Time {
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

// WithoutRefresh is err for a provider that cannot renew tokens (Facebook
// Pages, Instagram): an Expired token can only be replaced by connecting
// again, so it becomes Disconnected, saying it expired.
func WithoutRefresh(err error) error {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Kind == provider.Expired {
		c := *pe
		c.Kind, c.Message = provider.Disconnected, pe.Message+"; reconnect the account"
		return &c
	}
	return err
}
