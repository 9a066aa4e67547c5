package memcached

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/internal/portable"
	"github.com/heraldhq/herald/errs"
)

// Scheme is the URL scheme of memcached caches.
const Scheme = "memcached"

const (
	// DefaultPort is used for a server named without a port.
	DefaultPort = "11211"
	// DefaultTTL is the time to live of entries set with a ttl of 0, as for
	// the embedded cache.
	DefaultTTL = 5 * time.Minute
	// DefaultTimeout bounds connecting and each read or write.
	DefaultTimeout = time.Second
	// DefaultMaxIdleConns is how many idle connections are kept per server:
	// gomemcache's own default of 2 makes a busy node dial for most calls.
	DefaultMaxIdleConns = 64
	// openTimeout bounds the check that the servers answer at Open.
	openTimeout = 5 * time.Second
	// relativeLimit is the longest expiry memcached takes as relative to
	// now; a larger number is read as an absolute Unix time.
	relativeLimit = 30 * 24 * 60 * 60
)

func init() { cache.Register(Scheme, open) }

func open(ctx context.Context, u *url.URL) (cache.Cache, error) {
	redacted := u.Redacted()
	q := portable.NewQuery(u)
	servers := parseServers(u, q)
	ttl := q.Duration("ttl", DefaultTTL, 0)
	timeout := q.Duration("timeout", DefaultTimeout, time.Millisecond)
	idle := q.Int("max_idle_conns", DefaultMaxIdleConns)
	if err := q.Err(redacted); err != nil {
		return nil, err
	}
	// A ServerList of our own, because memcache.New drops the error of a
	// name that does not resolve and would fail later with "no servers".
	var list memcache.ServerList
	if err := list.SetServers(servers...); err != nil {
		return nil, portable.Unreachable(redacted, errs.Unavailable, err)
	}
	client := memcache.NewFromSelector(&list)
	client.Timeout = timeout
	client.MaxIdleConns = idle
	d := &driver{c: client}

	// Fail at start-up, not at the first request: every server must answer.
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		_ = client.Close()
		return nil, portable.Unreachable(redacted, errs.Unavailable, err)
	}
	return portable.New(redacted, d, ttl), nil
}

// parseServers reads the comma-separated host[:port] list of the URL.
func parseServers(u *url.URL, q *portable.Query) []string {
	if u.User != nil {
		// memcached's text protocol has no authentication; a password here
		// would give a false sense of protection.
		q.Problem("url", "memcached takes no user or password (its protocol has no authentication): remove them")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		q.Problem("url", "memcached URLs name servers only: memcached://host1:11211,host2:11211?options")
	}
	if u.Host == "" {
		q.Problem("host", "name at least one server, as memcached://127.0.0.1:11211")
		return nil
	}
	var servers []string
	for i, s := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			// No port given: the default one.
			host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), DefaultPort
		}
		if host == "" || port == "" {
			q.Problem(fmt.Sprintf("host[%d]", i), "must be host or host:port, not %q", s)
			continue
		}
		servers = append(servers, net.JoinHostPort(host, port))
	}
	return servers
}

// driver talks to memcached through gomemcache. gomemcache takes no
// context: calls are bounded by the client's timeout instead.
type driver struct {
	c *memcache.Client
}

func (d *driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var it *memcache.Item
	err := d.do(ctx, func() (err error) {
		it, err = d.c.Get(key)
		return err
	})
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return it.Value, true, nil
}

func (d *driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	it := &memcache.Item{Key: key, Value: value, Expiration: expiration(ttl, time.Now())}
	err := d.do(ctx, func() error { return d.c.Set(it) })
	if declined(err) {
		// A value the server cannot hold is not stored, like the embedded
		// cache's oversized values. memcached drops the key's older value
		// itself; deleting it again makes sure no stale value is read back
		// as current whatever the server's version.
		return d.Delete(ctx, []string{key})
	}
	return err
}

func (d *driver) Delete(ctx context.Context, keys []string) error {
	for _, k := range keys {
		err := d.do(ctx, func() error { return d.c.Delete(k) })
		if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return err
		}
	}
	return nil
}

func (d *driver) Ping(ctx context.Context) error {
	return d.do(ctx, d.c.Ping)
}

func (d *driver) Close() error { return d.c.Close() }

// do runs op, and once more on a fresh connection if it failed on the
// connection itself. After a server restart every pooled connection is dead,
// and gomemcache drops only the one that failed; closing the idle ones
// (gomemcache's Close, after which the client still works) and retrying
// once makes the first call after a restart succeed. Every cache operation
// is idempotent, so repeating one is safe.
func (d *driver) do(ctx context.Context, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := op()
	if err == nil || !connectionError(err) || ctx.Err() != nil {
		return err
	}
	_ = d.c.Close()
	return op()
}

// connectionError reports whether err came from the connection rather than
// from memcached's answer (a miss, a refused store).
func connectionError(err error) bool {
	switch {
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrNoServers), declined(err):
		return false
	}
	return true
}

// declined reports whether memcached refused to store a value for want of
// room: a value over its item size limit (-I, 1 MiB by default), or no
// memory left for its size class.
func declined(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SERVER_ERROR object too large") || strings.Contains(s, "SERVER_ERROR out of memory")
}

// expiration converts a time to live to memcached's expiry. memcached
// counts whole seconds on a clock that ticks once a second, so an expiry of
// n seconds ends somewhere in (n-1, n] seconds from now: n is the ttl
// rounded up, plus one, so that an entry lives at least its ttl and less
// than two seconds more. Beyond 30 days memcached wants an absolute Unix
// time instead.
func expiration(ttl time.Duration, now time.Time) int32 {
	if ttl <= 0 {
		return 0
	}
	secs := int64(ttl/time.Second) + 1
	if ttl%time.Second != 0 {
		secs++
	}
	if secs <= relativeLimit {
		return int32(secs)
	}
	return int32(min(now.Unix()+secs, math.MaxInt32))
}

// Interface guard.
var _ portable.Driver = (*driver)(nil)
