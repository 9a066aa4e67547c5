package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// Hosts and versions of Meta's Graph APIs. The version is part of every
// path; Meta keeps each for about two years.
const (
	FacebookBaseURL = "https://graph.facebook.com"
	FacebookVersion = "v24.0"
	// FacebookDialogURL is where the Login dialog lives.
	FacebookDialogURL = "https://www.facebook.com"
	ThreadsBaseURL    = "https://graph.threads.net"
	ThreadsVersion    = "v1.0"
	// ThreadsDialogURL is where the Threads authorization window lives.
	ThreadsDialogURL = "https://threads.net"
)

// maxResponseBytes bounds what is read of an answer: Graph objects are a
// few kilobytes.
const maxResponseBytes = 1 << 20

// API is one Graph API: a base URL (the network's, or an override such as
// simnet's) and a version.
type API struct {
	BaseURL string
	Version string
}

// URL returns the versioned URL of path ("/me"), with query q if not nil.
func (a API) URL(path string, q url.Values) string {
	u := strings.TrimSuffix(a.BaseURL, "/") + "/" + a.Version + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Unversioned returns the URL of path without a version (Threads' token
// endpoints live there).
func (a API) Unversioned(path string, q url.Values) string {
	u := strings.TrimSuffix(a.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// ForAccount returns the API for acct: its InstanceURL when set (simnet, a
// proxy), else def.
func ForAccount(def API, acct provider.Account) API {
	if acct.InstanceURL != "" {
		def.BaseURL = acct.InstanceURL
	}
	return def
}

// Client makes Graph API calls. It is safe for concurrent use.
type Client struct {
	http  *http.Client
	now   func() time.Time
	rates rateBook
}

// NewClient returns a Client using hc (nil: outbound.NewClient with the
// default policy) that never follows redirects, and now as its clock (nil:
// time.Now).
func NewClient(hc *http.Client, now func() time.Time) *Client {
	if hc == nil {
		hc = outbound.NewClient(outbound.Policy{})
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if now == nil {
		now = time.Now
	}
	return &Client{http: &c, now: now}
}

// HTTPClient is the client requests go through (for golang.org/x/oauth2's
// context).
func (c *Client) HTTPClient() *http.Client { return c.http }

// Now is the client's clock.
func (c *Client) Now() time.Time { return c.now() }

// Call is one request.
type Call struct {
	Method string
	URL    string
	// Token goes in the Authorization header.
	Token string
	// Form, when not nil, is sent as an urlencoded body.
	Form url.Values
	// Body and ContentType, for multipart uploads, instead of Form.
	Body        io.Reader
	ContentType string
	// RateKey names the budget the answer's usage headers count against
	// (the account); empty: not recorded, and not checked.
	RateKey string
	// Op says what the call is for, in error messages ("posting to the page").
	Op string
	// Effect is set for calls that change what the public sees (a post, a
	// comment): a lost answer to them is Unknown, not Retry.
	Effect bool
}

// Do sends call and decodes a successful JSON answer into out (nil: the
// body is dropped). Every failure is a *provider.Error. Before sending, a
// budget the network reported as spent refuses the call as RateLimited: it
// would fail anyway, and count against the account.
func (c *Client) Do(ctx context.Context, call Call, out any) error {
	if call.RateKey != "" {
		if rl, ok := c.rates.get(call.RateKey); ok && rl.Exhausted(c.now()) {
			return &provider.Error{Kind: provider.RateLimited, Message: call.Op + ": Meta's rate limit for this account is used up", RetryAfter: rl.Reset}
		}
	}
	var body io.Reader
	ct := call.ContentType
	switch {
	case call.Form != nil:
		body = strings.NewReader(call.Form.Encode())
		ct = "application/x-www-form-urlencoded"
	case call.Body != nil:
		body = call.Body
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, call.URL, body)
	if err != nil {
		return &provider.Error{Kind: provider.BadContent, Message: call.Op + ": the request could not be built", Err: redact(err)}
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	if call.Token != "" {
		req.Header.Set("Authorization", "Bearer "+call.Token)
	}
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	}))
	res, err := c.http.Do(req)
	if err != nil {
		return transportError(redact(err), call, sent.Load())
	}
	defer res.Body.Close()
	b, readErr := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	now := c.now()
	usage := parseUsage(res.Header, now)
	if call.RateKey != "" {
		c.rates.observe(call.RateKey, usage, now)
	}
	if res.StatusCode >= 300 {
		return statusError(res, b, call.Op, usage, now)
	}
	if readErr != nil {
		// The network said yes but the answer broke off.
		return transportError(redact(readErr), call, true)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		k := provider.Retry
		if call.Effect {
			k = provider.Unknown
		}
		return &provider.Error{Kind: k, Message: call.Op + ": Meta's answer could not be read", Status: res.StatusCode, Err: err}
	}
	return nil
}

// transportError is a failure to get an answer: Unknown when a call with an
// effect went out, Retry otherwise.
func transportError(err error, call Call, sent bool) *provider.Error {
	if errors.Is(err, outbound.ErrRefused) {
		return &provider.Error{Kind: provider.Disconnected, Message: call.Op + ": " + errs.PublicMessage(err), Err: err}
	}
	if call.Effect && sent {
		return &provider.Error{Kind: provider.Unknown, Message: call.Op + ": no answer from Meta after the request was sent; it may or may not have been posted", Err: err}
	}
	return &provider.Error{Kind: provider.Retry, Message: call.Op + ": could not reach Meta", Err: err}
}

// redact drops the URL from a *url.Error: query strings can carry
// credentials (the token exchanges put secrets there, as Meta documents).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
