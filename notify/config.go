package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Config tunes the Notification service.
type Config struct {
	// SMTP names the mail server as a URL; empty disables email (in-app
	// notifications still work).
	//
	//	smtp://user:pass@mail.example.com:587      STARTTLS, required (the default)
	//	smtp://mail.example.com:25?tls=opportunistic
	//	smtp://127.0.0.1:1025?tls=none             a local relay or test server
	//	smtps://user:pass@mail.example.com:465     TLS from the first byte
	//
	// The port defaults to 587 for smtp and 465 for smtps. With a user the
	// client authenticates with the strongest mechanism the server offers,
	// and never sends a password in clear text.
	SMTP string
	// From is the sender of every email, "Herald <herald@example.com>".
	From string
	// BaseURL is where users reach Herald's web UI; links in emails start
	// with it.
	BaseURL string

	// MaxAttempts is how many times an email is tried before it is kept as a
	// dead letter (status failed).
	MaxAttempts int
	// RetryMin is the wait after the first failed attempt; each further
	// failure doubles it, up to RetryMax.
	RetryMin time.Duration
	RetryMax time.Duration
	// SendTimeout bounds one connection to the SMTP server.
	SendTimeout time.Duration
	// Poll is how often the delivery loop looks for due emails it was not
	// woken for (queued by another node, or due for a retry).
	Poll time.Duration
	// Batch is how many emails one connection sends at most.
	Batch int

	// StreamBuffer is how many notifications wait for one slow browser
	// stream before it is told to resync instead.
	StreamBuffer int
	// LiveSweep is how often a node looks for notifications other nodes
	// recorded for the users whose live stream it holds (see live.go);
	// negative turns the sweep off (a single Notification node).
	LiveSweep time.Duration
	// Heartbeat is how often an idle stream gets a comment, so proxies keep
	// it open and a gone client is noticed.
	Heartbeat time.Duration

	// SecretKey is the deployment's secret (config's secret key); the key
	// that signs unsubscribe links is derived from it. Empty: emails carry
	// no unsubscribe link and Unsubscribe refuses every token.
	SecretKey []byte
	// DigestPoll is how often the digest loop looks for digests due.
	DigestPoll time.Duration
	// Webhooks tunes the delivery to webhook and Slack endpoints.
	Webhooks WebhookConfig
}

// DefaultConfig returns a configuration with email disabled.
func DefaultConfig() Config {
	return Config{
		From:         "Herald <herald@localhost>",
		BaseURL:      "http://localhost:8080",
		MaxAttempts:  8,
		RetryMin:     30 * time.Second,
		RetryMax:     time.Hour,
		SendTimeout:  30 * time.Second,
		Poll:         5 * time.Second,
		Batch:        50,
		StreamBuffer: 64,
		Heartbeat:    15 * time.Second,
		LiveSweep:    2 * time.Second,
		DigestPoll:   time.Minute,
		Webhooks:     DefaultWebhookConfig(),
	}
}

// tlsMode is how the connection to the SMTP server is protected.
type tlsMode string

const (
	tlsMandatory     tlsMode = "mandatory"     // STARTTLS or fail
	tlsOpportunistic tlsMode = "opportunistic" // STARTTLS when offered
	tlsNone          tlsMode = "none"          // plain text
	tlsImplicit      tlsMode = "implicit"      // smtps: TLS from the first byte
)

// smtpServer is Config.SMTP, parsed.
type smtpServer struct {
	host     string
	port     int
	tls      tlsMode
	username string
	password string
	// redacted is the URL without its password, for logs.
	redacted string
}

// parseSMTP reads an SMTP URL; the error says what is wrong in words meant
// for the operator.
func parseSMTP(raw string) (smtpServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return smtpServer{}, fmt.Errorf("is not a URL")
	}
	var s smtpServer
	switch u.Scheme {
	case "smtp":
		s.tls, s.port = tlsMandatory, 587
	case "smtps":
		s.tls, s.port = tlsImplicit, 465
	default:
		return smtpServer{}, fmt.Errorf("must start with smtp:// or smtps://")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return smtpServer{}, fmt.Errorf("has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return smtpServer{}, fmt.Errorf("has a bad port %q", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return smtpServer{}, fmt.Errorf("has an unknown parameter %q (known: tls)", k)
		}
	}
	if m := q.Get("tls"); m != "" {
		if s.tls == tlsImplicit {
			return smtpServer{}, fmt.Errorf("smtps:// is always TLS: drop the tls parameter")
		}
		switch tlsMode(m) {
		case tlsMandatory, tlsOpportunistic, tlsNone:
			s.tls = tlsMode(m)
		default:
			return smtpServer{}, fmt.Errorf("has tls=%q; use mandatory, opportunistic or none", m)
		}
	}
	u.User = nil
	if s.username != "" {
		u.User = url.User(s.username)
	}
	s.redacted = u.String()
	return s, nil
}

// validate checks cfg and fills its zero fields with their defaults, so a
// Config built by hand with only a few fields works.
func (cfg *Config) validate() (*smtpServer, *mail.Address, error) {
	def := DefaultConfig()
	fill := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	fill(&cfg.RetryMin, def.RetryMin)
	fill(&cfg.RetryMax, def.RetryMax)
	fill(&cfg.SendTimeout, def.SendTimeout)
	fill(&cfg.Poll, def.Poll)
	fill(&cfg.Heartbeat, def.Heartbeat)
	fill(&cfg.LiveSweep, def.LiveSweep)
	fill(&cfg.DigestPoll, def.DigestPoll)
	if cfg.From == "" {
		cfg.From = def.From
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = def.BaseURL
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.Batch == 0 {
		cfg.Batch = def.Batch
	}
	if cfg.StreamBuffer == 0 {
		cfg.StreamBuffer = def.StreamBuffer
	}

	var v errs.Fields
	var srv *smtpServer
	var from *mail.Address
	if cfg.SMTP != "" {
		s, err := parseSMTP(cfg.SMTP)
		if err != nil {
			v.Add("smtp", "%v", err)
		} else {
			srv = &s
		}
		a, err := mail.ParseAddress(cfg.From)
		if err != nil {
			v.Add("from", "must be an email address like \"Herald <herald@example.com>\"")
		} else {
			from = a
		}
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add("base_url", "must be an absolute http(s) URL")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.MaxAttempts < 1 {
		v.Add("max_attempts", "must be at least 1")
	}
	if cfg.RetryMin < 0 || cfg.RetryMax < cfg.RetryMin {
		v.Add("retry_max", "must be at least retry_min, and both positive")
	}
	for name, d := range map[string]time.Duration{"send_timeout": cfg.SendTimeout, "poll": cfg.Poll, "heartbeat": cfg.Heartbeat, "digest_poll": cfg.DigestPoll} {
		if d < 0 {
			v.Add(name, "must be positive")
		}
	}
	if cfg.Batch < 1 {
		v.Add("batch", "must be at least 1")
	}
	if cfg.StreamBuffer < 1 {
		v.Add("stream_buffer", "must be at least 1")
	}
	cfg.Webhooks.validate(&v)
	return srv, from, v.Err()
}
