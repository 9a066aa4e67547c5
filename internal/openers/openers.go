// Package openers is the URL-scheme registry every infrastructure port
// uses: adapters register an opener for their scheme ("sqlite", "nats",
// "redis"...), and the port opens whatever URL the configuration names.
package openers

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Opener opens one adapter from its URL.
type Opener[T any] func(ctx context.Context, u *url.URL) (T, error)

// Set is the registry of one port.
type Set[T any] struct {
	port string
	mu   sync.RWMutex
	m    map[string]Opener[T]
}

// New returns an empty registry for the named port ("bus", "cache", ...).
func New[T any](port string) *Set[T] { return &Set[T]{port: port, m: map[string]Opener[T]{}} }

// Register makes an adapter available under a URL scheme.
func (s *Set[T]) Register(scheme string, o Opener[T]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[scheme] = o
}

// Schemes lists the registered schemes, sorted.
func (s *Set[T]) Schemes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open opens the adapter named by rawURL's scheme. Errors never show a
// password from the URL.
func (s *Set[T]) Open(ctx context.Context, rawURL string) (T, error) {
	var zero T
	u, err := url.Parse(rawURL)
	if err != nil {
		return zero, fmt.Errorf("%s: %q is not a URL", s.port, Redact(rawURL))
	}
	s.mu.RLock()
	o, ok := s.m[u.Scheme]
	s.mu.RUnlock()
	if !ok {
		return zero, fmt.Errorf("%s: unknown scheme %q in %s (known: %s)", s.port, u.Scheme, Redact(rawURL), strings.Join(s.Schemes(), ", "))
	}
	return o(ctx, u)
}

// Redact hides a password in a URL, for messages and logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Unparseable: show only up to the scheme, it may hold anything.
		if i := strings.Index(rawURL, "://"); i >= 0 {
			return rawURL[:i+3] + "…"
		}
		return "…"
	}
	q := u.Query()
	masked := false
	for k := range q {
		switch strings.ToLower(k) {
		case "password", "sslpassword", "secret", "token", "secret_key", "access_key":
			q.Set(k, "xxxxx")
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	if u.User == nil && !masked {
		return rawURL
	}
	return u.Redacted()
}
