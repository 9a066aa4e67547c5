package httpcall

import (
	"sync"

	"github.com/heraldhq/herald/provider"
)

// RateBook keeps the latest rate-limit state a network reported, per key
// (an account, a webhook). The zero value is ready to use.
type RateBook struct {
	mu sync.Mutex
	m  map[string]provider.RateLimit
}

// Get returns the state recorded under key.
func (b *RateBook) Get(key string) (provider.RateLimit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	return r, ok
}

// Observe records one answer's state. Answers can arrive out of order when
// calls overlap, so an older window never replaces a newer one, and within
// one window the lowest remaining count wins.
func (b *RateBook) Observe(key string, next provider.RateLimit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]provider.RateLimit{}
	}
	if prev, ok := b.m[key]; ok {
		switch {
		case prev.Reset.After(next.Reset):
			return
		case prev.Reset.Equal(next.Reset) && prev.Remaining < next.Remaining:
			next.Remaining = prev.Remaining
		}
	}
	b.m[key] = next
}
