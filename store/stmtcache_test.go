package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite"
)

// openCached opens a SQLite file through database/sql directly (the
// adapter package imports this one) with a statement cache of max.
func openCached(t *testing.T, max, conns int) *DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(conns)
	db := New(raw, Config{Dialect: SQLite, SerializeWrites: true, StatementCache: max})
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(t.Context(), "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStmtCacheKeepsAtMostMax(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openCached(t, 2, 2)
	for i := range 10 {
		q := fmt.Sprintf("SELECT COUNT(*) + %d FROM t", i)
		var n int
		if err := db.QueryRow(ctx, q).Scan(&n); err != nil || n != i {
			t.Fatalf("%s = %d, %v; want %d", q, n, err, i)
		}
	}
	if n := db.stmts.len(); n != 2 {
		t.Errorf("%d statements cached, want the bound of 2", n)
	}
	// A script is run, not kept.
	if _, err := db.Exec(ctx, "INSERT INTO t VALUES ('a', 1); INSERT INTO t VALUES ('b', 2)"); err != nil {
		t.Fatal(err)
	}
	if db.stmts.get("INSERT INTO t VALUES ('a', 1); INSERT INTO t VALUES ('b', 2)") != nil {
		t.Error("a script of two statements was cached")
	}
	// A query that does not prepare reports its error and is not kept.
	if _, err := db.Exec(ctx, "INSERT INTO nosuch VALUES (1)"); err == nil {
		t.Error("insert into a missing table: no error")
	}
	if db.stmts.get("INSERT INTO nosuch VALUES (1)") != nil {
		t.Error("a statement that does not prepare was cached")
	}
}

// A transaction prepares its misses once it is over, and uses the cached
// statements next time.
func TestStmtCacheTxMissesPreparedAfter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openCached(t, 8, 1) // one connection: preparing inside the transaction would wait for ever
	q := "INSERT INTO t (id, n) VALUES (?, ?)"
	for i := range 3 {
		err := db.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, q, fmt.Sprint(i), i)
			return err
		})
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if cs := db.stmts.get(q); cs == nil {
			t.Fatalf("after transaction %d the insert is not cached", i)
		} else {
			db.stmts.release(cs)
		}
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d rows, %v; want 3", n, err)
	}
}

// Rows still being read, and a transaction still using a statement, are
// not broken when the cache evicts and closes that statement.
func TestStmtCacheEvictionWhileInUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openCached(t, 1, 4)
	for i := range 5 {
		if _, err := db.Exec(ctx, "INSERT INTO t (id, n) VALUES (?, ?)", fmt.Sprint(i), i); err != nil {
			t.Fatal(err)
		}
	}
	list := "SELECT n FROM t ORDER BY n"
	rows, err := db.Query(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no first row: %v", rows.Err())
	}
	// Evicts list while its rows are open.
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 5 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if db.stmts.get(list) != nil {
		t.Fatal("the listing is still cached; the test evicts nothing")
	}
	got := 1
	for rows.Next() {
		got++
	}
	if err := rows.Err(); err != nil || got != 5 {
		t.Errorf("read %d rows after eviction, %v; want 5", got, err)
	}

	bump := "UPDATE t SET n = n + 1 WHERE id = ?"
	if _, err := db.Exec(ctx, bump, "0"); err != nil { // cached now
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, bump, "1"); err != nil {
			return err
		}
		// Evicts bump from the cache while the transaction holds it.
		if err := db.QueryRow(ctx, "SELECT 1").Scan(new(int)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, bump, "2")
		return err
	})
	if err != nil {
		t.Fatalf("transaction using an evicted statement: %v", err)
	}
	var sum int
	if err := db.QueryRow(ctx, "SELECT SUM(n) FROM t").Scan(&sum); err != nil || sum != 0+1+2+3+4+3 {
		t.Errorf("sum = %d, %v; want 13", sum, err)
	}
}

// Many goroutines share statements, in and out of transactions, while a
// tiny cache evicts all the time (run with -race).
func TestStmtCacheConcurrent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	db := openCached(t, 3, 4)
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("%d-%d", w, i)
				err := db.Tx(ctx, func(tx *Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO t (id, n) VALUES (?, ?)", id, i); err != nil {
						return err
					}
					var n int
					if err := tx.QueryRow(ctx, "SELECT n FROM t WHERE id = ?", id).Scan(&n); err != nil {
						return err
					}
					if n != i {
						return fmt.Errorf("read %d back, want %d", n, i)
					}
					_, err := tx.Exec(ctx, fmt.Sprintf("UPDATE t SET n = n + %d WHERE id = ?", w%4), id)
					return err
				})
				if err == nil {
					var n int
					err = db.QueryRow(ctx, fmt.Sprintf("SELECT n - %d FROM t WHERE id = ?", w%4), id).Scan(&n)
					if err == nil && n != i {
						err = fmt.Errorf("read %d outside, want %d", n, i)
					}
				}
				if err != nil {
					errc <- fmt.Errorf("worker %d round %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != workers*rounds {
		t.Errorf("%d rows, %v; want %d", n, err, workers*rounds)
	}
}
