package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// Network is the provider's name.
const Network = "slack"

// MaxTextChars is where Slack truncates a message's text.
const MaxTextChars = 40000

// Provider publishes to Slack incoming webhooks. It is safe for concurrent
// use.
type Provider struct {
	client *http.Client
	bases  []string
	now    func() time.Time
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithBaseURL lets webhook URLs under u ("http://127.0.0.1:8090/slack",
// simnet) be used besides hooks.slack.com.
func WithBaseURL(u string) Option {
	return func(p *Provider) { p.bases = append(p.bases, strings.TrimSuffix(u, "/")) }
}

// WithClock sets the clock that turns Retry-After into instants.
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
}

// New returns a Provider that makes its requests with client (nil: an
// outbound client with the default policy). Redirects are never followed.
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{client: httpcall.NoRedirects(client), now: time.Now}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "slack".
func (p *Provider) Network() string { return Network }

// Limits: text only, up to 40,000 characters. Incoming webhooks cannot
// upload files, so images and videos are refused (ImageTypes and
// VideoTypes stay empty).
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{MaxTextChars: MaxTextChars}
}

// Validate checks a post against what a Slack webhook takes. Violations
// name "text" or "media".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := validate.UTF16Len(escape(text))
	switch {
	case strings.TrimSpace(text) == "":
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty: Slack posts text only"})
	case n > MaxTextChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Slack cuts messages off at %d", n, MaxTextChars)})
	}
	if len(media) > 0 {
		out = append(out, provider.Violation{Field: "media", Message: "cannot be posted to Slack: an incoming webhook shows images only from public links, not uploads; put a link to the image in the text"})
	}
	return out
}

// escape makes text safe as Slack mrkdwn: &, < and > are the only
// characters Slack needs escaped.
func escape(text string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
}

var (
	hookPathRE = regexp.MustCompile(`^/services/(T[A-Z0-9]{2,20})/(B[A-Z0-9]{2,20})/([A-Za-z0-9]{10,64})$`)
)

// ValidateURL checks an incoming webhook URL as a user pasted it from the
// Slack app's settings: https://hooks.slack.com/services/T…/B…/<token>. A
// problem is an errs.Fields error on "webhook_url". It returns the URL
// without spaces, query or fragment.
func ValidateURL(raw string) (string, error) { return parseURL(raw, nil) }

func parseURL(raw string, bases []string) (string, error) {
	fail := func(msg string) (string, error) {
		var f errs.Fields
		f.Add("webhook_url", "%s", msg)
		return "", f.Err()
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return fail("is not a URL; copy the webhook URL from the Slack app's Incoming Webhooks page")
	}
	clean := raw
	if i := strings.IndexAny(clean, "?#"); i >= 0 {
		clean = clean[:i]
	}
	path := u.Path
	under := false
	for _, b := range bases {
		if rest, ok := strings.CutPrefix(clean, b+"/"); ok {
			path, under = "/"+rest, true
		}
	}
	if !under {
		switch {
		case u.Scheme != "https":
			return fail("must be an https:// address")
		case !strings.EqualFold(u.Host, "hooks.slack.com"):
			return fail("must be a Slack incoming webhook, https://hooks.slack.com/services/…")
		case u.User != nil:
			return fail("must not contain a user name or password")
		}
	}
	if !hookPathRE.MatchString(path) {
		return fail("must be shaped https://hooks.slack.com/services/T…/B…/… (a workflow trigger URL is not an incoming webhook)")
	}
	return clean, nil
}

// webhook checks acct's webhook URL: the access token, where a connect
// form stores it sealed (ConnectForm), else the instance URL.
func (p *Provider) webhook(acct provider.Account) (string, *provider.Error) {
	raw := acct.AccessToken
	if raw == "" {
		raw = acct.InstanceURL
	}
	u, err := parseURL(raw, p.bases)
	if err != nil {
		return "", &provider.Error{Kind: provider.Disconnected, Message: "the account's webhook URL is not a Slack incoming webhook; reconnect it with the webhook URL"}
	}
	return u, nil
}

// Publish posts p's text through acct's webhook. Slack names no message in
// its answer, so the Result is empty; there is no idempotency key, so a
// lost answer is Unknown and a repeat may post twice.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	hook, perr := p.webhook(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if len(post.Media) > 0 {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "Slack webhooks cannot take uploaded images; remove them from the Slack version of the post"}
	}
	body, _ := json.Marshal(map[string]string{"text": escape(post.Text)})
	if perr := p.post(ctx, hook, body, "posting the message", true); perr != nil {
		return provider.Result{}, perr
	}
	return provider.Result{}, nil
}

func (p *Provider) post(ctx context.Context, hook string, body []byte, op string, maybeApplied bool) *provider.Error {
	req, perr := httpcall.NewRequest(ctx, http.MethodPost, hook, bytes.NewReader(body), op)
	if perr != nil {
		return perr
	}
	req.Header.Set("Content-Type", "application/json")
	ex, err := httpcall.Do(p.client, req)
	if err != nil {
		return httpcall.TransportError(redactURL(err, hook), ex, op, "Slack", maybeApplied)
	}
	if ex.Res.StatusCode == http.StatusOK {
		return nil
	}
	return p.apiError(ex, op)
}

// redactURL takes the webhook's secret path out of err.
func redactURL(err error, hook string) error {
	if u, perr := url.Parse(hook); perr == nil {
		return httpcall.Redact(err, u.Path)
	}
	return err
}

// disconnected are Slack's answers that mean the webhook no longer posts
// anywhere: the channel, app or workspace is gone or refuses it.
var disconnected = map[string]string{
	"channel_not_found":                 "the webhook's channel no longer exists",
	"channel_is_archived":               "the webhook's channel is archived",
	"no_service":                        "the webhook was removed (or its app uninstalled)",
	"no_service_id":                     "the webhook URL is incomplete",
	"no_team":                           "the webhook's workspace no longer exists",
	"team_disabled":                     "the webhook's workspace is disabled",
	"invalid_token":                     "the webhook's token was revoked",
	"action_prohibited":                 "an admin has restricted posting to the channel",
	"posting_to_general_channel_denied": "only admins may post to that channel",
	"user_not_found":                    "the webhook's user no longer exists",
}

func (p *Provider) apiError(ex httpcall.Exchange, op string) *provider.Error {
	code := ex.Res.StatusCode
	said := strings.TrimSpace(string(ex.Body))
	if len(said) > 64 || strings.ContainsAny(said, "<> \n") {
		said = "" // an HTML error page, not one of Slack's codes
	}
	e := &provider.Error{Status: code}
	switch why, ok := disconnected[said]; {
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, op+": Slack is rate limiting the webhook"
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
		if e.RetryAfter.IsZero() {
			e.RetryAfter = p.now().Add(time.Minute)
		}
	case ok:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: Slack said %s: %s; create a new incoming webhook and reconnect", op, said, why)
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: Slack answered %d", op, code)
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code == http.StatusNotFound, code == http.StatusGone, code == http.StatusForbidden, code == http.StatusUnauthorized:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: Slack refused the webhook (%d); create a new incoming webhook and reconnect", op, code)
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the webhook URL redirects elsewhere (%d); reconnect with the URL from Slack", op, code)
	case said != "":
		e.Kind, e.Message = provider.BadContent, fmt.Sprintf("%s: Slack refused the message: %s", op, said)
	case code >= 400:
		e.Kind, e.Message = provider.BadContent, fmt.Sprintf("%s: Slack refused the message (%d)", op, code)
	default:
		e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: unexpected answer %d from Slack", op, code)
	}
	return e
}

// VerifyCredentials checks the webhook without posting: it sends an empty
// payload, which Slack refuses with no_text when the webhook works and with
// no_service, invalid_token or channel_is_archived when it does not (Slack
// checks the webhook before the payload). An incoming webhook says nothing
// about its channel, so the profile names the webhook only.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	hook, perr := p.webhook(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	return p.verify(ctx, hook)
}

func (p *Provider) verify(ctx context.Context, hook string) (provider.Profile, error) {
	perr := p.post(ctx, hook, []byte(`{}`), "checking the webhook", false)
	switch {
	case perr == nil:
		// Something took an empty message as a post: not Slack.
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: "checking the webhook: the address did not answer as Slack does; check the webhook URL"}
	case perr.Kind == provider.BadContent && strings.Contains(perr.Message, "no_text"):
		u, _ := url.Parse(hook)
		id := ""
		if parts := strings.Split(u.Path, "/"); len(parts) >= 4 {
			id = parts[len(parts)-3] + "/" + parts[len(parts)-2]
		}
		return provider.Profile{RemoteID: id, Handle: "incoming webhook " + id}, nil
	}
	return provider.Profile{}, perr
}

// Connect checks a webhook URL as a user pasted it: its shape
// (ValidateURL) and that Slack takes it (VerifyCredentials). It returns the
// account to store: InstanceURL is the webhook URL, RemoteID "<team>/<hook>".
func (p *Provider) Connect(ctx context.Context, rawURL string) (provider.Account, error) {
	hook, err := parseURL(rawURL, p.bases)
	if err != nil {
		return provider.Account{}, err
	}
	prof, err := p.verify(ctx, hook)
	if err != nil {
		return provider.Account{}, err
	}
	return provider.Account{Network: Network, InstanceURL: hook, RemoteID: prof.RemoteID, Handle: prof.Handle}, nil
}

// Interface guard.
var _ provider.Provider = (*Provider)(nil)
