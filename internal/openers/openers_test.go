package openers

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	s := New[string]("bus")
	s.Register("mem", func(_ context.Context, u *url.URL) (string, error) { return "mem:" + u.Host, nil })
	s.Register("nats", func(_ context.Context, u *url.URL) (string, error) { return "nats", nil })
	got, err := s.Open(context.Background(), "mem://x")
	if err != nil || got != "mem:x" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	_, err = s.Open(context.Background(), "kafka://bob:secret@host")
	if err == nil || !strings.Contains(err.Error(), `unknown scheme "kafka"`) || !strings.Contains(err.Error(), "known: mem, nats") {
		t.Errorf("unknown scheme error = %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
	if _, err := s.Open(context.Background(), "://bad\x7f"); err == nil || !strings.HasPrefix(err.Error(), "bus: ") {
		t.Errorf("bad URL error = %v", err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:pw@h/db":                        "postgres://u:xxxxx@h/db",
		"redis://h:6379":                              "redis://h:6379",
		"postgres://h/db?sslmode=disable&password=pw": "postgres://h/db?password=xxxxx&sslmode=disable",
		"amqp://u:p@h\x7f":                            "amqp://…",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
