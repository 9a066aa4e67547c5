package mastodon

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon/charcount"
)

// Network is the provider's name.
const Network = "mastodon"

// Scopes are the OAuth scopes Herald asks for: enough to say whose account
// it is, post statuses and upload media, and nothing else.
const Scopes = "read:accounts write:statuses write:media"

// Mastodon's default limits; an instance may configure others (see
// InstanceLimits).
const (
	DefaultMaxChars      = 500
	DefaultMaxMedia      = 4
	DefaultMaxImageBytes = 16 << 20
	DefaultMaxVideoBytes = 99 << 20
	MaxDescriptionChars  = 1500
	defaultPollInterval  = 500 * time.Millisecond
	defaultPollTimeout   = time.Minute
	// Transcoding a video takes longer than resizing an image: a bigger
	// bound, reached through polls that back off to maxPollInterval.
	defaultVideoPollTimeout = 5 * time.Minute
	maxPollInterval         = 5 * time.Second
	defaultRateLimitPause   = time.Minute
)

// DefaultImageTypes are the image types every Mastodon accepts.
var DefaultImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// DefaultVideoTypes are the video types Herald's media library holds that
// every Mastodon accepts (it takes WebM and Ogg too, which Herald does not
// store).
var DefaultVideoTypes = []string{"video/mp4", "video/quicktime"}

// Provider publishes to Mastodon instances. It is safe for concurrent use.
type Provider struct {
	client       *http.Client
	pollInterval time.Duration
	pollTimeout  time.Duration
	videoTimeout time.Duration
	now          func() time.Time
	rates        rateBook
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithMediaPolling sets how soon Publish first asks whether an uploaded
// media is processed (each later poll waits twice as long, up to 5 s), and
// for how long before giving up with a Retry error (defaults: from 500 ms,
// for a minute for images and five for videos; timeout here sets both).
func WithMediaPolling(interval, timeout time.Duration) Option {
	return func(p *Provider) {
		if interval > 0 {
			p.pollInterval = interval
		}
		if timeout > 0 {
			p.pollTimeout = timeout
			p.videoTimeout = timeout
		}
	}
}

// WithClock sets the clock used to turn Retry-After seconds into instants
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
}

// New returns a Provider that makes its requests with client. The client
// should come from outbound.NewClient, since instance URLs are
// user-supplied; nil means outbound.NewClient(outbound.Policy{}). Redirects
// are never followed, whatever the client's own policy.
func New(client *http.Client, opts ...Option) *Provider {
	if client == nil {
		client = outbound.NewClient(outbound.Policy{})
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &Provider{
		client:       &c,
		pollInterval: defaultPollInterval,
		pollTimeout:  defaultPollTimeout,
		videoTimeout: defaultVideoPollTimeout,
		now:          time.Now,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "mastodon".
func (p *Provider) Network() string { return Network }

// DedupesByKey: Mastodon keeps each Idempotency-Key for an hour and answers
// a repeat with the status it made (provider.Deduper).
func (p *Provider) DedupesByKey() bool { return true }

// Limits are Mastodon's defaults: 500 characters, 4 attachments, JPEG,
// PNG, GIF or WebP images up to 16 MiB, MP4 or QuickTime videos up to
// 99 MiB; threads and first comments are replies.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    DefaultMaxChars,
		MaxMedia:        DefaultMaxMedia,
		MaxImageBytes:   DefaultMaxImageBytes,
		ImageTypes:      slices.Clone(DefaultImageTypes),
		MaxVideoBytes:   DefaultMaxVideoBytes,
		VideoTypes:      slices.Clone(DefaultVideoTypes),
		MaxAltTextChars: MaxDescriptionChars,
		Threads:         true,
		FirstComment:    true,
	}
}

// Validate checks a post against Mastodon's default limits.
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	return ValidateWith(p.Limits(), text, media)
}

// ValidateWith checks a post against l, counting characters as Mastodon
// does (see charcount.Count). Violations name the field: "text", "media",
// "media[i]".
func ValidateWith(l provider.Limits, text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := charcount.Count(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case n > l.MaxTextChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Mastodon allows %d (every link counts as %d)", n, l.MaxTextChars, charcount.URLLength)})
	}
	if len(media) > l.MaxMedia {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d attachments; Mastodon allows %d", len(media), l.MaxMedia)})
	}
	for i, m := range media {
		field := fmt.Sprintf("media[%d]", i)
		mt := strings.ToLower(strings.TrimSpace(strings.Split(m.MimeType, ";")[0]))
		video := slices.Contains(l.VideoTypes, mt)
		switch {
		case !video && !slices.Contains(l.ImageTypes, mt):
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is of type %q; Mastodon accepts %s", m.MimeType, strings.Join(slices.Concat(l.ImageTypes, l.VideoTypes), ", "))})
		case m.Size <= 0:
			out = append(out, provider.Violation{Field: field, Message: "is empty"})
		case video && m.Size > l.MaxVideoBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %s; Mastodon allows videos up to %s", mebibytes(m.Size), mebibytes(l.MaxVideoBytes))})
		case !video && m.Size > l.MaxImageBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %s; Mastodon allows images up to %s", mebibytes(m.Size), mebibytes(l.MaxImageBytes))})
		case utf8.RuneCountInString(m.Description) > MaxDescriptionChars:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("has a description longer than %d characters", MaxDescriptionChars)})
		}
	}
	return out
}

func mebibytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// NormalizeInstanceURL checks an instance address as a user typed it and
// returns it as "https://host[:port]". A bare host ("mastodon.social") gets
// https; http is kept when asked for (local development). Paths other than
// "/", queries, fragments and user info are refused with an errs.Fields
// error on "instance_url".
func NormalizeInstanceURL(raw string) (string, error) {
	u, problem := parseInstanceURL(raw)
	if problem != "" {
		var f errs.Fields
		f.Add("instance_url", "%s", problem)
		return "", f.Err()
	}
	return u, nil
}

func parseInstanceURL(raw string) (string, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "must not be empty"
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "is not a valid address"
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", "must be an https (or http) address"
	case u.Host == "" || u.Hostname() == "":
		return "", "must name a server, such as mastodon.social"
	case u.User != nil:
		return "", "must not contain a user name or password"
	case u.Path != "" && u.Path != "/":
		return "", "must be the server's address only, without a path"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "must be the server's address only, without ? or #"
	case strings.ContainsAny(u.Hostname(), " _"):
		return "", "has a server name with characters that are not allowed"
	}
	if port := u.Port(); port != "" {
		if n, err := parsePort(port); err != nil || n == 0 {
			return "", "has an invalid port"
		}
	}
	return scheme + "://" + strings.ToLower(u.Host), ""
}

func parsePort(s string) (int, error) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' || n > 65535 {
			return 0, fmt.Errorf("bad port %q", s)
		}
		n = n*10 + int(r-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// Interface guard.
var _ provider.Provider = (*Provider)(nil)
