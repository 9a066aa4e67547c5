package x

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
	"github.com/heraldhq/herald/provider/x/xtext"
)

// Network is the provider's name.
const Network = "x"

// DefaultBaseURL is X API v2's address; Account.InstanceURL overrides it
// (simnet in tests).
const DefaultBaseURL = "https://api.x.com"

// X's limits for what Herald publishes.
const (
	MaxMedia      = 4
	MaxImageBytes = 5 << 20
	MaxGIFBytes   = 15 << 20
	// MaxVideoBytes is X's 512 MB; a video must also be at most 140 s
	// long, which Herald cannot tell without decoding it: X refuses a
	// longer one when it processes the upload (a BadContent error).
	MaxVideoBytes     = 512 << 20
	MaxAltTextChars   = 1000
	refreshMargin     = 5 * time.Minute
	defaultChunkBytes = 1 << 20
	defaultPause      = 15 * time.Minute // X's rate-limit window
)

// ImageTypes are the image types X takes.
var ImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// VideoTypes are the video types X takes that Herald's library holds.
var VideoTypes = []string{"video/mp4", "video/quicktime"}

// defaultVideoPollTimeout bounds the wait for X to transcode a video; an
// image is processed in seconds, pollTimeout's minute.
const defaultVideoPollTimeout = 10 * time.Minute

// Provider publishes to X. It is safe for concurrent use.
type Provider struct {
	client       *http.Client
	oauth        *oauth2.Config
	now          func() time.Time
	chunk        int
	pollInterval time.Duration
	pollTimeout  time.Duration
	videoTimeout time.Duration
	rates        httpcall.RateBook
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithOAuth sets Herald's X app (see OAuthConfig), needed to connect
// accounts and to refresh their tokens.
func WithOAuth(cfg *oauth2.Config) Option { return func(p *Provider) { p.oauth = cfg } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithChunkSize sets the size of media upload segments (default 1 MiB).
func WithChunkSize(n int) Option {
	return func(p *Provider) {
		if n > 0 {
			p.chunk = n
		}
	}
}

// WithMediaPolling sets how often and how long Publish waits for X to
// process an upload (default: as X's check_after_secs says, for a minute
// for images and ten for videos; timeout here sets both).
func WithMediaPolling(interval, timeout time.Duration) Option {
	return func(p *Provider) {
		p.pollInterval, p.pollTimeout, p.videoTimeout = interval, timeout, timeout
	}
}

// New returns a Provider that makes its requests with client (in
// production outbound.NewClient; nil means that with its defaults).
// Redirects are never followed.
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{client: httpcall.NoRedirects(client), now: time.Now, chunk: defaultChunkBytes, pollTimeout: time.Minute, videoTimeout: defaultVideoPollTimeout}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "x".
func (p *Provider) Network() string { return Network }

// Limits are X's: 280 weighted characters, four images (JPEG, PNG, GIF,
// WebP) of up to 5 MB (GIFs up to 15 MB, which Limits cannot say) or one
// MP4 or QuickTime video of up to 512 MB, with alt text of up to 1,000
// characters, threads and first comments (both are replies to one's own
// post).
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    xtext.MaxWeightedLength,
		MaxMedia:        MaxMedia,
		MaxImageBytes:   MaxImageBytes,
		ImageTypes:      slices.Clone(ImageTypes),
		MaxVideoBytes:   MaxVideoBytes,
		VideoTypes:      slices.Clone(VideoTypes),
		MaxAltTextChars: MaxAltTextChars,
		Threads:         true,
		FirstComment:    true,
	}
}

// Validate checks a post against X's limits, counting text as X does.
// Violations name the field: "text", "media", "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := xtext.Count(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no media"})
	case n > xtext.MaxWeightedLength:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("weighs %d characters; X allows %d (links count %d, emoji and most non-Latin characters 2)", n, xtext.MaxWeightedLength, xtext.URLLength)})
	}
	if len(media) > MaxMedia {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d attachments; X allows %d", len(media), MaxMedia)})
	}
	videos := 0
	for _, m := range media {
		if slices.Contains(VideoTypes, mediaType(m)) {
			videos++
		}
	}
	if videos > 0 && len(media) > 1 {
		out = append(out, provider.Violation{Field: "media", Message: "has a video and other attachments; X takes one video alone, or up to 4 images"})
	}
	for i, m := range media {
		field := fmt.Sprintf("media[%d]", i)
		mt := mediaType(m)
		video := slices.Contains(VideoTypes, mt)
		switch {
		case !video && !slices.Contains(ImageTypes, mt):
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is of type %q; Herald posts to X only %s images and %s videos", m.MimeType, strings.Join(ImageTypes, ", "), strings.Join(VideoTypes, ", "))})
		case m.Size <= 0:
			out = append(out, provider.Violation{Field: field, Message: "is empty"})
		case video && m.Size > MaxVideoBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %.1f MB; X allows videos up to 512 MB", float64(m.Size)/(1<<20))})
		case video:
			// Its description is not sent (see uploadMedia), so not checked.
		case mt == "image/gif" && m.Size > MaxGIFBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %.1f MB; X allows GIFs up to 15 MB", float64(m.Size)/(1<<20))})
		case mt != "image/gif" && m.Size > MaxImageBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %.1f MB; X allows images up to 5 MB", float64(m.Size)/(1<<20))})
		case utf8.RuneCountInString(m.Description) > MaxAltTextChars:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("has a description longer than %d characters", MaxAltTextChars)})
		}
	}
	return out
}

func mediaType(m provider.Media) string {
	return strings.ToLower(strings.TrimSpace(strings.Split(m.MimeType, ";")[0]))
}

// NeedsRefresh reports whether acct's access token expires within five
// minutes of now and a refresh token can renew it.
func (p *Provider) NeedsRefresh(acct provider.Account, now time.Time) bool {
	return httpcall.NeedsRefresh(acct, now, refreshMargin)
}

// RateLimit returns the budget of POST /2/tweets that X last reported for
// acct (x-rate-limit-* headers), the one that decides whether Herald can
// publish.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	return p.rates.Get(httpcall.AccountKey(acct))
}

func baseURL(acct provider.Account) string {
	if acct.InstanceURL != "" {
		return strings.TrimSuffix(acct.InstanceURL, "/")
	}
	return DefaultBaseURL
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Refresher         = (*Provider)(nil)
	_ provider.Deleter           = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
