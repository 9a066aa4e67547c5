package mastodon

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/provider"
)

// RateLimit is what an instance last said about an account's request
// budget, from the X-RateLimit-* headers Mastodon sends on every
// authenticated answer. A 429 also comes back as a provider.RateLimited
// error whose RetryAfter is Reset.
type RateLimit = provider.RateLimit

var _ provider.RateLimitReporter = (*Provider)(nil)

// RateLimit returns the last rate-limit state seen for acct, and false if
// none was seen yet. Accounts are told apart by Account.ID, or, without
// one, by instance and token.
func (p *Provider) RateLimit(acct provider.Account) (RateLimit, bool) {
	return p.rates.get(accountKey(acct))
}

func accountKey(acct provider.Account) string {
	if acct.ID != "" {
		return acct.ID
	}
	// Never keep a token as a map key in clear.
	sum := sha256.Sum256([]byte(acct.InstanceURL + "\n" + acct.AccessToken))
	return "anon:" + hex.EncodeToString(sum[:16])
}

// rateBook keeps the latest rate-limit state per account.
type rateBook struct {
	mu sync.Mutex
	m  map[string]RateLimit
}

func (b *rateBook) get(key string) (RateLimit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	return r, ok
}

// observe records the headers of one answer. Answers can arrive out of
// order when an account has several calls in flight, so an older window
// never replaces a newer one, and within one window the lowest remaining
// count wins.
func (b *rateBook) observe(key string, h http.Header, now time.Time) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, ok := parseReset(h.Get("X-RateLimit-Reset"))
	if err1 != nil || err2 != nil || !ok {
		return
	}
	next := RateLimit{Limit: limit, Remaining: remaining, Reset: reset, Seen: now}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]RateLimit{}
	}
	if prev, ok := b.m[key]; ok {
		switch {
		case prev.Reset.After(reset):
			return
		case prev.Reset.Equal(reset) && prev.Remaining < remaining:
			next.Remaining = prev.Remaining
		}
	}
	b.m[key] = next
}
