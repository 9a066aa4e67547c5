package bluesky

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// Network is the provider's name.
const Network = "bluesky"

// DefaultPDS is where an account lives unless its owner names another PDS.
const DefaultPDS = "https://bsky.social"

// The limits of app.bsky.feed.post and app.bsky.embed.images.
const (
	MaxGraphemes  = 300
	MaxTextBytes  = 3000
	MaxImages     = 4
	MaxImageBytes = 1_000_000
	// MaxAltGraphemes is the longest alt text the Bluesky app lets a user
	// write; the lexicon itself sets none.
	MaxAltGraphemes = 2000
)

// ImageTypes are the image types Bluesky shows.
var ImageTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif"}

// refreshMargin is how long before its expiry an access token is renewed.
const refreshMargin = 5 * time.Minute

// Provider publishes to Bluesky PDSes. It is safe for concurrent use.
type Provider struct {
	client *http.Client
	now    func() time.Time
	rates  rateBook
}

// Option adjusts a Provider.
type Option func(*Provider)

// WithClock sets the clock for createdAt, token expiry and Retry-After
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
}

// New returns a Provider that makes its requests with client, which should
// come from outbound.NewClient since PDS addresses are user-supplied; nil
// means outbound.NewClient(outbound.Policy{}). Redirects are never
// followed, whatever the client's own policy.
func New(client *http.Client, opts ...Option) *Provider {
	if client == nil {
		client = outbound.NewClient(outbound.Policy{})
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &Provider{client: &c, now: time.Now}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Network returns "bluesky".
func (p *Provider) Network() string { return Network }

// DedupesByKey: a post's record key derives from its idempotency key, so a
// repeat cannot make a second record (provider.Deduper).
func (p *Provider) DedupesByKey() bool { return true }

// Limits are app.bsky.feed.post's: 300 graphemes, four images of up to
// 1,000,000 bytes each, replies (threads). No videos: Bluesky takes them
// through its separate video service (app.bsky.video.uploadVideo with a
// service token), which a PDS alone does not provide (docs/decisions/0024).
func (p *Provider) Limits() provider.Limits {
	return provider.Limits{
		MaxTextChars:    MaxGraphemes,
		MaxMedia:        MaxImages,
		MaxImageBytes:   MaxImageBytes,
		ImageTypes:      slices.Clone(ImageTypes),
		MaxAltTextChars: MaxAltGraphemes,
		Threads:         true,
	}
}

// Validate checks a post against Bluesky's limits, counting graphemes as
// Bluesky does. Violations name the field: "text", "media", "media[i]".
func (p *Provider) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	n := uniseg.GraphemeClusterCount(text)
	switch {
	case strings.TrimSpace(text) == "" && len(media) == 0:
		out = append(out, provider.Violation{Field: "text", Message: "must not be empty when there are no images"})
	case n > MaxGraphemes:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d characters long; Bluesky allows %d", n, MaxGraphemes)})
	case len(text) > MaxTextBytes:
		out = append(out, provider.Violation{Field: "text", Message: fmt.Sprintf("is %d bytes long; Bluesky allows %d", len(text), MaxTextBytes)})
	}
	if len(media) > MaxImages {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d images; Bluesky allows %d", len(media), MaxImages)})
	}
	for i, m := range media {
		field := fmt.Sprintf("media[%d]", i)
		switch {
		case !slices.Contains(ImageTypes, mediaType(m.MimeType)):
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is of type %q; Bluesky accepts %s", m.MimeType, strings.Join(ImageTypes, ", "))})
		case m.Size <= 0:
			out = append(out, provider.Violation{Field: field, Message: "is empty"})
		case m.Size > MaxImageBytes:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %s bytes; Bluesky allows images up to 1,000,000 bytes (about 976 KB)", groupThousands(m.Size))})
		}
		if a := uniseg.GraphemeClusterCount(m.Description); a > MaxAltGraphemes {
			out = append(out, provider.Violation{Field: field + ".description", Message: fmt.Sprintf("is %d characters long; Bluesky allows alt text of %d", a, MaxAltGraphemes)})
		}
	}
	return out
}

func mediaType(s string) string {
	return strings.ToLower(strings.TrimSpace(strings.Split(s, ";")[0]))
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// RateLimit returns the write budget the account's PDS last reported
// (RateLimit-Limit, -Remaining and -Reset on its answers), and false if
// none was seen. Accounts are told apart by Account.ID, or, without one,
// by PDS and DID.
func (p *Provider) RateLimit(acct provider.Account) (provider.RateLimit, bool) {
	return p.rates.get(accountKey(acct))
}

func accountKey(acct provider.Account) string {
	if acct.ID != "" {
		return acct.ID
	}
	sum := sha256.Sum256([]byte(acct.InstanceURL + "\n" + acct.RemoteID))
	return "anon:" + hex.EncodeToString(sum[:16])
}

// rateBook keeps the latest rate-limit state per account.
type rateBook struct {
	mu sync.Mutex
	m  map[string]provider.RateLimit
}

func (b *rateBook) get(key string) (provider.RateLimit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	return r, ok
}

// observe records one answer's headers. Answers may arrive out of order,
// so an older window never replaces a newer one, and within a window the
// lowest remaining count wins.
func (b *rateBook) observe(key string, h http.Header, now time.Time) {
	limit, err1 := strconv.Atoi(h.Get("RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, ok := parseReset(h.Get("RateLimit-Reset"))
	if err1 != nil || err2 != nil || !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]provider.RateLimit{}
	}
	if old, had := b.m[key]; had && (old.Reset.After(reset) || (old.Reset.Equal(reset) && old.Remaining < remaining)) {
		return
	}
	b.m[key] = provider.RateLimit{Limit: limit, Remaining: remaining, Reset: reset, Seen: now}
}

// Interface guards.
var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Looker            = (*Provider)(nil)
	_ provider.Deleter           = (*Provider)(nil)
	_ provider.Refresher         = (*Provider)(nil)
	_ provider.RateLimitReporter = (*Provider)(nil)
)
