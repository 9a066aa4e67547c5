package linkedin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// Network is the provider's name.
const Network = "linkedin"

// DefaultBaseURL is LinkedIn's API; Account.InstanceURL overrides it
// (simnet in tests).
const DefaultBaseURL = "https://api.linkedin.com"

// DefaultVersion is the Linkedin-Version Herald speaks.
const DefaultVersion = "202610"

// LinkedIn's limits for what Herald publishes.
const (
	MaxCommentaryChars = 3000
	// MaxImages is a multi-image post's largest number of images.
	MaxImages = 20
	// MaxImageBytes is Herald's cap: LinkedIn documents a pixel limit
	// (36,152,320 pixels) rather than a file size.
	MaxImageBytes   = 10 << 20
	MaxAltTextChars = 4086
	refreshMargin   = 24 * time.Hour
)

// ImageTypes are the image types the Images API takes.
var ImageTypes = []string{"image/jpeg", "image/png", "image/gif"}

// LinkedIn's video limits (Videos API): MP4 of 75 KB to 500 MB, one per
// post. Its length (3 s to 30 minutes) is LinkedIn's to refuse while
// processing: Herald does not decode videos.
const (
	MinVideoBytes = 75 * 1000
	MaxVideoBytes = 500 * 1000 * 1000
)

// VideoTypes are what the Videos API takes.
var VideoTypes = []string{"video/mp4"}

const (
	defaultPollInterval = 2 * time.Second
	defaultPollTimeout  = 10 * time.Minute
)

// Provider publishes to LinkedIn. It is safe for concurrent use.
type Provider struct {
	client       *http.Client
	oauth        *oauth2.Config
	version      string
	now          func() time.Time
	pollInterval time.Duration
	pollTimeout  time.Duration
}

// WithVideoPolling sets how often a video's processing status is read, and
// for how long before giving up with Retry (defaults: every 2 s, for 10
// minutes).
func WithVideoPolling(interval, timeout time.Duration) Option {
	return func(p *Provider) {
		if interval > 0 {
			p.pollInterval = interval
		}
		if timeout > 0 {
			p.pollTimeout = timeout
		}
	}
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithOAuth sets Herald's LinkedIn app (see OAuthConfig), needed to
// connect accounts and refresh their tokens.
func WithOAuth(cfg *oauth2.Config) Option { return func(p *Provider) { p.oauth = cfg } }

// WithVersion sets the Linkedin-Version header (YYYYMM).
func WithVersion(v string) Option {
	return func(p *Provider) {
		if v != "" {
			p.version = v
		}
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// New returns a Provider that makes its requests with client (in
// production outbound.NewClient; nil means that with its defaults).
// Redirects are never followed.
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{client: httpcall.NoRedirects(client), version: DefaultVersion, now: time.Now,
		pollInterval: defaultPollInterval, pollTimeout: defaultPollTimeout}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "linkedin".
func (p *Provider) Network() string { return Network }

// Limits are LinkedIn's: 3,000 characters of commentary, up to 20 JPEG,
// PNG or GIF images with alt text, or one MP4 video of up to 500 MB; no
// threads, and first comments as
// comments on the post.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    MaxCommentaryChars,
		MaxMedia:        MaxImages,
		MaxImageBytes:   MaxImageBytes,
		ImageTypes:      slices.Clone(ImageTypes),
		MaxVideoBytes:   MaxVideoBytes,
		VideoTypes:      slices.Clone(VideoTypes),
		MaxAltTextChars: MaxAltTextChars,
		// A first comment is a comment on the post (socialActions).
		FirstComment: true,
	}
}

// Validate checks a post against LinkedIn's limits. The text is counted
// in characters as written (the escapes the little format needs are not
// counted). Violations name the field: "text", "media", "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := utf8.RuneCountInString(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case n > MaxCommentaryChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; LinkedIn allows %d", n, MaxCommentaryChars)})
	}
	if len(media) > MaxImages {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d images; LinkedIn allows %d", len(media), MaxImages)})
	}
	if len(media) > 1 && slices.ContainsFunc(media, isVideo) {
		out = append(out, provider.Violation{Field: "media", Message: "has a video and other attachments; a LinkedIn post takes one video alone, or up to 20 images"})
	}
	for i, m := range media {
		field := fmt.Sprintf("media[%d]", i)
		switch {
		case isVideo(m) && m.Size < MinVideoBytes:
			out = append(out, provider.Violation{Field: field, Message: "is smaller than the 75 KB LinkedIn takes as a video"})
		case isVideo(m) && m.Size > MaxVideoBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %.1f MB; LinkedIn allows videos up to 500 MB", float64(m.Size)/1e6)})
		case isVideo(m):
		case !slices.Contains(ImageTypes, mediaType(m)):
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is of type %q; Herald posts to LinkedIn only %s images", m.MimeType, strings.Join(ImageTypes, ", "))})
		case m.Size <= 0:
			out = append(out, provider.Violation{Field: field, Message: "is empty"})
		case m.Size > MaxImageBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %.1f MB; Herald posts images of up to 10 MB to LinkedIn", float64(m.Size)/(1<<20))})
		case utf8.RuneCountInString(m.Description) > MaxAltTextChars:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("has a description longer than %d characters", MaxAltTextChars)})
		}
	}
	return out
}

func isVideo(m provider.Media) bool { return slices.Contains(VideoTypes, mediaType(m)) }

func mediaType(m provider.Media) string {
	return strings.ToLower(strings.TrimSpace(strings.Split(m.MimeType, ";")[0]))
}

// NeedsRefresh reports whether acct's access token expires within a day
// of now and a refresh token can renew it.
func (p *Provider) NeedsRefresh(acct provider.Account, now time.Time) bool {
	return httpcall.NeedsRefresh(acct, now, refreshMargin)
}

func baseURL(acct provider.Account) string {
	if acct.InstanceURL != "" {
		return strings.TrimSuffix(acct.InstanceURL, "/")
	}
	return DefaultBaseURL
}

// Interface guards.
var (
	_ provider.Provider  = (*Provider)(nil)
	_ provider.Refresher = (*Provider)(nil)
	_ provider.Deleter   = (*Provider)(nil)
)
