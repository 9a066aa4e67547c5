// Package sqlite is the embedded store adapter: a SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode. URLs: "sqlite://path/to/file.db",
// "sqlite:///abs/path.db", "sqlite://:memory:".
//
// SQLite takes one writer at a time, so write transactions queue in Go
// (store.Config.SerializeWrites) rather than fail with SQLITE_BUSY; readers
// run concurrently through WAL.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

func init() { store.Register("sqlite", Open) }

// StatementCache is how many prepared statements a SQLite store keeps by
// query text (store.Config.StatementCache).
const StatementCache = 512

// Open opens the SQLite store named by u.
func Open(ctx context.Context, u *url.URL) (*store.DB, error) {
	path := u.Host + u.Path
	if u.Opaque != "" {
		path = u.Opaque
	}
	if path == "" {
		return nil, fmt.Errorf("store sqlite: the URL names no file: use sqlite://path/to/herald.db, or sqlite://:memory: for a throw-away database")
	}
	memory := path == ":memory:"
	var dsn string
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_txlock=immediate"
	if memory {
		// A private in-memory database per Open: one connection keeps it alive.
		dsn = "file::memory:?" + pragmas
	} else {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store sqlite: creating %s: %w", dir, err)
			}
		}
		dsn = "file:" + path + "?" + pragmas + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store sqlite %s: %w", path, err)
	}
	if memory {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(8)
	}
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store sqlite %s: %w", path, err)
	}
	return store.New(db, store.Config{
		Dialect:         store.SQLite,
		URL:             "sqlite://" + path,
		SerializeWrites: true,
		Classify:        classify,
		// modernc parses a statement again on every call unless it was
		// prepared; Herald's services run a few hundred distinct queries.
		StatementCache: StatementCache,
	}), nil
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errs.Wrap(err, errs.Conflict, "already exists")
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return errs.Wrap(err, errs.Unavailable, "store busy")
		}
		if strings.Contains(se.Error(), "UNIQUE constraint failed") {
			return errs.Wrap(err, errs.Conflict, "already exists")
		}
	}
	return err
}
