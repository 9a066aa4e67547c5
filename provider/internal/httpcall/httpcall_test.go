package httpcall

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"3", now.Add(3 * time.Second)},
		{"1.2501", now.Add(1251 * time.Millisecond)},
		{"Sun, 01 Mar 2026 12:00:30 GMT", now.Add(30 * time.Second)},
		{"-1", time.Time{}},
		{"soon", time.Time{}},
		{"1e9", time.Time{}},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.in != "" {
			h.Set("Retry-After", c.in)
		}
		if got := RetryAfter(h, now); !got.Equal(c.want) {
			t.Errorf("RetryAfter(%q) = %v; want %v", c.in, got, c.want)
		}
	}
}

func TestShort(t *testing.T) {
	t.Parallel()
	if got := Short("  Bad\n Request:\tchat   not found "); got != "Bad Request: chat not found" {
		t.Errorf("Short = %q", got)
	}
	long := make([]rune, 400)
	for i := range long {
		long[i] = 'é'
	}
	if got := []rune(Short(string(long))); len(got) != 301 || got[300] != '…' {
		t.Errorf("Short kept %d runes", len(got))
	}
}

func TestRateBookKeepsNewestWindow(t *testing.T) {
	t.Parallel()
	var b RateBook
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 3, Reset: t0.Add(2 * time.Second)})
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 4, Reset: t0.Add(2 * time.Second)}) // late answer, same window
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 0, Reset: t0.Add(time.Second)})     // older window
	got, ok := b.Get("k")
	if !ok || got.Remaining != 3 || !got.Reset.Equal(t0.Add(2*time.Second)) {
		t.Errorf("got %+v", got)
	}
	b.Observe("k", provider.RateLimit{Limit: 5, Remaining: 5, Reset: t0.Add(3 * time.Second)}) // next window
	if got, _ := b.Get("k"); got.Remaining != 5 {
		t.Errorf("new window: %+v", got)
	}
	if _, ok := b.Get("other"); ok {
		t.Error("an unseen key has a state")
	}
}
