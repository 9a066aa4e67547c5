package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

func init() {
	store.Register("postgres", Open)
	store.Register("postgresql", Open)
}

// Defaults of the URL's options.
const (
	DefaultMaxConns        = 10
	DefaultMaxConnLifetime = time.Hour
	DefaultMaxConnIdleTime = 30 * time.Minute
	DefaultConnectTimeout  = 5 * time.Second
)

// pool is what the pool_* options set.
type pool struct {
	maxConns        int
	maxIdleConns    int
	maxConnLifetime time.Duration
	maxConnIdleTime time.Duration
}

// Open opens the PostgreSQL store named by u and checks that the server
// answers and accepts the credentials.
func Open(ctx context.Context, u *url.URL) (*store.DB, error) {
	shown := redact(u)
	p, rest, err := parseOptions(u)
	if err != nil {
		// The fields say it all; the cause would say it again.
		return nil, &errs.Error{Kind: errs.Invalid, Message: "store " + shown + ": bad options", Fields: fieldsOf(err)}
	}
	cfg, err := pgx.ParseConfig(rest.String())
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, errs.Wrap(oneLine{err}, errs.Invalid, "store "+shown+": bad URL")
	}
	if !rest.Query().Has("connect_timeout") {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "herald"
	}

	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(p.maxConns)
	db.SetMaxIdleConns(p.maxIdleConns)
	db.SetConnMaxLifetime(p.maxConnLifetime)
	db.SetConnMaxIdleTime(p.maxConnIdleTime)

	// One attempt, bounded: a node must not hang at start-up on a server
	// that does not answer. The connect timeout covers the dial and the
	// handshake of each address the URL names; the margin covers the first
	// round trip. connect_timeout=0 waits as long as ctx lets it.
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.ConnectTimeout > 0 {
		tries := time.Duration(1 + len(cfg.Fallbacks))
		pctx, cancel = context.WithTimeout(ctx, tries*cfg.ConnectTimeout+2*time.Second)
	}
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, startError(shown, err)
	}
	return store.New(db, store.Config{
		Dialect:       store.Postgres,
		URL:           shown,
		Classify:      classify,
		MigrationLock: MigrationLock,
	}), nil
}

// parseOptions takes Herald's pool_* options out of u's query and returns
// them with the URL left for pgx.
func parseOptions(u *url.URL) (pool, *url.URL, error) {
	p := pool{maxConns: DefaultMaxConns, maxIdleConns: -1, maxConnLifetime: DefaultMaxConnLifetime, maxConnIdleTime: DefaultMaxConnIdleTime}
	var v errs.Fields
	q := u.Query()
	for key, vals := range q {
		if !strings.HasPrefix(key, "pool_") {
			continue
		}
		val := vals[len(vals)-1]
		switch key {
		case "pool_max_conns":
			n, err := strconv.Atoi(val)
			if err != nil || n < 2 {
				v.Add(key, "must be a whole number of at least 2 (Migrate holds one connection for its lock), not %q", val)
			}
			p.maxConns = n
		case "pool_max_idle_conns":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				v.Add(key, "must be a whole number of at least 0, not %q", val)
			}
			p.maxIdleConns = n
		case "pool_max_conn_lifetime", "pool_max_conn_idle_time":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				v.Add(key, "must be a duration such as 30m (0: no limit), not %q", val)
			}
			if key == "pool_max_conn_lifetime" {
				p.maxConnLifetime = d
			} else {
				p.maxConnIdleTime = d
			}
		default:
			v.Add(key, "unknown option (known: pool_max_conns, pool_max_idle_conns, pool_max_conn_lifetime, pool_max_conn_idle_time)")
		}
		q.Del(key)
	}
	if err := v.Err(); err != nil {
		return pool{}, nil, err
	}
	if p.maxIdleConns < 0 || p.maxIdleConns > p.maxConns {
		// database/sql keeps only 2 idle connections by default, so a busy
		// node would open and close connections all the time.
		p.maxIdleConns = p.maxConns
	}
	rest := *u
	rest.RawQuery = q.Encode()
	return p, &rest, nil
}

// fieldsOf returns the field messages of an errs.Fields error.
func fieldsOf(err error) map[string]string {
	if e, ok := errs.As(err); ok {
		return e.Fields
	}
	return nil
}

// redact returns u for messages: the password, whether in the user part
// or in a password or sslpassword (the client key's) option, replaced by
// "xxxxx".
func redact(u *url.URL) string {
	r := *u
	q := r.Query()
	masked := false
	for _, key := range []string{"password", "sslpassword"} {
		if q.Has(key) {
			q.Set(key, "xxxxx")
			masked = true
		}
	}
	if masked {
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}

// startError is Open's error when the server cannot be used: one line with
// the store, the redacted address, what went wrong and the driver's cause.
func startError(shown string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			// invalid_password, invalid_authorization_specification (an
			// unknown role, or pg_hba.conf refusing the user)
			return errs.Wrap(oneLine{err}, errs.Unauthenticated, "store "+shown+": the server refused the credentials")
		case pe.Code == "3D000":
			return errs.Wrap(oneLine{err}, errs.Invalid, "store "+shown+": no such database")
		case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "42"):
			// A run-time setting of the URL the server does not know, or
			// whose value it refuses.
			return errs.Wrap(oneLine{err}, errs.Invalid, "store "+shown+": the server refused a setting of the URL")
		}
	}
	return errs.Wrap(oneLine{err}, errs.Unavailable, "store "+shown+": cannot connect")
}

// oneLine keeps an error's text on one line: pgx reports each address it
// tried on a line of its own, and a start-up error is one line in a log.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	var b strings.Builder
	for i, line := range strings.Split(e.err.Error(), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case i == 0:
		case strings.HasSuffix(b.String(), ":"):
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(line)
	}
	return b.String()
}

func (e oneLine) Unwrap() error { return e.err }

// classify maps PostgreSQL's errors to Herald's kinds.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation, primary keys included
			return errs.Wrap(err, errs.Conflict, "already exists")
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now (starting up, shutting down)
			pe.Code == "53300": // too_many_connections
			return errs.Wrap(err, errs.Unavailable, "store unavailable")
		case pe.Code == "40001", // serialization_failure
			pe.Code == "40P01", // deadlock_detected
			pe.Code == "55P03": // lock_not_available
			return errs.Wrap(err, errs.Unavailable, "store busy")
		}
		return err
	}
	// The caller's own deadline or cancellation is not the store's fault.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if lostConnection(err) {
		return errs.Wrap(err, errs.Unavailable, "store unavailable")
	}
	return err
}

// lostConnection reports whether err says the connection to the server
// failed or broke.
func lostConnection(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce),
		errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed),
		pgconn.SafeToRetry(err): // failed before anything reached the server
		return true
	}
	return false
}

// Interface guard: Open is a store opener.
var _ store.Opener = Open
