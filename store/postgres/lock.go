package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"

	"github.com/pressly/goose/v3/lock"
)

// MigrationLock returns the lock store.Migrate holds while it applies the
// migrations of one service (its table prefix), so that nodes starting at
// the same time do not both create the version table or apply the same
// migration: the second waits until the first is done, then finds nothing
// left to apply.
//
// It is a session-level advisory lock keyed by the schema the tables go to
// (current_schema) and the prefix: services, and stores in other schemas of
// one database, migrate side by side; a lock whose connection dies (a node
// that crashed mid-migration) is released by the server. Unlike goose's
// own PostgreSQL locker, which polls pg_try_advisory_lock once a second at
// the finest, it waits on the server and wakes as soon as the lock is free.
func MigrationLock(prefix string) lock.SessionLocker {
	return advisoryLock{prefix: prefix}
}

// advisoryLock is a session-level PostgreSQL advisory lock.
type advisoryLock struct{ prefix string }

// SessionLock waits for the lock until ctx ends; pgx cancels the waiting
// statement on the server when it does.
func (l advisoryLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	key, err := l.key(ctx, conn)
	if err == nil {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key)
	}
	if err != nil {
		return fmt.Errorf("taking the migration lock of %q: %w", l.prefix, classify(err))
	}
	return nil
}

func (l advisoryLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	key, err := l.key(ctx, conn)
	var released bool
	if err == nil {
		err = conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&released)
	}
	if err != nil {
		return fmt.Errorf("releasing the migration lock of %q: %w", l.prefix, classify(err))
	}
	if !released {
		return fmt.Errorf("releasing the migration lock of %q: this session did not hold it", l.prefix)
	}
	return nil
}

// key is the advisory lock key of the prefix in the session's schema.
func (l advisoryLock) key(ctx context.Context, conn *sql.Conn) (int64, error) {
	// NULL when no schema of the search path exists: then there is nothing
	// to migrate into either, and the migration itself will say so.
	var schema sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, err
	}
	h := fnv.New64a()
	h.Write([]byte("herald migrate " + schema.String + "." + l.prefix))
	return int64(h.Sum64()), nil
}

var _ lock.SessionLocker = advisoryLock{}
