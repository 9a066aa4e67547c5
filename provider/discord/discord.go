package discord

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// Network is the provider's name.
const Network = "discord"

// Discord's limits for a webhook message (a server without boosts).
const (
	MaxContentChars     = 2000
	MaxFiles            = 10
	MaxUploadBytes      = 10 << 20
	MaxDescriptionChars = 1024
)

// Media types Discord shows inline.
var (
	ImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
	VideoTypes = []string{"video/mp4", "video/webm", "video/quicktime"}
)

// Provider publishes to Discord webhooks. It is safe for concurrent use.
type Provider struct {
	client *http.Client
	// bases are URL prefixes, besides Discord's own hosts, under which
	// webhook URLs are accepted (simnet, a proxy).
	bases []string
	now   func() time.Time
	rates httpcall.RateBook
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithBaseURL lets webhook URLs under u ("http://127.0.0.1:8090/discord",
// simnet) be used besides Discord's own.
func WithBaseURL(u string) Option {
	return func(p *Provider) { p.bases = append(p.bases, strings.TrimSuffix(u, "/")) }
}

// WithClock sets the clock that turns retry_after seconds into instants.
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

// Network returns "discord".
func (p *Provider) Network() string { return Network }

// Limits: 2000 characters, up to 10 images or videos of 10 MB in all, alt
// text up to 1024 characters.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    MaxContentChars,
		MaxMedia:        MaxFiles,
		MaxImageBytes:   MaxUploadBytes,
		ImageTypes:      slices.Clone(ImageTypes),
		MaxVideoBytes:   MaxUploadBytes,
		VideoTypes:      slices.Clone(VideoTypes),
		MaxAltTextChars: MaxDescriptionChars,
	}
}

// Validate checks a post against Discord's limits, counting UTF-16 code
// units. Violations name "text", "media" or "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := validate.UTF16Len(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case n > MaxContentChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Discord allows %d", n, MaxContentChars)})
	}
	out = append(out, validate.Media(p.Limits(), "Discord", media, validate.UTF16Len)...)
	var total int64
	for _, m := range media {
		total += m.Size
	}
	if len(media) > 1 && total > MaxUploadBytes {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("are %s together; Discord takes up to %s in one message", validate.Megabytes(total), validate.Megabytes(MaxUploadBytes))})
	}
	return out
}

// Webhook is a parsed webhook URL.
type Webhook struct {
	// URL is the webhook's URL without query or fragment.
	URL   string
	ID    string
	Token string
}

var (
	webhookPathRE = regexp.MustCompile(`^/api(?:/v[0-9]+)?/webhooks/([0-9]{1,25})/([A-Za-z0-9_-]{20,200})$`)
	discordHosts  = []string{"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
)

// ValidateURL checks a webhook URL as a user pasted it from a channel's
// Integrations settings: https://discord.com/api/webhooks/<id>/<token>
// (discordapp.com, ptb. and canary. hosts and an /api/v10 path are taken
// too). A problem is an errs.Fields error on "webhook_url".
func ValidateURL(raw string) (Webhook, error) {
	return parseWebhook(raw, nil)
}

func parseWebhook(raw string, bases []string) (Webhook, error) {
	fail := func(msg string) (Webhook, error) {
		var f errs.Fields
		f.Add("webhook_url", "%s", msg)
		return Webhook{}, f.Err()
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return fail("is not a URL; copy the webhook's URL from the channel's Integrations settings")
	}
	prefix := ""
	for _, b := range bases {
		if strings.HasPrefix(raw, b+"/") {
			prefix = b
		}
	}
	path := u.Path
	if prefix != "" {
		path = strings.TrimPrefix(raw, prefix)
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
	} else {
		switch {
		case u.Scheme != "https":
			return fail("must be an https:// address")
		case !slices.Contains(discordHosts, strings.ToLower(u.Host)):
			return fail("must be a Discord webhook address, https://discord.com/api/webhooks/…")
		case u.User != nil:
			return fail("must not contain a user name or password")
		}
	}
	m := webhookPathRE.FindStringSubmatch(path)
	if m == nil {
		return fail("must be shaped https://discord.com/api/webhooks/<id>/<token>")
	}
	clean := raw
	if i := strings.IndexAny(clean, "?#"); i >= 0 {
		clean = clean[:i]
	}
	return Webhook{URL: clean, ID: m[1], Token: m[2]}, nil
}

// webhook checks acct's webhook URL: the access token, where a connect
// form stores it sealed (ConnectForm), else the instance URL.
func (p *Provider) webhook(acct provider.Account) (Webhook, *provider.Error) {
	raw := acct.AccessToken
	if raw == "" {
		raw = acct.InstanceURL
	}
	w, err := parseWebhook(raw, p.bases)
	if err != nil {
		return Webhook{}, &provider.Error{Kind: provider.Disconnected, Message: "the account's webhook URL is not a Discord webhook; reconnect it with the channel's webhook URL"}
	}
	return w, nil
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Deleter           = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
