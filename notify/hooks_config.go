package notify

import (
	"time"

	"github.com/heraldhq/herald/errs"
)

// WebhookConfig tunes the delivery of events to webhook and Slack
// endpoints.
type WebhookConfig struct {
	// Timeout bounds one POST, response included.
	Timeout time.Duration
	// RetryMin is the backoff ceiling after the first failed attempt; it
	// doubles with each failure up to RetryMax, and each wait is drawn at
	// random below the ceiling (full jitter).
	RetryMin time.Duration
	RetryMax time.Duration
	// Window is how long a delivery is retried before it is kept as a dead
	// letter.
	Window time.Duration
	// DisableAfter disables an endpoint whose deliveries have all failed
	// for this long, and tells the workspace's people.
	DisableAfter time.Duration
	// SecretOverlap is how long the secret before a rotation keeps signing
	// beside the new one.
	SecretOverlap time.Duration
	// Retention is how long finished deliveries (delivered or dead) and
	// their attempts are kept for the log.
	Retention time.Duration
	// Poll is how often the delivery loop looks for due deliveries it was
	// not woken for.
	Poll time.Duration
	// Batch is how many deliveries are claimed and not yet recorded at
	// most; Concurrency how many POSTs are under way at once, a quarter of
	// them at most to one endpoint.
	Batch       int
	Concurrency int
}

// DefaultWebhookConfig is what production uses.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		Timeout:       10 * time.Second,
		RetryMin:      5 * time.Second,
		RetryMax:      time.Hour,
		Window:        24 * time.Hour,
		DisableAfter:  5 * 24 * time.Hour,
		SecretOverlap: 24 * time.Hour,
		Retention:     30 * 24 * time.Hour,
		Poll:          time.Second,
		Batch:         100,
		Concurrency:   32,
	}
}

// validate fills zero fields with their defaults and checks the rest.
func (c *WebhookConfig) validate(v *errs.Fields) {
	def := DefaultWebhookConfig()
	for _, f := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"webhooks.timeout", &c.Timeout, def.Timeout},
		{"webhooks.retry_min", &c.RetryMin, def.RetryMin},
		{"webhooks.retry_max", &c.RetryMax, def.RetryMax},
		{"webhooks.window", &c.Window, def.Window},
		{"webhooks.disable_after", &c.DisableAfter, def.DisableAfter},
		{"webhooks.secret_overlap", &c.SecretOverlap, def.SecretOverlap},
		{"webhooks.retention", &c.Retention, def.Retention},
		{"webhooks.poll", &c.Poll, def.Poll},
	} {
		if *f.d == 0 {
			*f.d = f.def
		}
		if *f.d < 0 {
			v.Add(f.name, "must be positive")
		}
	}
	if c.Batch == 0 {
		c.Batch = def.Batch
	}
	if c.Concurrency == 0 {
		c.Concurrency = def.Concurrency
	}
	if c.RetryMax < c.RetryMin {
		v.Add("webhooks.retry_max", "must be at least webhooks.retry_min")
	}
	if c.Batch < 1 {
		v.Add("webhooks.batch", "must be at least 1")
	}
	if c.Concurrency < 1 {
		v.Add("webhooks.concurrency", "must be at least 1")
	}
}
