package notify

import (
	"math/rand/v2"
	"time"
)

// Shared by the email queue and the webhook deliveries: both are queues of
// rows claimed by attempts count, retried with exponential backoff.

// expBackoff is base doubled for each failed attempt after the first, up
// to limit.
func expBackoff(base, limit time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// lessAFifth takes up to a fifth off d at random, so that rows that failed
// together do not all retry at the same instant while the wait stays close
// to d.
func lessAFifth(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// fullJitter is a wait drawn uniformly from [0, d]: deliveries to an
// endpoint that came back spread out rather than arriving as one burst.
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
