package facebook

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// Network is the provider's name.
const Network = "facebook"

// Scopes are the permissions Herald asks for: list the user's pages, read
// them, and publish as them.
var Scopes = []string{"pages_manage_posts", "pages_read_engagement", "pages_show_list"}

// Facebook's limits for a page post.
const (
	MaxChars      = 63206
	MaxMedia      = 10
	MaxImageBytes = 10 << 20
	// MaxVideoBytes is what a page takes in one upload or by file_url:
	// 1 GB (and 20 minutes, which Facebook refuses while processing:
	// Herald does not decode videos). Larger needs the resumable upload,
	// which Herald does not use.
	MaxVideoBytes = 1 << 30
)

// VideoTypes are the video types Herald's library holds that Facebook
// takes.
var VideoTypes = []string{"video/mp4", "video/quicktime"}

const (
	defaultPollInterval = 2 * time.Second
	// defaultPollTimeout bounds the wait for Facebook to process a video.
	defaultPollTimeout = 10 * time.Minute
)

// ImageTypes are the image types Facebook takes for photos.
var ImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff", "image/webp"}

// MediaURL returns a public URL for a media (a signed blob URL), for
// networks that fetch media themselves.
type MediaURL func(ctx context.Context, m provider.Media) (string, error)

// Provider publishes to Facebook Pages. It is safe for concurrent use.
type Provider struct {
	c            *graph.Client
	api          graph.API
	mediaURL     MediaURL
	videoURL     MediaURL
	pollInterval time.Duration
	pollTimeout  time.Duration
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithVersion sets the Graph API version (default graph.FacebookVersion).
func WithVersion(v string) Option { return func(p *Provider) { p.api.Version = v } }

// WithMediaURL makes photos go by URL (Facebook downloads them) instead of
// being uploaded; f must return URLs Facebook can reach.
func WithMediaURL(f MediaURL) Option { return func(p *Provider) { p.mediaURL = f } }

// WithVideoURL makes videos go by file_url (Facebook downloads them from
// f's public URL) while photos are still uploaded; WithMediaURL covers
// both. Without either, a video is uploaded as the multipart "source".
func WithVideoURL(f MediaURL) Option { return func(p *Provider) { p.videoURL = f } }

// WithPolling sets how often a video's processing status is read and for
// how long (defaults: every 2 s, for 10 minutes).
func WithPolling(interval, timeout time.Duration) Option {
	return func(p *Provider) {
		if interval > 0 {
			p.pollInterval = interval
		}
		if timeout > 0 {
			p.pollTimeout = timeout
		}
	}
}

// WithClock sets the clock for rate-limit instants (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.c = graph.NewClient(p.c.HTTPClient(), now) }
}

// New returns a Provider using client (from outbound.NewClient in
// production; nil: the default outbound policy).
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{c: graph.NewClient(client, nil), api: graph.API{BaseURL: graph.FacebookBaseURL, Version: graph.FacebookVersion},
		pollInterval: defaultPollInterval, pollTimeout: defaultPollTimeout}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "facebook".
func (p *Provider) Network() string { return Network }

// Limits are a page post's: 63,206 characters, 10 images or one MP4/MOV
// video of up to 1 GB.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:  MaxChars,
		MaxMedia:      MaxMedia,
		MaxImageBytes: MaxImageBytes,
		ImageTypes:    slices.Clone(ImageTypes),
		MaxVideoBytes: MaxVideoBytes,
		VideoTypes:    slices.Clone(VideoTypes),
		FirstComment:  true,
	}
}

// Validate checks a post against Facebook's limits, counting characters
// as graphemes.
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := uniseg.GraphemeClusterCount(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no image"})
	case n > MaxChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Facebook allows %d", n, MaxChars)})
	}
	if len(media) > MaxMedia {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d images; Herald posts up to %d to a Facebook page at once", len(media), MaxMedia)})
	}
	if len(media) > 1 && slices.ContainsFunc(media, imageRules.IsVideo) {
		out = append(out, provider.Violation{Field: "media", Message: "has a video and other attachments; a Facebook page post takes one video alone, or up to 10 images"})
	}
	for i, m := range media {
		out = append(out, graph.CheckImage(i, m, imageRules)...)
	}
	return out
}

// imageRules is what Facebook takes as one photo.
var imageRules = graph.ImageRules{Network: "Facebook", Types: ImageTypes, Takes: "accepts " + strings.Join(slices.Concat(ImageTypes, VideoTypes), ", "), MaxBytes: MaxImageBytes,
	VideoTypes: VideoTypes, MaxVideoBytes: MaxVideoBytes}

// RateLimit is the usage Meta last reported for acct's page, as a budget
// of 100 %.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	return p.c.RateLimit(graph.AccountKey(acct))
}

func (p *Provider) account(acct provider.Account) (graph.API, *provider.Error) {
	if acct.AccessToken == "" || acct.RemoteID == "" {
		return graph.API{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no page or page token; reconnect the page"}
	}
	return graph.ForAccount(p.api, acct), nil
}

// VerifyCredentials asks whose token acct holds (GET /me?fields=id,name):
// a Page token answers with the page. A token of another page is
// Disconnected.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	v, err := p.verifyCredentials(ctx, acct)
	return v, graph.WithoutRefresh(err)
}

func (p *Provider) verifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	var me struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	const op = "checking the page"
	err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: api.URL("/me", url.Values{"fields": {"id,name"}}), Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &me)
	if err != nil {
		return provider.Profile{}, err
	}
	if me.ID == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no id"}
	}
	if me.ID != acct.RemoteID {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the token is not this page's; reconnect the page"}
	}
	return provider.Profile{RemoteID: me.ID, Handle: me.Name, DisplayName: me.Name, URL: "https://www.facebook.com/" + me.ID}, nil
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Deleter           = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
