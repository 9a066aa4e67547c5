package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/provider"
)

// Meta reports rate-limit use as percentages, not counts:
//
//	X-App-Usage: {"call_count": 28, "total_time": 25, "total_cputime": 25}
//	X-Business-Use-Case-Usage: {"<object id>": [{"type": "pages",
//	  "call_count": 100, "total_cputime": 25, "total_time": 25,
//	  "estimated_time_to_regain_access": 19}]}
//
// (the last in minutes). Requests fail once any figure reaches 100. Herald
// keeps the highest figure as a provider.RateLimit with Limit 100 and
// Remaining 100 minus it, so Publisher's generic budget logic applies.

type appUsage struct {
	CallCount    float64 `json:"call_count"`
	TotalTime    float64 `json:"total_time"`
	TotalCPUTime float64 `json:"total_cputime"`
}

func (a appUsage) max() float64 { return max(a.CallCount, a.TotalTime, a.TotalCPUTime) }

type bucUsage struct {
	appUsage
	Type          string  `json:"type"`
	RegainMinutes float64 `json:"estimated_time_to_regain_access"`
}

// usage is what one answer's headers said.
type usage struct {
	seen    bool
	percent float64
	regain  time.Duration
}

func parseUsage(h http.Header, now time.Time) usage {
	var u usage
	for _, name := range []string{"X-App-Usage", "X-Page-Usage", "X-Ad-Account-Usage"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		var a appUsage
		if json.Unmarshal([]byte(v), &a) == nil {
			u.seen = true
			u.percent = max(u.percent, a.max())
		}
	}
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var m map[string][]bucUsage
		if json.Unmarshal([]byte(v), &m) == nil {
			for _, list := range m {
				for _, b := range list {
					u.seen = true
					u.percent = max(u.percent, b.max())
					u.regain = max(u.regain, time.Duration(b.RegainMinutes*float64(time.Minute)))
				}
			}
		}
	}
	return u
}

func (u usage) exhausted() bool { return u.seen && u.percent >= 100 }

// until is when a spent budget is expected back: Meta's estimate, else a
// default pause; zero when the budget is not spent.
func (u usage) until(now time.Time) time.Time {
	switch {
	case u.regain > 0:
		return now.Add(u.regain)
	case u.exhausted():
		return now.Add(defaultPause)
	}
	return time.Time{}
}

// RateLimit returns the budget last reported under key (see Call.RateKey).
func (c *Client) RateLimit(key string) (provider.RateLimit, bool) {
	return c.rates.get(key)
}

// AccountKey is the rate key of acct: its id, or a hash of its token.
func AccountKey(acct provider.Account) string {
	if acct.ID != "" {
		return acct.ID
	}
	sum := sha256.Sum256([]byte(acct.InstanceURL + "\n" + acct.RemoteID + "\n" + acct.AccessToken))
	return "anon:" + hex.EncodeToString(sum[:16])
}

type rateBook struct {
	mu sync.Mutex
	m  map[string]provider.RateLimit
}

func (b *rateBook) get(key string) (provider.RateLimit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	return r, ok
}

// observe records an answer's usage. An answer without usage headers says
// nothing (Meta sends them only once an account has made enough calls), so
// it changes nothing.
func (b *rateBook) observe(key string, u usage, now time.Time) {
	if !u.seen {
		return
	}
	remaining := 100 - int(u.percent)
	if remaining < 0 {
		remaining = 0
	}
	reset := u.until(now)
	if reset.IsZero() {
		// Below 100 %: the hour rolls, so the figure is good for about as
		// long as the default pause.
		reset = now.Add(defaultPause)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]provider.RateLimit{}
	}
	b.m[key] = provider.RateLimit{Limit: 100, Remaining: remaining, Reset: reset, Seen: now}
}
