package portal

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/errs"
)

// limiter is a token bucket per key (client address, email, user). Keys
// whose bucket has refilled are forgotten when the map grows, so memory
// follows the number of recently active clients, not of all clients ever.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	// sweepAt is the size at which idle buckets are swept next.
	sweepAt int
}

const minSweep = 1024

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// allow takes one token for key, or says how long until one is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		// Refused attempts do not spend tokens: waiting is enough to get in.
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	// Everything still here is busy: let the map grow before sweeping again
	// rather than sweeping on every new key.
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}

// rateLimited is the cause of a RateLimited error; it carries how long the
// client should wait, for the Retry-After header.
type rateLimited struct{ after time.Duration }

func (e *rateLimited) Error() string { return fmt.Sprintf("rate limited for %s", e.after) }

func errRateLimited(after time.Duration, msg string) error {
	return errs.Wrap(&rateLimited{after: after}, errs.RateLimited, msg)
}

// retryAfterSeconds is the Retry-After value for err, or 0 if it has none.
func retryAfterSeconds(err error) int {
	var rl *rateLimited
	if !errors.As(err, &rl) {
		return 0
	}
	return max(1, int(math.Ceil(rl.after.Seconds())))
}
