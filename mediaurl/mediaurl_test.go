package mediaurl

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s, err := New("https://herald.example/", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithClock(func() time.Time { return now })
	raw := s.URL("media/ws 1/photo.jpg", time.Hour)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "https://herald.example/media/public/media/ws%201/photo.jpg?") {
		t.Fatalf("URL %q", raw)
	}
	key := strings.TrimPrefix(u.Path, Path)
	exp, sig := u.Query().Get("exp"), u.Query().Get("sig")
	if err := s.Verify(key, exp, sig); err != nil {
		t.Fatalf("a fresh URL: %v", err)
	}
	for name, tc := range map[string]struct{ key, exp, sig string }{
		"another blob":      {"media/ws 1/other.jpg", exp, sig},
		"a later expiry":    {key, "99999999999", sig},
		"a forged sig":      {key, exp, strings.Repeat("0", len(sig))},
		"no sig":            {key, exp, ""},
		"an unreadable exp": {key, "soon", sig},
	} {
		if err := s.Verify(tc.key, tc.exp, tc.sig); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	other, _ := New("https://herald.example", []byte("another secret, another key....."))
	if err := other.Verify(key, exp, sig); !errors.Is(err, ErrInvalid) {
		t.Errorf("another installation's key: %v, want ErrInvalid", err)
	}
	later := s.WithClock(func() time.Time { return now.Add(time.Hour + time.Second) })
	if err := later.Verify(key, exp, sig); !errors.Is(err, ErrExpired) {
		t.Errorf("after the expiry: %v, want ErrExpired", err)
	}
}
