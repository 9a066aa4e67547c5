package memcached

import (
	"math"
	"testing"
	"time"
)

func TestExpiration(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		ttl  time.Duration
		want int32
	}{
		{0, 0}, // no expiry
		{time.Millisecond, 2},
		{time.Second, 2}, // lives (1 s, 2 s]: at least its ttl
		{1500 * time.Millisecond, 3},
		{time.Minute, 61},
		{30*24*time.Hour - time.Second, 30 * 24 * 3600},           // the longest relative expiry
		{30 * 24 * time.Hour, int32(now.Unix()) + 30*24*3600 + 1}, // absolute from here on
		{math.MaxInt64, math.MaxInt32},                            // saturates rather than wraps
	}
	for _, tc := range tests {
		if got := expiration(tc.ttl, now); got != tc.want {
			t.Errorf("expiration(%v) = %d, want %d", tc.ttl, got, tc.want)
		}
	}
}
