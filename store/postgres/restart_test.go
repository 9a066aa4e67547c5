package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// The server restarts under a steady stream of transactions: every
// transaction that committed is still there afterwards, every one that
// failed while the server was away failed as Unavailable (so callers retry
// it), and the same store carries on without being reopened: its pool
// replaces the connections the restart broke.
func TestRestartPostgres(t *testing.T) {
	restart := storetest.PostgresRestarter(t)
	db := open(t, storetest.URLFor(t, store.Postgres))
	ctx := t.Context()
	// Rows of two tables in one transaction, as a state change and its
	// outbox event are.
	for _, q := range []string{
		"CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
		"CREATE TABLE events (id TEXT PRIMARY KEY, item_id TEXT NOT NULL)",
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu        sync.Mutex
		committed []string
		failed    []error
		away      int // transactions that failed as Unavailable
	)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(committed)
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%06d", w, i)
				err := db.Tx(ctx, func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO items (id, n) VALUES (?, ?)", id, i); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, "INSERT INTO events (id, item_id) VALUES (?, ?)", "evt-"+id, id)
					return err
				})
				mu.Lock()
				if err == nil {
					committed = append(committed, id)
				} else if errs.Is(err, errs.Unavailable) {
					away++
				} else {
					failed = append(failed, fmt.Errorf("%s: %w", id, err))
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the server is away: do not spin
				}
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		writers.Wait()
	}()

	waitFor := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s: %d transactions committed", what, count())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("transactions before the restart", 100)
	restart()
	after := count()
	// Without reopening the store.
	waitFor("transactions after the restart", after+100)
	close(stop)
	writers.Wait()

	if away == 0 {
		t.Error("no transaction failed while the server restarted: did it restart?")
	}
	for _, err := range failed {
		t.Errorf("a transaction failed with a kind other than unavailable: %v", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping after the restart: %v", err)
	}
	have := map[string]bool{}
	rows, err := db.Query(ctx, "SELECT i.id FROM items i JOIN events e ON e.item_id = i.id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, id := range committed {
		if !have[id] {
			lost++
			if lost <= 5 {
				t.Errorf("committed row %s is gone after the restart", id)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d committed rows lost", lost, len(committed))
	}
	// A transaction whose COMMIT was sent as the server went away may have
	// committed without the client hearing of it: rows may outnumber the
	// acknowledged commits, never the other way round, and never half.
	var items, events int
	if err := db.QueryRow(ctx, "SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM events)").Scan(&items, &events); err != nil {
		t.Fatal(err)
	}
	if items != events {
		t.Errorf("%d items but %d events: a transaction was applied in part", items, events)
	}
	t.Logf("%d transactions committed (%d before the restart), %d failed as unavailable, %d rows", len(committed), after, away, items)
}
