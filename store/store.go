// Package store is Herald's relational store port: one *DB type over
// database/sql, opened by URL ("sqlite://herald-data/herald.db",
// "sqlite://:memory:", "postgres://..."), with per-service migrations and a
// transaction helper.
//
// Services write SQL once, with "?" placeholders and types that both SQLite
// and PostgreSQL accept (TEXT, BIGINT, INTEGER, BOOLEAN, BYTEA); the DB
// rebinds placeholders for its dialect. Each service owns the tables that
// carry its prefix and must never touch another service's tables.
//
// Instants are stored as BIGINT Unix microseconds in UTC (see ToMicros), so
// comparisons and ordering are exact in every dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/internal/openers"
)

// Dialect names the SQL dialect behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what both *DB and *Tx offer for queries. Queries use "?"
// placeholders.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	url     string
	// serialize is set when the engine takes one writer at a time (SQLite):
	// write transactions queue in Go instead of spinning on SQLITE_BUSY.
	serialize bool
	writeMu   sync.Mutex
	// classify maps driver errors to Herald kinds (unique violation ->
	// Conflict, busy -> Unavailable).
	classify func(error) error
	// migrationLock, when set, gives the lock Migrate holds per prefix.
	migrationLock func(prefix string) lock.SessionLocker
	// stmts keeps prepared statements by query text; nil when the driver
	// caches them itself (pgx) or the adapter asked for none.
	stmts *stmtCache
}

// Config is what an adapter hands to New.
type Config struct {
	Dialect Dialect
	// URL is the opening URL with credentials redacted, for messages.
	URL string
	// SerializeWrites makes Tx take a process-wide write lock.
	SerializeWrites bool
	// Classify maps driver errors to Herald errors; nil leaves them as they are.
	Classify func(error) error
	// MigrationLock, when set, returns the lock Migrate holds while it
	// applies a prefix's migrations, so that nodes starting together do not
	// apply the same migration twice. Nil when one process owns the store
	// (SQLite: SerializeWrites already orders Migrate calls).
	MigrationLock func(prefix string) lock.SessionLocker
	// StatementCache is how many prepared statements the DB keeps by query
	// text and reuses for Exec and QueryRow (and Query outside a
	// transaction); 0 keeps none. An adapter whose driver already caches
	// statements per connection (pgx) leaves it at 0.
	StatementCache int
}

// New wraps an open *sql.DB. Adapters call it; services call Open.
func New(db *sql.DB, c Config) *DB {
	cl := c.Classify
	if cl == nil {
		cl = func(err error) error { return err }
	}
	return &DB{sql: db, dialect: c.Dialect, url: c.URL, serialize: c.SerializeWrites, classify: cl, migrationLock: c.MigrationLock,
		stmts: newStmtCache(c.StatementCache)}
}

// Opener opens a store for one URL scheme.
type Opener = openers.Opener[*DB]

var registry = openers.New[*DB]("store")

// Register makes an adapter available under a URL scheme. Adapters call it
// from init.
func Register(scheme string, o Opener) { registry.Register(scheme, o) }

// Schemes lists the registered URL schemes.
func Schemes() []string { return registry.Schemes() }

// Open opens the store named by rawURL.
func Open(ctx context.Context, rawURL string) (*DB, error) { return registry.Open(ctx, rawURL) }

// Redact hides the password in a URL, for messages and logs.
func Redact(rawURL string) string { return openers.Redact(rawURL) }

// Dialect returns the store's SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// URL returns the URL the store was opened with, credentials redacted.
func (db *DB) URL() string { return db.url }

// SQL returns the underlying *sql.DB, for adapters and tests.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the store.
func (db *DB) Close() error {
	if db.stmts != nil {
		db.stmts.close()
	}
	return db.sql.Close()
}

// Ping checks the store answers; it backs the readiness endpoint.
func (db *DB) Ping(ctx context.Context) error { return db.classify(db.sql.PingContext(ctx)) }

func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.serialize {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	q = db.rebind(q)
	if cs := db.cached(ctx, q); cs != nil {
		defer db.stmts.release(cs)
		r, err := cs.st.ExecContext(ctx, args...)
		return r, db.classify(err)
	}
	r, err := db.sql.ExecContext(ctx, q, args...)
	return r, db.classify(err)
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = db.rebind(q)
	// Outside a transaction the pool hands a statement only a connection
	// that no open Rows holds, so a cached statement is never stepped twice
	// at once.
	if cs := db.cached(ctx, q); cs != nil {
		defer db.stmts.release(cs)
		r, err := cs.st.QueryContext(ctx, args...)
		return r, db.classify(err)
	}
	r, err := db.sql.QueryContext(ctx, q, args...)
	return r, db.classify(err)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = db.rebind(q)
	if cs := db.cached(ctx, q); cs != nil {
		// The Row keeps what it needs of the statement until Scan.
		defer db.stmts.release(cs)
		return cs.st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, q, args...)
}

// cached returns q's prepared statement from the cache, preparing it on
// the pool on a miss, or nil when the DB keeps no statements or q is not
// worth keeping. The caller releases it.
func (db *DB) cached(ctx context.Context, q string) *cachedStmt {
	if db.stmts == nil || !cacheable(q) {
		return nil
	}
	if cs := db.stmts.get(q); cs != nil {
		return cs
	}
	return db.stmts.add(ctx, db.sql, q)
}

// Tx runs fn in a transaction and commits it if fn returns nil; if fn
// returns an error or panics, the transaction is rolled back (and the panic
// goes on). Hooks added with Tx.AfterCommit run after a successful commit,
// once the transaction is over, so they may use the store themselves.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.runTx(ctx, fn)
	if tx != nil && len(tx.misses) > 0 {
		// Prepared now that the transaction no longer holds its connection.
		db.stmts.prepareAll(ctx, db.sql, tx.misses)
	}
	if err != nil {
		return err
	}
	for _, h := range tx.afterCommit {
		h()
	}
	return nil
}

// runTx runs fn in a transaction and commits it, holding the write lock
// (SQLite) only for as long as the transaction lasts.
func (db *DB) runTx(ctx context.Context, fn func(tx *Tx) error) (*Tx, error) {
	if db.serialize {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.classify(err)
	}
	// Rolls back when fn fails or panics; after Commit it does nothing.
	defer func() { _ = stx.Rollback() }()
	tx := &Tx{tx: stx, db: db}
	if err := fn(tx); err != nil {
		return tx, err
	}
	if err := stx.Commit(); err != nil {
		return tx, db.classify(err)
	}
	return tx, nil
}

// Tx is a transaction on a DB.
type Tx struct {
	tx          *sql.Tx
	db          *DB
	afterCommit []func()
	// stmts are the cached statements bound to this transaction, by query
	// text; misses are the cacheable queries it ran unprepared, prepared on
	// the pool once it is over.
	stmts  map[string]*sql.Stmt
	misses []string
}

func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = tx.db.rebind(q)
	if st := tx.cached(ctx, q); st != nil {
		r, err := st.ExecContext(ctx, args...)
		return r, tx.db.classify(err)
	}
	r, err := tx.tx.ExecContext(ctx, q, args...)
	return r, tx.db.classify(err)
}

// Query never uses the statement cache: the transaction has one
// connection, and rows of a query still open while the same query runs
// again (a loop over rows that queries again) would step one statement
// twice at once.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r, err := tx.tx.QueryContext(ctx, tx.db.rebind(q), args...)
	return r, tx.db.classify(err)
}

// QueryRow uses the statement cache: its Row is scanned, and the statement
// reset, before the same query runs again (every caller scans at once).
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = tx.db.rebind(q)
	if st := tx.cached(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, q, args...)
}

// cached returns q's cached statement bound to the transaction, or nil on
// a miss (noted, to be prepared after the transaction) or when the DB keeps
// no statements.
func (tx *Tx) cached(ctx context.Context, q string) *sql.Stmt {
	if tx.db.stmts == nil || !cacheable(q) {
		return nil
	}
	if st, ok := tx.stmts[q]; ok {
		return st
	}
	cs := tx.db.stmts.get(q)
	if cs == nil {
		if !slices.Contains(tx.misses, q) {
			tx.misses = append(tx.misses, q)
		}
		return nil
	}
	// The transaction's statement reuses the one prepared on this
	// connection, or prepares it there once; database/sql keeps it usable
	// until the transaction ends even if the cache closes cs meanwhile.
	st := tx.tx.StmtContext(ctx, cs.st)
	tx.db.stmts.release(cs)
	if tx.stmts == nil {
		tx.stmts = make(map[string]*sql.Stmt)
	}
	tx.stmts[q] = st
	return st
}

// Prepare prepares q once for several executions in the transaction (a
// statement run row by row: SQLite spends more parsing a statement than
// running a small one). The statement is closed with the transaction.
func (tx *Tx) Prepare(ctx context.Context, q string) (*Stmt, error) {
	st, err := tx.tx.PrepareContext(ctx, tx.db.rebind(q))
	if err != nil {
		return nil, tx.db.classify(err)
	}
	return &Stmt{st: st, db: tx.db}, nil
}

// Stmt is a statement prepared in a transaction.
type Stmt struct {
	st *sql.Stmt
	db *DB
}

func (s *Stmt) Exec(ctx context.Context, args ...any) (sql.Result, error) {
	r, err := s.st.ExecContext(ctx, args...)
	return r, s.db.classify(err)
}

// Close releases the statement before the transaction ends.
func (s *Stmt) Close() error { return s.st.Close() }

// AfterCommit registers fn to run once the transaction has committed (for
// example to wake an outbox relay). It does not run on rollback.
func (tx *Tx) AfterCommit(fn func()) { tx.afterCommit = append(tx.afterCommit, fn) }

// Dialect returns the transaction's SQL dialect.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// rebind turns "?" placeholders into the dialect's form. A "?" inside a
// string literal ('...', a doubled quote escaping a quote), a quoted
// identifier ("...") or a comment (-- to the end of the line, /* ... */) is
// left alone. PostgreSQL's operators that contain "?" (jsonb ?, ?|, ?&)
// cannot be used.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		// end is where the literal, identifier or comment starting at i
		// ends (exclusive), or 0 if none starts there.
		end := 0
		switch {
		case q[i] == '\'' || q[i] == '"':
			// A doubled quote ends one literal and starts the next: same text.
			end = closing(q, i+1, q[i:i+1], 1)
		case strings.HasPrefix(q[i:], "--"):
			end = closing(q, i+2, "\n", 0)
		case strings.HasPrefix(q[i:], "/*"):
			end = closing(q, i+2, "*/", 2)
		}
		switch {
		case end > 0:
			b.WriteString(q[i:end])
			i = end - 1
		case q[i] == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(q[i])
		}
	}
	return b.String()
}

// closing returns the index just past the first delim in q from index from,
// keeping keep bytes of the delimiter, or len(q) if there is none.
func closing(q string, from int, delim string, keep int) int {
	j := strings.Index(q[from:], delim)
	if j < 0 {
		return len(q)
	}
	return from + j + keep
}

// Migrate applies a service's migrations (goose SQL files at the root of
// fsys). Each service keeps its own version table, <prefix>schema_version,
// so services migrate independently even in one database.
func (db *DB) Migrate(ctx context.Context, prefix string, fsys fs.FS) error {
	var d goose.Dialect
	switch db.dialect {
	case SQLite:
		d = goose.DialectSQLite3
	case Postgres:
		d = goose.DialectPostgres
	default:
		return fmt.Errorf("store: no migrations for dialect %q", db.dialect)
	}
	if db.serialize {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(prefix + "schema_version"),
		goose.WithDisableGlobalRegistry(true),
	}
	if db.migrationLock != nil {
		opts = append(opts, goose.WithSessionLocker(db.migrationLock(prefix)))
	}
	p, err := goose.NewProvider(d, db.sql, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations of %q: %w", prefix, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrating %q: %w", prefix, err)
	}
	return nil
}

// ErrNoRows is returned by QueryRow(...).Scan when nothing matched.
var ErrNoRows = sql.ErrNoRows

// NotFound turns sql.ErrNoRows into a NotFound error saying what was
// missing, and passes other errors through.
func NotFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.NotFound, "%s not found", what)
	}
	return err
}

// ToMicros converts an instant to the stored form (0 for the zero time).
func ToMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros converts the stored form back to a UTC instant (zero for 0).
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
