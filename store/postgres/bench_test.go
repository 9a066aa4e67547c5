package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// BenchmarkStatements sets what the adapter costs (database/sql, "?"
// rebinding, error classification) beside pgx's own connection, on the
// same server and schema in the same run: a point read, and a transaction
// that claims a row and writes an event, as the Trigger and the outbox do.
//
//	go test -run '^$' -bench Statements ./store/postgres/
func BenchmarkStatements(b *testing.B) {
	u := storetest.URLFor(b, store.Postgres)
	db := open(b, u)
	ctx := context.Background()
	const rows = 1000
	for _, q := range []string{
		"CREATE TABLE items (id TEXT PRIMARY KEY, state TEXT NOT NULL, version BIGINT NOT NULL)",
		"CREATE TABLE events (id TEXT PRIMARY KEY, item_id TEXT NOT NULL, payload BYTEA NOT NULL)",
		fmt.Sprintf("INSERT INTO items SELECT 'item_' || i, 'pending', 0 FROM generate_series(1, %d) AS i", rows),
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close(context.Background()) })
	payload := make([]byte, 256)

	b.Run("read/store", func(b *testing.B) {
		i := 0
		for b.Loop() {
			var state string
			if err := db.QueryRow(ctx, "SELECT state FROM items WHERE id = ?", fmt.Sprintf("item_%d", i%rows+1)).Scan(&state); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("read/pgx", func(b *testing.B) {
		i := 0
		for b.Loop() {
			var state string
			if err := raw.QueryRow(ctx, "SELECT state FROM items WHERE id = $1", fmt.Sprintf("item_%d", i%rows+1)).Scan(&state); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("claim_tx/store", func(b *testing.B) {
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("item_%d", i%rows+1)
			err := db.Tx(ctx, func(tx *store.Tx) error {
				var v int64
				if err := tx.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = ? RETURNING version", key).Scan(&v); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO events (id, item_id, payload) VALUES (?, ?, ?)", fmt.Sprintf("s-%s-%d", key, v), key, payload)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("claim_tx/pgx", func(b *testing.B) {
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("item_%d", i%rows+1)
			err := pgx.BeginFunc(ctx, raw, func(tx pgx.Tx) error {
				var v int64
				if err := tx.QueryRow(ctx, "UPDATE items SET version = version + 1 WHERE id = $1 RETURNING version", key).Scan(&v); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO events (id, item_id, payload) VALUES ($1, $2, $3)", fmt.Sprintf("p-%s-%d", key, v), key, payload)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
