package migrate

import (
	"context"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// lockSQLite takes an exclusive lock on a SQLite source for as long as db
// stays open, on its one connection: if a node has the file open (even
// idle, a node keeps connections in its pool) the lock cannot be had and the
// move is refused; once it is held, no node can open the file until the
// move is over. The lock reads nothing and writes nothing.
func lockSQLite(ctx context.Context, db *store.DB) error {
	// Every later query of the source must use the connection that holds
	// the lock.
	db.SQL().SetMaxOpenConns(1)
	for _, q := range []string{
		// Fail at once rather than wait for the node to let go.
		"PRAGMA busy_timeout = 0",
		// In WAL mode, the exclusive locking mode takes the file itself, not
		// only the write lock, and keeps it after the transaction ends.
		"PRAGMA locking_mode = EXCLUSIVE",
		"BEGIN EXCLUSIVE",
		"COMMIT",
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			_, _ = db.SQL().ExecContext(ctx, "ROLLBACK")
			return errs.Wrap(err, errs.Conflict, "the source store "+db.URL()+
				" is in use: stop the Herald node that has it open (herald migrate copies a stopped installation), then run migrate again")
		}
	}
	return nil
}
