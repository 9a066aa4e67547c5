package simnet

import (
	"math"
	"slices"
	"time"
)

// window is a sliding request window, the rate limit the chat networks'
// simulations share: at most rate requests in any span of length per.
// The caller holds the lock of what owns it.
type window struct {
	recent []time.Time
}

// admit counts a request at now and returns 0, or, when rate requests came
// within per already, counts nothing and returns how many whole seconds
// (at least 1) to wait. rate < 0 admits everything.
func (w *window) admit(now time.Time, rate int, per time.Duration) int {
	if rate < 0 {
		return 0
	}
	w.recent = slices.DeleteFunc(w.recent, func(at time.Time) bool { return !at.After(now.Add(-per)) })
	if len(w.recent) < rate {
		w.recent = append(w.recent, now)
		return 0
	}
	free := now.Add(per)
	if len(w.recent) > 0 {
		free = w.recent[0].Add(per)
	}
	return max(int(math.Ceil(free.Sub(now).Seconds())), 1)
}
