package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/storetest"
)

// conn takes a connection of its own from db's pool for the test.
func conn(t *testing.T, db *store.DB) *sql.Conn {
	t.Helper()
	c, err := db.SQL().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The migration lock of a prefix admits one session at a time in a schema,
// wakes the next as soon as it is released, and holds up neither another
// prefix nor the same prefix in another schema.
func TestMigrationLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := open(t, storetest.URLFor(t, store.Postgres))
	elsewhere := open(t, storetest.URLFor(t, store.Postgres))
	const prefix = "svc_"
	l := postgres.MigrationLock(prefix)

	holder := conn(t, db)
	if err := l.SessionLock(ctx, holder); err != nil {
		t.Fatal(err)
	}
	free := []struct {
		name string
		l    interface {
			SessionLock(context.Context, *sql.Conn) error
			SessionUnlock(context.Context, *sql.Conn) error
		}
		db *store.DB
	}{
		{"another prefix", postgres.MigrationLock("other_"), db},
		{"another schema", l, elsewhere},
	}
	for _, f := range free {
		c := conn(t, f.db)
		wctx, cancel := context.WithTimeout(ctx, storetest.Wait)
		if err := f.l.SessionLock(wctx, c); err != nil {
			t.Errorf("%s: %v", f.name, err)
		} else if err := f.l.SessionUnlock(ctx, c); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
		cancel()
	}

	// The same prefix in the same schema waits until its context ends (pgx
	// then cancels the statement and drops the connection)...
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := l.SessionLock(short, conn(t, db)); err == nil {
		t.Fatal("a second session took a held lock")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past the deadline: %v, want context.DeadlineExceeded in its chain", err)
	}
	// ...or until the holder lets go.
	waiter := conn(t, db)
	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, storetest.Wait)
		defer cancel()
		got <- l.SessionLock(wctx, waiter)
	}()
	select {
	case err := <-got:
		t.Fatalf("a second session took a held lock: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := l.SessionUnlock(ctx, holder); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("taking the released lock: %v", err)
	}
	if err := l.SessionUnlock(ctx, waiter); err != nil {
		t.Fatal(err)
	}
	// Unlocking a lock the session does not hold is an error, not silence.
	if err := l.SessionUnlock(ctx, holder); err == nil {
		t.Error("unlocking a lock not held succeeded")
	}
}
