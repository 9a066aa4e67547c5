package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/internal/portable"
	"github.com/heraldhq/herald/errs"
)

// The URL schemes: plain TCP, and TLS.
const (
	Scheme    = "redis"
	SchemeTLS = "rediss"
)

const (
	// DefaultPort is used for a server named without a port.
	DefaultPort = "6379"
	// DefaultTTL is the time to live of entries set with a ttl of 0, as for
	// the embedded cache.
	DefaultTTL = 5 * time.Minute
	// DefaultTimeout bounds connecting and each read or write. go-redis's
	// own defaults (5 s and 3 s) suit a store; a cache that cannot answer in
	// a second is better treated as a miss.
	DefaultTimeout = time.Second
	// openTimeout bounds the check that the server answers at Open.
	openTimeout = 5 * time.Second
)

func init() {
	cache.Register(Scheme, open)
	cache.Register(SchemeTLS, open)
	// go-redis prints to stderr what it also returns as errors (failed
	// dials, mostly); send it to the process's logger, at debug level, so
	// one outage is not reported twice.
	goredis.SetLogger(slogger{})
}

// slogger hands go-redis's log lines to log/slog.
type slogger struct{}

func (slogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

func open(ctx context.Context, u *url.URL) (cache.Cache, error) {
	redacted := u.Redacted()
	q := portable.NewQuery(u)
	o := &goredis.Options{Addr: address(u, q), DB: database(u, q)}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if u.Scheme == SchemeTLS {
		o.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	ttl := q.Duration("ttl", DefaultTTL, 0)
	timeout := q.Duration("timeout", DefaultTimeout, time.Millisecond)
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	o.PoolSize = q.Int("pool_size", 0) // 0: go-redis's default, 10 per CPU
	// One retry is enough to step over a connection that broke since it was
	// pooled; go-redis's default (3 retries of 5 dials each) would make every
	// call to a server that is down take seconds, where a cache should fail
	// fast and let the caller go to the entry's owner.
	o.MaxRetries = 1
	o.DialerRetries = 1
	if err := q.Err(redacted); err != nil {
		return nil, err
	}
	d := &driver{c: goredis.NewClient(o)}

	// Fail at start-up, not at the first request.
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		_ = d.Close()
		return nil, portable.Unreachable(redacted, kindOf(err), err)
	}
	return portable.New(redacted, d, ttl), nil
}

// address reads host[:port] from the URL.
func address(u *url.URL, q *portable.Query) string {
	if u.Opaque != "" || u.Fragment != "" {
		q.Problem("url", "Redis URLs have the form redis://[user:password@]host:6379/0?options")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		q.Problem("host", "name the server, as redis://127.0.0.1:6379")
	}
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(host, port)
}

// database reads the database number from the URL's path ("/0").
func database(u *url.URL, q *portable.Query) int {
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		q.Problem("db", "the URL's path must be a database number such as /0, not %q", u.Path)
		return 0
	}
	return n
}

// kindOf tells a server that refused the credentials from one that could
// not be reached.
func kindOf(err error) errs.Kind {
	s := err.Error()
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR AUTH", "ERR invalid password"} {
		if strings.Contains(s, p) {
			return errs.Unauthenticated
		}
	}
	return errs.Unavailable
}

// driver talks to one Redis server through go-redis, which pools
// connections, checks a pooled connection before reusing it and retries
// a command that failed on a broken connection, so a restarted server is
// reconnected to without help.
type driver struct {
	c *goredis.Client
}

func (d *driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := d.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (d *driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	// Redis keeps milliseconds: round up, so an entry lives at least its ttl
	// (go-redis would truncate below a millisecond, and log about it).
	if r := ttl % time.Millisecond; r != 0 {
		ttl = ttl.Truncate(time.Millisecond)
		if ttl < math.MaxInt64-time.Millisecond {
			ttl += time.Millisecond
		}
	}
	// SET replaces the value and its time to live; without PX it clears any
	// earlier expiry, which is what a ttl of 0 (no expiry) means.
	return d.c.Set(ctx, key, value, ttl).Err()
}

func (d *driver) Delete(ctx context.Context, keys []string) error {
	return d.c.Del(ctx, keys...).Err()
}

func (d *driver) Ping(ctx context.Context) error { return d.c.Ping(ctx).Err() }

func (d *driver) Close() error { return d.c.Close() }

// Interface guard.
var _ portable.Driver = (*driver)(nil)
