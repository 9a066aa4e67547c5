package portal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/cache/readthrough"
)

// Config tunes the Portal service. Zero values are not defaults: start from
// DefaultConfig.
type Config struct {
	// BaseURL is the origin where users reach Portal, scheme and host only
	// ("https://herald.example.com"): invite links and OAuth redirect URIs
	// are built from it, and the cross-origin check trusts it.
	BaseURL string
	// SecretKey (32 bytes) encrypts account tokens at rest (AES-256-GCM,
	// through a derived key) and signs CSRF tokens. Changing it makes
	// stored tokens unreadable.
	SecretKey []byte
	// CookieSecure marks the session cookie Secure (and names it with the
	// __Host- prefix). Turn it off only for plain-HTTP development.
	CookieSecure bool
	// TrustedOrigins are extra origins allowed to send state-changing
	// browser requests (e.g. a separate UI host).
	TrustedOrigins []string
	// TrustForwardedFor takes the client address for rate limits from the
	// last X-Forwarded-For hop; set it only behind a reverse proxy that sets
	// that header.
	TrustForwardedFor bool

	SessionTTL time.Duration
	InviteTTL  time.Duration
	// OAuthStateTTL is how long a started OAuth connection may take.
	OAuthStateTTL time.Duration

	// MaxUploadBytes caps one media file, image or video (default 512 MiB,
	// X's and Meta's largest video; each network's own, smaller limits are
	// checked when a post is validated for it).
	MaxUploadBytes int64
	// MaxJSONBytes caps a JSON request body.
	MaxJSONBytes int64

	// Login attempts allowed per client address and per email address:
	// LoginRate per second on average, LoginBurst at once.
	LoginRate  float64
	LoginBurst int
	// Requests to endpoints that need no login (setup, invite acceptance,
	// OAuth callback), per client address.
	PublicRate  float64
	PublicBurst int
	// API requests per authenticated user.
	APIRate  float64
	APIBurst int

	// Argon2id parameters for new password hashes; stored hashes carry
	// their own, so these can be raised at any time.
	Argon2Time      uint32
	Argon2MemoryKiB uint32
	Argon2Threads   uint8
	// MaxConcurrentHashes bounds memory spent hashing passwords at once.
	MaxConcurrentHashes int

	// ResyncInterval is how often schedules whose Trigger call had an
	// unknown outcome are sent again, and expired sessions purged.
	ResyncInterval time.Duration
	// TriggerTimeout bounds one call to Trigger made while a user waits.
	TriggerTimeout time.Duration

	// Topology, when set, describes the deployment for the owners' page
	// /settings/topology (the node fills it; Portal does not know nodes).
	Topology func(ctx context.Context) ([]TopologyNode, error)

	// Cache is what workspaces' post lists and accounts are read through
	// (docs/decisions/0032); nil reads them from the database every time.
	Cache *readthrough.Cache
}

// DefaultConfig returns the defaults. SecretKey and BaseURL must still be set.
func DefaultConfig() Config {
	return Config{
		BaseURL:             "http://localhost:8080",
		CookieSecure:        true,
		SessionTTL:          24 * time.Hour,
		InviteTTL:           7 * 24 * time.Hour,
		OAuthStateTTL:       15 * time.Minute,
		MaxUploadBytes:      512 << 20,
		MaxJSONBytes:        1 << 20,
		LoginRate:           10.0 / 60, // ten a minute
		LoginBurst:          5,
		PublicRate:          1,
		PublicBurst:         30,
		APIRate:             20,
		APIBurst:            200,
		Argon2Time:          2,
		Argon2MemoryKiB:     19 * 1024, // OWASP's minimum for argon2id
		Argon2Threads:       1,
		MaxConcurrentHashes: 4,
		ResyncInterval:      30 * time.Second,
		TriggerTimeout:      10 * time.Second,
	}
}

func (c Config) check() error {
	if len(c.SecretKey) != 32 {
		return fmt.Errorf("portal: SecretKey must be 32 bytes, got %d", len(c.SecretKey))
	}
	if c.BaseURL == "" {
		return fmt.Errorf("portal: BaseURL is required")
	}
	if !strings.Contains(c.BaseURL, "://") {
		return fmt.Errorf("portal: BaseURL %q must start with https:// or http://", c.BaseURL)
	}
	if _, err := parseInstanceURL(c.BaseURL); err != nil {
		return fmt.Errorf("portal: BaseURL %q: %w", c.BaseURL, err)
	}
	for name, d := range map[string]time.Duration{
		"SessionTTL": c.SessionTTL, "InviteTTL": c.InviteTTL, "OAuthStateTTL": c.OAuthStateTTL,
		"ResyncInterval": c.ResyncInterval, "TriggerTimeout": c.TriggerTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("portal: %s must be positive", name)
		}
	}
	if c.MaxUploadBytes <= 0 || c.MaxJSONBytes <= 0 {
		return fmt.Errorf("portal: MaxUploadBytes and MaxJSONBytes must be positive")
	}
	if c.LoginRate <= 0 || c.LoginBurst < 1 || c.PublicRate <= 0 || c.PublicBurst < 1 || c.APIRate <= 0 || c.APIBurst < 1 {
		return fmt.Errorf("portal: rate limits must be positive")
	}
	if c.Argon2Time < 1 || c.Argon2MemoryKiB < 8 || c.Argon2Threads < 1 {
		return fmt.Errorf("portal: argon2 parameters too small")
	}
	if c.MaxConcurrentHashes < 1 {
		return fmt.Errorf("portal: MaxConcurrentHashes must be at least 1")
	}
	return nil
}
