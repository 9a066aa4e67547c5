package mastodon

import (
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
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

func accountKey(acct provider.Account) string { return httpcall.AccountKey(acct) }

// rateBook keeps the latest rate-limit state per account.
type rateBook struct{ book httpcall.RateBook }

func (b *rateBook) get(key string) (RateLimit, bool) { return b.book.Get(key) }

// observe records the X-RateLimit-* headers of one answer (see
// httpcall.RateBook.Observe for answers that arrive out of order).
func (b *rateBook) observe(key string, h http.Header, now time.Time) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, ok := parseReset(h.Get("X-RateLimit-Reset"))
	if err1 != nil || err2 != nil || !ok {
		return
	}
	b.book.Observe(key, RateLimit{Limit: limit, Remaining: remaining, Reset: reset, Seen: now})
}
