package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// Network is the provider's name.
const Network = "webhook"

// Event types.
const (
	TypePublished = "post.published"
	TypePing      = "webhook.ping"
)

// Herald's own bounds on what it sends; a receiver may take less.
const (
	MaxTextChars  = 100_000
	MaxMedia      = 20
	MinSecretLen  = 16
	maxAltText    = 5000
	defaultPause  = time.Minute
	userAgent     = "Herald-Webhook/1"
	contentTypeJS = "application/json"
)

// Media types sent as URLs when the Provider can make them.
var (
	ImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"}
	VideoTypes = []string{"video/mp4", "video/webm", "video/quicktime"}
)

// Event is a delivery's body.
type Event struct {
	ID        string       `json:"id"`
	Type      string       `json:"type"`
	Text      string       `json:"text,omitempty"`
	Media     []EventMedia `json:"media,omitempty"`
	Account   EventAccount `json:"account"`
	CreatedAt time.Time    `json:"created_at"`
}

// EventMedia is one attachment, by URL.
type EventMedia struct {
	URL         string `json:"url"`
	MimeType    string `json:"mime_type"`
	Description string `json:"description,omitempty"`
}

// EventAccount is the Herald account the post was published for.
type EventAccount struct {
	ID     string `json:"id"`
	Handle string `json:"handle,omitempty"`
}

// MediaURLFunc returns a URL the receiver can fetch m from (a signed,
// expiring blob URL).
type MediaURLFunc func(ctx context.Context, m provider.Media) (string, error)

// Provider delivers posts to signed webhooks. It is safe for concurrent
// use.
type Provider struct {
	client    *http.Client
	now       func() time.Time
	mediaURL  MediaURLFunc
	allowHTTP bool
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithMediaURLs lets posts carry media, sent as the URLs f makes; without
// it the provider takes none.
func WithMediaURLs(f MediaURLFunc) Option {
	return func(p *Provider) { p.mediaURL = f }
}

// WithInsecureHTTP accepts http:// endpoints (local development, simnet);
// by default only https:// ones are, since the body is signed, not
// encrypted.
func WithInsecureHTTP() Option {
	return func(p *Provider) { p.allowHTTP = true }
}

// WithClock sets the clock used for timestamps and Retry-After.
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
}

// New returns a Provider that makes its requests with client (nil: an
// outbound client with the default policy, which the endpoints, being
// user-supplied, need). Redirects are never followed.
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{client: httpcall.NoRedirects(client), now: time.Now}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "webhook".
func (p *Provider) Network() string { return Network }

// DedupesByKey: receivers deduplicate on Herald-Webhook-Id, the post's
// idempotency key, as the package's contract asks (provider.Deduper).
func (p *Provider) DedupesByKey() bool { return true }

// Limits: text up to 100,000 characters; media only when the provider can
// make media URLs (WithMediaURLs).
func (p *Provider) Limits() provider.Limits {
	l := provider.Limits{MaxTextChars: MaxTextChars}
	if p.mediaURL != nil {
		l.MaxMedia = MaxMedia
		l.ImageTypes = slices.Clone(ImageTypes)
		l.VideoTypes = slices.Clone(VideoTypes)
		l.MaxAltTextChars = maxAltText
	}
	return l
}

// Validate checks a post against what Herald sends to a webhook, counting
// graphemes. Violations name "text", "media" or "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := validate.Graphemes(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case n > MaxTextChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Herald sends webhooks up to %d", n, MaxTextChars)})
	}
	if len(media) > 0 && p.mediaURL == nil {
		return append(out, provider.Violation{Field: "media", Message: "cannot be sent: this Herald has no public media links for webhooks; remove the media or link to it in the text"})
	}
	return append(out, validate.Media(p.Limits(), "The webhook", media, validate.Graphemes)...)
}

// ValidateURL checks an endpoint URL as a user typed it: an absolute
// https:// URL (http:// too when allowHTTP) without user info or fragment.
// A problem is an errs.Fields error on "webhook_url".
func ValidateURL(raw string, allowHTTP bool) (string, error) {
	fail := func(msg string) (string, error) {
		var f errs.Fields
		f.Add("webhook_url", "%s", msg)
		return "", f.Err()
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return fail("is not a URL")
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		return fail("must be an https:// address")
	case u.Host == "" || u.Hostname() == "":
		return fail("must name a server")
	case u.User != nil:
		return fail("must not contain a user name or password; the signature authenticates Herald")
	case u.Fragment != "":
		return fail("must not contain a #fragment")
	}
	return raw, nil
}

// checkSecret says what is wrong with a signing secret, or "".
func checkSecret(secret string) string {
	all := secrets(secret)
	if len(all) == 0 {
		return "must not be empty"
	}
	for _, s := range all {
		if len(s) < MinSecretLen {
			return fmt.Sprintf("must be at least %d characters long", MinSecretLen)
		}
	}
	return ""
}

func (p *Provider) endpoint(acct provider.Account) (string, []string, *provider.Error) {
	u, err := ValidateURL(acct.InstanceURL, p.allowHTTP)
	if err != nil {
		return "", nil, &provider.Error{Kind: provider.Disconnected, Message: "the account's webhook URL " + errs.PublicMessage(err) + "; reconnect it"}
	}
	if problem := checkSecret(acct.Secret); problem != "" {
		return "", nil, &provider.Error{Kind: provider.Disconnected, Message: "the account's signing secret " + problem + "; reconnect it"}
	}
	return u, secrets(acct.Secret), nil
}

// answer is what a receiver may say it made.
type answer struct {
	ID  json.RawMessage `json:"id"`
	URL string          `json:"url"`
}

// Publish delivers p as a post.published event, signed with every secret
// in acct.Secret. The event id is p.IdempotencyKey, so a repeat after an
// Unknown outcome is recognised by a receiver that dedupes on it (without a
// key, a random id is used and a repeat cannot be recognised).
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	u, secs, perr := p.endpoint(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	ev := Event{ID: post.IdempotencyKey, Type: TypePublished, Text: post.Text, Account: EventAccount{ID: acct.ID, Handle: acct.Handle}, CreatedAt: p.now().UTC()}
	if ev.ID == "" {
		ev.ID = randomID("evt_")
	}
	if len(post.Media) > 0 {
		if p.mediaURL == nil {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "this Herald cannot send media to webhooks; remove the media"}
		}
		for i, m := range post.Media {
			link, err := p.mediaURL(ctx, m)
			if err != nil {
				return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("delivering the post: no link could be made for media[%d]", i), Err: err}
			}
			ev.Media = append(ev.Media, EventMedia{URL: link, MimeType: validate.MediaType(m), Description: m.Description})
		}
	}
	ex, perr := p.deliver(ctx, u, secs, ev, "delivering the post", true)
	if perr != nil {
		return provider.Result{}, perr
	}
	var a answer
	res := provider.Result{}
	if json.Unmarshal(ex.Body, &a) == nil {
		res.RemoteID = rawID(a.ID)
		if strings.HasPrefix(a.URL, "https://") || strings.HasPrefix(a.URL, "http://") {
			res.RemoteURL = a.URL
		}
	}
	res.Ref = ev.ID
	return res, nil
}

// rawID reads an id given as a JSON string or number.
func rawID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (p *Provider) deliver(ctx context.Context, u string, secs []string, ev Event, op string, maybeApplied bool) (httpcall.Exchange, *provider.Error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return httpcall.Exchange{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the event could not be encoded", Err: err}
	}
	req, perr := httpcall.NewRequest(ctx, http.MethodPost, u, bytes.NewReader(body), op)
	if perr != nil {
		return httpcall.Exchange{}, perr
	}
	ts := p.now().Unix()
	req.Header.Set("Content-Type", contentTypeJS)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, SignatureHeader(secs, ts, body))
	ex, err := httpcall.Do(p.client, req)
	if err != nil {
		if q := req.URL.RawQuery; q != "" {
			err = httpcall.Redact(err, q) // the query may carry a token of the receiver's
		}
		return ex, httpcall.TransportError(err, ex, op, "the webhook endpoint", maybeApplied)
	}
	if code := ex.Res.StatusCode; code >= 200 && code < 300 {
		return ex, nil
	}
	return ex, p.statusError(ex, op)
}

// receiverMessage is what a receiver said, from JSON {"error"} or
// {"message"} or a short text body.
func receiverMessage(body []byte) string {
	var e struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if s, ok := e.Error.(string); ok && s != "" {
			return httpcall.Short(s)
		}
		return httpcall.Short(e.Message)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 || strings.Contains(s, "<") {
		return ""
	}
	return httpcall.Short(s)
}

func (p *Provider) statusError(ex httpcall.Exchange, op string) *provider.Error {
	code := ex.Res.StatusCode
	said := receiverMessage(ex.Body)
	msg := func(fallback string) string {
		if said != "" {
			return fmt.Sprintf("%s: the endpoint answered %d: %s", op, code, said)
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: code}
	switch {
	case code == http.StatusGone:
		e.Kind, e.Message = provider.Disconnected, op+": the endpoint is gone (410); connect its new URL"
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		e.Kind, e.Message = provider.Disconnected, msg(fmt.Sprintf("the endpoint refused Herald (%d)", code))+"; check that it has the account's signing secret"
	case code == http.StatusNotFound:
		e.Kind, e.Message = provider.Disconnected, op+": the endpoint does not exist (404); check the webhook URL"
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("the endpoint asked Herald to slow down (429)")
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
		if e.RetryAfter.IsZero() {
			e.RetryAfter = p.now().Add(defaultPause)
		}
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("the endpoint answered %d", code))
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the endpoint redirects elsewhere (%d); connect the URL it redirects to", op, code)
	case code >= 400:
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("the endpoint refused the post (%d)", code))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from the endpoint", code))
	}
	return e
}

// VerifyCredentials sends a signed webhook.ping and expects 2xx.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	u, secs, perr := p.endpoint(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	return p.ping(ctx, u, secs, acct)
}

func (p *Provider) ping(ctx context.Context, u string, secs []string, acct provider.Account) (provider.Profile, error) {
	ev := Event{ID: randomID("ping_"), Type: TypePing, Account: EventAccount{ID: acct.ID, Handle: acct.Handle}, CreatedAt: p.now().UTC()}
	if _, perr := p.deliver(ctx, u, secs, ev, "checking the endpoint", false); perr != nil {
		return provider.Profile{}, perr
	}
	parsed, _ := url.Parse(u)
	// Not the URL itself: its query may carry a token of the receiver's.
	return provider.Profile{RemoteID: parsed.Host + parsed.Path, Handle: parsed.Host, DisplayName: parsed.Host + parsed.Path}, nil
}

// Connect checks an endpoint and secret as a user typed them into the
// connect form (errs.Fields errors on "webhook_url" and "secret"; use
// NewSecret to offer one), then pings the endpoint. It returns the account
// to store.
func (p *Provider) Connect(ctx context.Context, rawURL, secret string) (provider.Account, error) {
	var f errs.Fields
	u, err := ValidateURL(rawURL, p.allowHTTP)
	if e, ok := errs.As(err); ok {
		for k, v := range e.Fields {
			f.Add(k, "%s", v)
		}
	}
	secret = strings.TrimSpace(secret)
	if problem := checkSecret(secret); problem != "" {
		f.Add("secret", "%s", problem)
	}
	if err := f.Err(); err != nil {
		return provider.Account{}, err
	}
	acct := provider.Account{Network: Network, InstanceURL: u, Secret: secret}
	prof, err := p.ping(ctx, u, secrets(secret), acct)
	if err != nil {
		return provider.Account{}, err
	}
	acct.RemoteID, acct.Handle = prof.RemoteID, prof.Handle
	return acct, nil
}

// Interface guard.
var _ provider.Provider = (*Provider)(nil)
