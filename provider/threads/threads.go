package threads

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// Network is the provider's name.
const Network = "threads"

// Scopes are the permissions Herald asks for: the profile, publishing,
// and replies (a thread's next parts and first comments are replies;
// Meta's reply documentation asks for threads_manage_replies to post them
// and to read their quota).
var Scopes = []string{"threads_basic", "threads_content_publish", "threads_manage_replies"}

// Threads' limits.
const (
	MaxChars        = 500
	MaxMedia        = 20
	MaxImageBytes   = 8 << 20
	MaxAltTextChars = 1000
	// MaxVideoBytes is Threads' 1 GB; a video must also be at most five
	// minutes long, which Threads refuses while processing the container
	// (Herald does not decode videos).
	MaxVideoBytes = 1 << 30
	// RefreshBefore is how long before expiry a token is renewed.
	RefreshBefore = 7 * 24 * time.Hour
)

// ImageTypes are what Threads takes for images.
var ImageTypes = []string{"image/jpeg", "image/png"}

// VideoTypes are what Threads takes for videos: MP4 and MOV.
var VideoTypes = []string{"video/mp4", "video/quicktime"}

const (
	defaultPollInterval = 2 * time.Second
	defaultPollTimeout  = 2 * time.Minute
	// defaultVideoPollTimeout bounds the wait for Threads to transcode a
	// video container.
	defaultVideoPollTimeout = 10 * time.Minute
	quotaPause              = time.Hour
)

// MediaURL returns a public URL Threads can fetch m from.
type MediaURL func(ctx context.Context, m provider.Media) (publicURL string, err error)

// Provider publishes to Threads. It is safe for concurrent use.
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

// WithMediaURL sets how images get public URLs; posts with images need it.
func WithMediaURL(f MediaURL) Option { return func(p *Provider) { p.mediaURL = f } }

// WithPolling sets how often a container's status is read and for how
// long (defaults: every 2 s, for 2 minutes, 10 for a video; timeout here
// sets both).
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

// WithClock sets the clock for token expiry and rate-limit instants.
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.c = graph.NewClient(p.c.HTTPClient(), now) }
}

// New returns a Provider using client (outbound.NewClient in production).
func New(client *http.Client, opts ...Option) *Provider {
	p := &Provider{
		c:            graph.NewClient(client, nil),
		api:          graph.API{BaseURL: graph.ThreadsBaseURL, Version: graph.ThreadsVersion},
		pollInterval: defaultPollInterval,
		pollTimeout:  defaultPollTimeout,
		videoTimeout: defaultVideoPollTimeout,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "threads".
func (p *Provider) Network() string { return Network }

// Limits: 500 characters (counted by Count), up to 20 images or MP4/MOV
// videos (a carousel), videos up to 1 GB, threads and first comments as
// replies.
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    MaxChars,
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

// imageRules is what Threads takes as one image.
var imageRules = graph.ImageRules{Network: "Threads", Types: ImageTypes, Takes: "accepts JPEG and PNG images and MP4 or MOV videos", MaxBytes: MaxImageBytes, MaxAltText: MaxAltTextChars,
	VideoTypes: VideoTypes, MaxVideoBytes: MaxVideoBytes}

// Validate checks a post against Threads' limits, counting as Threads
// does (see Count).
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := Count(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there is no image"})
	case n > MaxChars:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Threads allows %d (an emoji counts as 4 or more)", n, MaxChars)})
	}
	if len(media) > MaxMedia {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d images; Threads allows %d", len(media), MaxMedia)})
	}
	for i, m := range media {
		out = append(out, graph.CheckImage(i, m, imageRules)...)
	}
	return out
}

// RateLimit is the usage Meta last reported for acct.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	return p.c.RateLimit(graph.AccountKey(acct))
}

func (p *Provider) account(acct provider.Account) (graph.API, *provider.Error) {
	if acct.AccessToken == "" || acct.RemoteID == "" {
		return graph.API{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no Threads id or token; reconnect it"}
	}
	return graph.ForAccount(p.api, acct), nil
}

// NeedsRefresh reports whether acct's token is in its last RefreshBefore
// (or past it).
func (p *Provider) NeedsRefresh(acct provider.Account, now time.Time) bool {
	return !acct.ExpiresAt.IsZero() && !now.Before(acct.ExpiresAt.Add(-RefreshBefore))
}

// Refresh renews acct's long-lived token for another 60 days. The old
// token is what Threads renews, so Credentials.RefreshToken stays empty.
// A refused token (expired, revoked) is Disconnected.
func (p *Provider) Refresh(ctx context.Context, acct provider.Account) (provider.Credentials, error) {
	if acct.AccessToken == "" {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no token to renew; reconnect it"}
	}
	api := graph.ForAccount(p.api, acct)
	q := url.Values{"grant_type": {"th_refresh_token"}, "access_token": {acct.AccessToken}}
	t, err := p.c.GetToken(ctx, api.Unversioned("/refresh_access_token", q), "renewing the Threads token")
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Kind == provider.Expired {
			pe.Kind, pe.Message = provider.Disconnected, "renewing the Threads token: it has already expired; reconnect the account"
		}
		return provider.Credentials{}, err
	}
	return provider.Credentials{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt}, nil
}

// VerifyCredentials reads the profile (GET /me?fields=id,username,name);
// a token of another profile is Disconnected.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	prof, err := p.me(ctx, api, acct.AccessToken, graph.AccountKey(acct))
	if err != nil {
		return provider.Profile{}, err
	}
	if prof.RemoteID != acct.RemoteID {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: "checking the Threads account: the token is another profile's; reconnect the account"}
	}
	return prof, nil
}

func (p *Provider) me(ctx context.Context, api graph.API, token, rateKey string) (provider.Profile, error) {
	const op = "checking the Threads account"
	var out struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	}
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: api.URL("/me", url.Values{"fields": {"id,username,name"}}), Token: token, RateKey: rateKey, Op: op}, &out); err != nil {
		return provider.Profile{}, err
	}
	if out.ID == "" || out.Username == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no username"}
	}
	name := out.Name
	if name == "" {
		name = out.Username
	}
	return provider.Profile{RemoteID: out.ID, Handle: "@" + out.Username, DisplayName: name, URL: "https://www.threads.net/@" + out.Username}, nil
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Refresher         = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
