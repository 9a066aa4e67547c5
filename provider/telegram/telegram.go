package telegram

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// Network is the provider's name.
const Network = "telegram"

// DefaultBaseURL is the Bot API's address.
const DefaultBaseURL = "https://api.telegram.org"

// Telegram's limits (Bot API: sendMessage, sendPhoto, sendMediaGroup).
const (
	MaxTextChars    = 4096
	MaxCaptionChars = 1024
	MaxMedia        = 10
	MaxPhotoBytes   = 10 << 20
	// MaxVideoBytes is the Bot API's 50 MB for a file a bot uploads.
	MaxVideoBytes = 50 << 20
)

// VideoTypes: Telegram plays MPEG-4 videos (sendVideo); other formats
// would arrive as plain files, so Herald sends only MP4.
var VideoTypes = []string{"video/mp4"}

// ImageTypes are the image types sendPhoto takes.
var ImageTypes = []string{"image/jpeg", "image/png", "image/webp"}

// Provider publishes to Telegram chats through bots. It is safe for
// concurrent use.
type Provider struct {
	client *http.Client
	base   string
	now    func() time.Time
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithBaseURL sets the Bot API's address for accounts without an
// InstanceURL (default https://api.telegram.org): a local Bot API server,
// or simnet's /telegram.
func WithBaseURL(u string) Option {
	return func(p *Provider) { p.base = strings.TrimSuffix(u, "/") }
}

// WithClock sets the clock that turns retry_after seconds into instants.
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
}

// New returns a Provider that makes its requests with client (nil: an
// outbound client with the default policy). Redirects are never followed.
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{client: httpcall.NoRedirects(client), base: DefaultBaseURL, now: time.Now}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "telegram".
func (p *Provider) Network() string { return Network }

// Limits: 4096 characters (1024 as a caption, when there are images), up
// to 10 JPEG, PNG or WebP images of 10 MB or MP4 videos of 50 MB, no
// descriptions, threads by reply.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:  MaxTextChars,
		MaxMedia:      MaxMedia,
		MaxImageBytes: MaxPhotoBytes,
		ImageTypes:    slices.Clone(ImageTypes),
		MaxVideoBytes: MaxVideoBytes,
		VideoTypes:    slices.Clone(VideoTypes),
		Threads:       true,
	}
}

// Validate checks a post against Telegram's limits, counting UTF-16 code
// units. Violations name "text", "media" or "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := validate.UTF16Len(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case len(media) > 0 && n > MaxCaptionChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; with images Telegram allows a caption of %d", n, MaxCaptionChars)})
	case n > MaxTextChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Telegram allows %d", n, MaxTextChars)})
	}
	return append(out, validate.Media(p.Limits(), "Telegram", media, validate.UTF16Len)...)
}

// Interface guards.
var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Deleter  = (*Provider)(nil)
)
