package readthrough

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/heraldhq/herald/cache"
)

// generationTTL is how long a generation token lives untouched. It only
// needs to outlive the entries keyed by it: a token that expires sooner
// costs misses, never a stale read.
const generationTTL = time.Hour

// Cache is the read-through layer over one cache. The zero value and nil
// are a cache that holds nothing: every Get loads. It is safe for
// concurrent use.
type Cache struct {
	c cache.Cache

	mu     sync.Mutex
	counts map[string]*counts
}

// New returns a read-through layer over c; a nil c caches nothing.
func New(c cache.Cache) *Cache { return &Cache{c: c} }

type counts struct{ hits, misses, errors atomic.Int64 }

// Stat is one kind's reads: served from the cache (Hits), loaded because
// the cache did not hold them (Misses) or could not answer (Errors).
type Stat struct {
	Name                 string
	Hits, Misses, Errors int64
}

// Stats returns every kind's reads so far, by name.
func (c *Cache) Stats() []Stat {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Stat, 0, len(c.counts))
	for name, n := range c.counts {
		out = append(out, Stat{Name: name, Hits: n.hits.Load(), Misses: n.misses.Load(), Errors: n.errors.Load()})
	}
	slices.SortFunc(out, func(a, b Stat) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (c *Cache) countsFor(name string) *counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]*counts{}
	}
	n := c.counts[name]
	if n == nil {
		n = &counts{}
		c.counts[name] = n
	}
	return n
}

func (c *Cache) enabled() bool { return c != nil && c.c != nil }

// Enabled reports whether there is a cache behind c, so that callers can
// skip the work of finding what to invalidate when there is none.
func (c *Cache) Enabled() bool { return c.enabled() }

func generationKey(scope string) string { return "gen:" + scope }

// Generation returns scope's current generation token, making one if the
// cache holds none. Put it in the keys of everything that must go stale
// together. A reader must take the token before it reads what it caches
// (the order that makes Invalidate after a commit safe); when the cache
// fails, the token is a fresh one, which matches no entry.
func (c *Cache) Generation(ctx context.Context, scope string) string {
	if !c.enabled() {
		return ""
	}
	key := generationKey(scope)
	v, ok, err := c.c.Get(ctx, key)
	if err == nil && ok && len(v) > 0 {
		return string(v)
	}
	token := rand.Text()
	if err == nil {
		// Two readers racing here each store their own token and the last
		// one stays: entries under the other are merely never read.
		_ = c.c.Set(ctx, key, []byte(token), generationTTL)
	}
	return token
}

// Invalidate makes every entry keyed by the scopes' generations stale: one
// Delete, whatever the number of entries. Call it after the write has
// committed, never before: a reader in between would cache the old rows
// under the new generation.
func (c *Cache) Invalidate(ctx context.Context, scopes ...string) error {
	if !c.enabled() || len(scopes) == 0 {
		return nil
	}
	keys := make([]string, len(scopes))
	for i, s := range scopes {
		keys[i] = generationKey(s)
	}
	return c.c.Delete(ctx, keys...)
}

// Kind reads one sort of value through the cache, encoded as JSON.
type Kind[T any] struct {
	c      *Cache
	name   string
	ttl    time.Duration
	counts *counts
	flight singleflight.Group
}

// NewKind returns the kind name (which labels its hit and miss counts; kinds
// of one name share them) whose entries live for ttl (0: the cache's
// default). c may be nil: then every Get loads.
func NewKind[T any](c *Cache, name string, ttl time.Duration) *Kind[T] {
	k := &Kind[T]{c: c, name: name, ttl: ttl}
	if c != nil {
		k.counts = c.countsFor(name)
	}
	return k
}

// Name is the kind's name.
func (k *Kind[T]) Name() string { return k.name }

// flown is what one load hands every caller that waited for it.
type flown[T any] struct {
	value   T
	encoded []byte
}

// Get returns the value cached under key, or load's, which it then caches.
// Concurrent misses of one key share one load; each caller gets a copy of
// its own, so callers may change what they get. A load runs to its end
// even if the caller that started it gives up, as others may be waiting.
// Load errors are returned and never cached.
func (k *Kind[T]) Get(ctx context.Context, key string, load func(context.Context) (T, error)) (T, error) {
	if !k.c.enabled() {
		return load(ctx)
	}
	full := k.name + ":" + key
	raw, ok, err := k.c.c.Get(ctx, full)
	switch {
	case err != nil:
		k.counts.errors.Add(1)
	case ok:
		var v T
		if json.Unmarshal(raw, &v) == nil {
			k.counts.hits.Add(1)
			return v, nil
		}
		// An entry of another shape (written by an older version): load
		// and overwrite it.
		k.counts.misses.Add(1)
	default:
		k.counts.misses.Add(1)
	}
	ch := k.flight.DoChan(full, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		v, err := load(lctx)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		// A failed Set only costs the next reader a load.
		_ = k.c.c.Set(lctx, full, b, k.ttl)
		return flown[T]{value: v, encoded: b}, nil
	})
	var zero T
	select {
	case <-ctx.Done():
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		f := r.Val.(flown[T])
		if !r.Shared {
			return f.value, nil
		}
		var v T
		if err := json.Unmarshal(f.encoded, &v); err != nil {
			return zero, err
		}
		return v, nil
	}
}
