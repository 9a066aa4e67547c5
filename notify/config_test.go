package notify

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

func TestParseSMTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    smtpServer
		wantErr string
	}{
		{raw: "smtp://mail.example.com", want: smtpServer{host: "mail.example.com", port: 587, tls: tlsMandatory}},
		{raw: "smtp://127.0.0.1:1025?tls=none", want: smtpServer{host: "127.0.0.1", port: 1025, tls: tlsNone}},
		{raw: "smtp://relay:25?tls=opportunistic", want: smtpServer{host: "relay", port: 25, tls: tlsOpportunistic}},
		{raw: "smtps://ann:s%40cret@mail.example.com", want: smtpServer{host: "mail.example.com", port: 465, tls: tlsImplicit, username: "ann", password: "s@cret"}},
		{raw: "http://mail.example.com", wantErr: "smtp://"},
		{raw: "smtp://", wantErr: "no host"},
		{raw: "smtp://mail.example.com:99999", wantErr: "port"},
		{raw: "smtp://mail.example.com?tls=maybe", wantErr: "tls="},
		{raw: "smtps://mail.example.com?tls=none", wantErr: "always TLS"},
		{raw: "smtp://mail.example.com?helo=x", wantErr: "unknown parameter"},
		{raw: "smtp://%zz", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := parseSMTP(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got.redacted, "cret") {
				t.Errorf("redacted URL %q shows the password", got.redacted)
			}
			got.redacted = ""
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"bad smtp", func(c *Config) { c.SMTP = "mail.example.com" }, "smtp"},
		{"bad from", func(c *Config) { c.SMTP = "smtp://mail.example.com"; c.From = "herald" }, "from"},
		{"relative base url", func(c *Config) { c.BaseURL = "/herald" }, "base_url"},
		{"no attempts", func(c *Config) { c.MaxAttempts = -1 }, "max_attempts"},
		{"retry max below min", func(c *Config) { c.RetryMax = c.RetryMin / 2 }, "retry_max"},
		{"negative poll", func(c *Config) { c.Poll = -1 }, "poll"},
		{"no stream buffer", func(c *Config) { c.StreamBuffer = -1 }, "stream_buffer"},
	}
	db := &store.DB{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			tt.edit(&cfg)
			_, err := New(cfg, Deps{DB: db, Bus: newFakeBus(), Portal: &fakePortal{}})
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields[tt.field] == "" {
				t.Fatalf("got %v, want an invalid error naming %s", err, tt.field)
			}
		})
	}
}

func TestNewFillsZeroConfig(t *testing.T) {
	t.Parallel()
	s, err := New(Config{SMTP: "smtp://mail.example.com"}, Deps{DB: &store.DB{}, Bus: newFakeBus(), Portal: &fakePortal{}})
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if s.cfg.MaxAttempts != def.MaxAttempts || s.cfg.Heartbeat != def.Heartbeat || s.cfg.BaseURL != def.BaseURL || s.from == nil {
		t.Errorf("zero fields not filled: %+v", s.cfg)
	}
}
