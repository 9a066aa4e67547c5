package instagram

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// Network is the provider's name.
const Network = "instagram"

// Scopes are the Facebook Login permissions Herald asks for to publish to
// the Instagram accounts of the user's pages.
var Scopes = []string{"instagram_basic", "instagram_content_publish", "pages_show_list", "pages_read_engagement"}

// Instagram's limits for a feed post.
const (
	MaxCaptionChars = 2200
	MaxHashtags     = 30
	MaxMentions     = 20
	MaxMedia        = 10
	MaxImageBytes   = 8 << 20
	MaxAltTextChars = 1000
	// A single video is published as a reel (Instagram's only feed video
	// since 2022), up to 300 MB; a video in a carousel up to 100 MB. Their
	// lengths (3 s to 15 min, up to 60 s in a carousel) are Instagram's to
	// refuse while it processes the container: Herald does not decode
	// videos.
	MaxReelBytes          = 300 << 20
	MaxCarouselVideoBytes = 100 << 20
)

// VideoTypes: MP4 and MOV.
var VideoTypes = []string{"video/mp4", "video/quicktime"}

// ImageTypes: the content publishing API takes JPEG images only.
var ImageTypes = []string{"image/jpeg"}

const (
	defaultPollInterval = 2 * time.Second
	defaultPollTimeout  = 2 * time.Minute
	// defaultVideoPollTimeout bounds the wait for a video container:
	// Instagram transcodes it, which takes minutes for a long reel.
	defaultVideoPollTimeout = 10 * time.Minute
)

// MediaURL returns a public URL Instagram can fetch m from; see the
// package doc.
type MediaURL func(ctx context.Context, m provider.Media) (publicURL string, err error)

// Provider publishes to Instagram. It is safe for concurrent use.
type Provider struct {
	c            *graph.Client
	api          graph.API
	mediaURL     MediaURL
	pollInterval time.Duration
	pollTimeout  time.Duration
	videoTimeout time.Duration
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithMediaURL sets how media get public URLs. Publish needs it.
func WithMediaURL(f MediaURL) Option { return func(p *Provider) { p.mediaURL = f } }

// WithPolling sets how often a container's status is read, and for how
// long before giving up with Retry (defaults: every 2 s, for 2 minutes, 10
// for a video; timeout here sets both).
func WithPolling(interval, timeout time.Duration) Option {
	return func(p *Provider) {
		if interval > 0 {
			p.pollInterval = interval
		}
		if timeout > 0 {
			p.pollTimeout, p.videoTimeout = timeout, timeout
		}
	}
}

// WithVersion sets the Graph API version (default graph.FacebookVersion).
func WithVersion(v string) Option { return func(p *Provider) { p.api.Version = v } }

// WithClock sets the clock for rate-limit instants (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.c = graph.NewClient(p.c.HTTPClient(), now) }
}

// New returns a Provider using client (outbound.NewClient in production).
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{
		c:            graph.NewClient(client, nil),
		api:          graph.API{BaseURL: graph.FacebookBaseURL, Version: graph.FacebookVersion},
		pollInterval: defaultPollInterval,
		pollTimeout:  defaultPollTimeout,
		videoTimeout: defaultVideoPollTimeout,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "instagram".
func (p *Provider) Network() string { return Network }

// Limits: a caption of 2,200 characters, 1 to 10 JPEG images up to 8 MB
// or MP4/MOV videos (a single one is a reel of up to 300 MB; in a carousel,
// up to 100 MB).
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    MaxCaptionChars,
		MaxMedia:        MaxMedia,
		MaxImageBytes:   MaxImageBytes,
		ImageTypes:      slices.Clone(ImageTypes),
		MaxVideoBytes:   MaxReelBytes,
		VideoTypes:      slices.Clone(VideoTypes),
		MaxAltTextChars: MaxAltTextChars,
		MediaRequired:   true,
		FirstComment:    true,
	}
}

var (
	hashtagRE = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_&])#[\p{L}\p{N}_]+`)
	mentionRE = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_.])@[A-Za-z0-9_.]+`)
)

// imageRules is what Instagram takes as one image.
var imageRules = graph.ImageRules{Network: "Instagram", Types: ImageTypes, Takes: "publishes JPEG images and MP4 or MOV videos only", MaxBytes: MaxImageBytes, MaxAltText: MaxAltTextChars,
	VideoTypes: VideoTypes, MaxVideoBytes: MaxReelBytes}

// carouselRules are imageRules for an item of a carousel.
var carouselRules = func() graph.ImageRules {
	r := imageRules
	r.MaxVideoBytes = MaxCarouselVideoBytes
	return r
}()

// Validate checks a post against Instagram's limits: the caption in
// graphemes, at most 30 hashtags and 20 @mentions, 1 to 10 JPEG images.
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	if n := uniseg.GraphemeClusterCount(text); n > MaxCaptionChars {
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Instagram allows %d", n, MaxCaptionChars)})
	}
	if n := len(hashtagRE.FindAllString(text, -1)); n > MaxHashtags {
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("has %d hashtags; Instagram allows %d", n, MaxHashtags)})
	}
	if n := len(mentionRE.FindAllString(text, -1)); n > MaxMentions {
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("mentions %d accounts; Instagram allows %d", n, MaxMentions)})
	}
	switch {
	case len(media) == 0:
		out = append(out, provider.Violation{Field: "media", Message: "is required: an Instagram post needs at least one image"})
	case len(media) > MaxMedia:
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d images; an Instagram carousel takes up to %d", len(media), MaxMedia)})
	}
	rules := imageRules
	if len(media) > 1 {
		rules = carouselRules
	}
	for i, m := range media {
		out = append(out, graph.CheckImage(i, m, rules)...)
	}
	return out
}

// RateLimit is the usage Meta last reported for acct, as a budget of
// 100 %.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	return p.c.RateLimit(graph.AccountKey(acct))
}

func (p *Provider) account(acct provider.Account) (graph.API, *provider.Error) {
	if acct.AccessToken == "" || acct.RemoteID == "" {
		return graph.API{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no Instagram id or token; reconnect it"}
	}
	return graph.ForAccount(p.api, acct), nil
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
