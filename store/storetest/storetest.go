package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Wait bounds how long a test waits for the store when something might
// hang (a connection left in a transaction); it is generous on purpose.
const Wait = 10 * time.Second

// Run runs the conformance suite. open returns the store a test works in and
// arranges for it to be closed (t.Cleanup); it may hand the same database to
// several tests, since each test works in tables of its own prefix.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB, p string)
	}{
		{"MigrateAppliesOnce", testMigrateAppliesOnce},
		{"MigratePrefixesAreIndependent", testMigratePrefixesAreIndependent},
		{"MigrateFailureKeepsEarlierMigrations", testMigrateFailureKeepsEarlierMigrations},
		{"TxCommits", testTxCommits},
		{"AfterCommitHookMayWrite", testAfterCommitHookMayWrite},
		{"TxRollsBack", testTxRollsBack},
		{"TxRollsBackOnPanic", testTxRollsBackOnPanic},
		{"TxWithEndedContext", testTxWithEndedContext},
		{"UniqueViolationIsConflict", testUniqueViolationIsConflict},
		{"NotFound", testNotFound},
		{"Placeholders", testPlaceholders},
		{"Upsert", testUpsert},
		{"Returning", testReturning},
		{"Micros", testMicros},
		{"BytesAndBooleans", testBytesAndBooleans},
		{"ConcurrentTransactions", testConcurrentTransactions},
		{"RepeatedStatements", testRepeatedStatements},
		{"RepeatedStatementsAfterSchemaChange", testRepeatedStatementsAfterSchemaChange},
		{"SameQueryNestedInTx", testSameQueryNestedInTx},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			tc.fn(t, db, prefix(t, db))
		})
	}
}

// prefix returns a table prefix no other test or run uses, and drops every
// table carrying it when the test ends.
func prefix(t *testing.T, db *store.DB) string {
	p := id.New("st") + "_"
	t.Cleanup(func() {
		// t.Context has ended by now; the store is still open (its own
		// cleanup, registered before, runs after this one). A test that
		// failed may have left the store unable to answer, so the cleanup
		// gives up after a while rather than hang the run.
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, table := range tablesWithPrefix(t, ctx, db, p) {
				if _, err := db.Exec(ctx, "DROP TABLE "+table); err != nil {
					t.Errorf("dropping %s: %v", table, err)
				}
			}
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Errorf("dropping the tables of %s: the store did not answer within %v", p, Wait)
		}
	})
	return p
}

// tablesWithPrefix lists the tables whose name starts with p.
func tablesWithPrefix(t *testing.T, ctx context.Context, db *store.DB, p string) []string {
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	if db.Dialect() == store.SQLite {
		q = "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
	rows, err := db.Query(ctx, q)
	if err != nil {
		t.Errorf("listing tables: %v", err)
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Errorf("listing tables: %v", err)
			return nil
		}
		if strings.HasPrefix(name, p) {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Errorf("listing tables: %v", err)
	}
	return out
}

// migrations builds a goose migration set: file name -> Up SQL.
func migrations(up map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, sql := range up {
		fsys[name] = &fstest.MapFile{Data: []byte("-- +goose Up\n" + sql + "\n")}
	}
	return fsys
}

func exec(t *testing.T, q store.Querier, query string, args ...any) sql.Result {
	t.Helper()
	r, err := q.Exec(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("Exec(%s): %v", query, err)
	}
	return r
}

func queryInt(t *testing.T, q store.Querier, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("QueryRow(%s): %v", query, err)
	}
	return n
}

// createItems creates the table most tests use: <p>items.
func createItems(t *testing.T, db *store.DB, p string) string {
	t.Helper()
	table := p + "items"
	exec(t, db, `CREATE TABLE `+table+` (
		id   TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		n    BIGINT NOT NULL DEFAULT 0
	)`)
	return table
}

func schemaVersion(t *testing.T, db *store.DB, p string) int64 {
	t.Helper()
	return queryInt(t, db, "SELECT MAX(version_id) FROM "+p+"schema_version")
}

func testMigrateAppliesOnce(t *testing.T, db *store.DB, p string) {
	ctx := t.Context()
	v1 := map[string]string{
		"00001_items.sql": `CREATE TABLE ` + p + `items (id TEXT PRIMARY KEY, n BIGINT NOT NULL);`,
		"00002_seed.sql":  `INSERT INTO ` + p + `items (id, n) VALUES ('seed', 1);`,
	}
	for i := range 2 {
		if err := db.Migrate(ctx, p, migrations(v1)); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	// Had the seed run twice, its insert would have failed or doubled.
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+p+"items"); n != 1 {
		t.Errorf("%d seed rows after two Migrates, want 1", n)
	}
	if v := schemaVersion(t, db, p); v != 2 {
		t.Errorf("schema version %d, want 2", v)
	}

	// A release that adds a migration applies only the new one.
	v2 := map[string]string{"00003_note.sql": `ALTER TABLE ` + p + `items ADD COLUMN note TEXT;`}
	for k, v := range v1 {
		v2[k] = v
	}
	if err := db.Migrate(ctx, p, migrations(v2)); err != nil {
		t.Fatalf("Migrate of the next release: %v", err)
	}
	exec(t, db, "UPDATE "+p+"items SET note = ? WHERE id = ?", "added", "seed")
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+p+"items"); n != 1 {
		t.Errorf("%d rows after the next release, want 1", n)
	}
	if v := schemaVersion(t, db, p); v != 3 {
		t.Errorf("schema version %d, want 3", v)
	}
}

func testMigratePrefixesAreIndependent(t *testing.T, db *store.DB, p string) {
	ctx := t.Context()
	a, b := p+"a_", p+"b_"
	// Both services number their migrations from 1.
	if err := db.Migrate(ctx, a, migrations(map[string]string{
		"00001_init.sql": `CREATE TABLE ` + a + `things (id TEXT PRIMARY KEY);`,
		"00002_more.sql": `CREATE TABLE ` + a + `more (id TEXT PRIMARY KEY);`,
	})); err != nil {
		t.Fatalf("Migrate %s: %v", a, err)
	}
	bInit := map[string]string{"00001_init.sql": `CREATE TABLE ` + b + `things (id TEXT PRIMARY KEY);`}
	if err := db.Migrate(ctx, b, migrations(bInit)); err != nil {
		t.Fatalf("Migrate %s: %v", b, err)
	}
	if v := schemaVersion(t, db, a); v != 2 {
		t.Errorf("%s schema version %d, want 2", a, v)
	}
	if v := schemaVersion(t, db, b); v != 1 {
		t.Errorf("%s schema version %d, want 1 (a's migrations are not b's)", b, v)
	}
	exec(t, db, "INSERT INTO "+b+"things (id) VALUES (?)", "x")

	bInit["00002_more.sql"] = `CREATE TABLE ` + b + `more (id TEXT PRIMARY KEY);`
	if err := db.Migrate(ctx, b, migrations(bInit)); err != nil {
		t.Fatalf("Migrate %s again: %v", b, err)
	}
	if v := schemaVersion(t, db, b); v != 2 {
		t.Errorf("%s schema version %d, want 2", b, v)
	}
	if v := schemaVersion(t, db, a); v != 2 {
		t.Errorf("%s schema version %d after b migrated, want 2", a, v)
	}
}

func testMigrateFailureKeepsEarlierMigrations(t *testing.T, db *store.DB, p string) {
	ctx := t.Context()
	ms := map[string]string{
		"00001_good.sql": `CREATE TABLE ` + p + `good (id TEXT PRIMARY KEY);`,
		// The first statement works, the second does not: the migration
		// as a whole must not be applied.
		"00002_bad.sql": `CREATE TABLE ` + p + `half (id TEXT PRIMARY KEY);
INSERT INTO ` + p + `no_such_table (id) VALUES ('x');`,
	}
	if err := db.Migrate(ctx, p, migrations(ms)); err == nil {
		t.Fatal("Migrate with a broken migration succeeded, want an error")
	}
	if v := schemaVersion(t, db, p); v != 1 {
		t.Errorf("schema version %d after a failed migration, want 1", v)
	}
	exec(t, db, "INSERT INTO "+p+"good (id) VALUES (?)", "x")
	if _, err := db.Exec(ctx, "INSERT INTO "+p+"half (id) VALUES (?)", "x"); err == nil {
		t.Error("the failed migration's first statement was kept")
	}

	// Once fixed, it applies.
	ms["00002_bad.sql"] = `CREATE TABLE ` + p + `half (id TEXT PRIMARY KEY);`
	if err := db.Migrate(ctx, p, migrations(ms)); err != nil {
		t.Fatalf("Migrate after the fix: %v", err)
	}
	exec(t, db, "INSERT INTO "+p+"half (id) VALUES (?)", "x")
}

func testTxCommits(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	var hooks []string
	var seenByHook int64 = -1
	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		if tx.Dialect() != db.Dialect() {
			t.Errorf("tx.Dialect() = %q, want %q", tx.Dialect(), db.Dialect())
		}
		exec(t, tx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "alpha")
		tx.AfterCommit(func() {
			hooks = append(hooks, "first")
			// A hook runs once the commit is visible to everyone.
			seenByHook = queryInt(t, db, "SELECT COUNT(*) FROM "+table)
		})
		exec(t, tx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "b", "beta")
		// The transaction sees its own writes.
		if n := queryInt(t, tx, "SELECT COUNT(*) FROM "+table); n != 2 {
			t.Errorf("%d rows inside the transaction, want 2", n)
		}
		tx.AfterCommit(func() { hooks = append(hooks, "second") })
		if len(hooks) != 0 {
			t.Error("an AfterCommit hook ran before the commit")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx: %v", err)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table); n != 2 {
		t.Errorf("%d rows after commit, want 2", n)
	}
	if strings.Join(hooks, ",") != "first,second" {
		t.Errorf("hooks ran %v, want [first second]: each once, in order", hooks)
	}
	if seenByHook != 2 {
		t.Errorf("the hook saw %d rows, want 2", seenByHook)
	}
}

func testAfterCommitHookMayWrite(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	// A hook runs after the commit, outside the transaction, so it may use
	// the store like any other code, writes and transactions included. Run
	// in a goroutine so that a hook that cannot get the store fails the test
	// instead of hanging it.
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(t.Context(), func(tx *store.Tx) error {
			if _, err := tx.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "alpha"); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				if _, err := db.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "b", "by hook"); err != nil {
					t.Errorf("Exec in a hook: %v", err)
				}
				err := db.Tx(t.Context(), func(tx *store.Tx) error {
					_, err := tx.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "c", "by hook")
					return err
				})
				if err != nil {
					t.Errorf("Tx in a hook: %v", err)
				}
			})
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Tx: %v", err)
		}
	case <-time.After(Wait):
		t.Fatalf("Tx whose hook uses the store has not returned after %v", Wait)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

func testTxRollsBack(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	exec(t, db, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "existing", "kept")
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		fn      func(tx *store.Tx) error
		wantErr func(error) bool
	}{
		{"fn returns an error", func(tx *store.Tx) error {
			exec(t, tx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "new", "gone")
			exec(t, tx, "UPDATE "+table+" SET name = ? WHERE id = ?", "changed", "existing")
			return errStop
		}, func(err error) bool { return errors.Is(err, errStop) }},
		{"a statement fails", func(tx *store.Tx) error {
			exec(t, tx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "new", "gone")
			_, err := tx.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "existing", "dup")
			return err
		}, func(err error) bool { return errs.Is(err, errs.Conflict) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hookRan := false
			err := db.Tx(t.Context(), func(tx *store.Tx) error {
				tx.AfterCommit(func() { hookRan = true })
				return tc.fn(tx)
			})
			if !tc.wantErr(err) {
				t.Errorf("Tx = %v, not the error fn returned", err)
			}
			if hookRan {
				t.Error("an AfterCommit hook ran after a rollback")
			}
			if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table+" WHERE id = ?", "new"); n != 0 {
				t.Error("a row inserted in the rolled back transaction is there")
			}
			var name string
			if err := db.QueryRow(t.Context(), "SELECT name FROM "+table+" WHERE id = ?", "existing").Scan(&name); err != nil || name != "kept" {
				t.Errorf("existing row = %q, %v; want it unchanged", name, err)
			}
		})
	}
}

func testTxRollsBackOnPanic(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of fn to go on", r)
			}
		}()
		_ = db.Tx(t.Context(), func(tx *store.Tx) error {
			exec(t, tx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "alpha")
			panic("boom")
		})
	}()
	// The store is still usable: the transaction did not keep its
	// connection or its locks.
	ctx, cancel := context.WithTimeout(t.Context(), Wait)
	defer cancel()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "b", "beta")
		return err
	})
	if err != nil {
		t.Fatalf("Tx after a panicking Tx: %v", err)
	}
	var ids []string
	rows, err := db.Query(ctx, "SELECT id FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "b" {
		t.Errorf("rows %v, want only [b]: the panicking transaction must roll back", ids)
	}
}

func testTxWithEndedContext(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := db.Tx(ctx, func(tx *store.Tx) error {
		ran = true
		_, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "alpha")
		return err
	})
	if err == nil {
		t.Fatalf("Tx with an ended context succeeded (fn ran: %v), want an error", ran)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table); n != 0 {
		t.Errorf("%d rows written with an ended context, want 0", n)
	}
}

func testUniqueViolationIsConflict(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	exec(t, db, "CREATE UNIQUE INDEX "+p+"items_name ON "+table+" (name)")
	exec(t, db, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "alpha")
	tests := []struct {
		name string
		run  func() error
	}{
		{"primary key", func() error {
			_, err := db.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "other")
			return err
		}},
		{"unique index", func() error {
			_, err := db.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "b", "alpha")
			return err
		}},
		{"unique index by update", func() error {
			exec(t, db, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "c", "gamma")
			_, err := db.Exec(t.Context(), "UPDATE "+table+" SET name = ? WHERE id = ?", "alpha", "c")
			return err
		}},
		{"inside a transaction", func() error {
			return db.Tx(t.Context(), func(tx *store.Tx) error {
				_, err := tx.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, ?)", "a", "again")
				return err
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errs.Is(err, errs.Conflict) {
				t.Fatalf("err = %v (kind %q), want errs.Conflict", err, errs.KindOf(err))
			}
			if errors.Unwrap(err) == nil {
				t.Error("the driver's error is not kept as the cause")
			}
		})
	}
	// Other constraint failures are not conflicts.
	_, err := db.Exec(t.Context(), "INSERT INTO "+table+" (id, name) VALUES (?, NULL)", "z")
	if err == nil || errs.Is(err, errs.Conflict) {
		t.Errorf("NOT NULL violation: err = %v, want an error that is not errs.Conflict", err)
	}
}

func testNotFound(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	var name string
	err := db.QueryRow(t.Context(), "SELECT name FROM "+table+" WHERE id = ?", "missing").Scan(&name)
	if !errors.Is(err, store.ErrNoRows) {
		t.Fatalf("Scan of no rows = %v, want store.ErrNoRows", err)
	}
	other := errors.New("disk on fire")
	tests := []struct {
		name     string
		in       error
		wantKind errs.Kind
		wantSame bool
	}{
		{"no rows", err, errs.NotFound, false},
		{"wrapped no rows", fmt.Errorf("loading post: %w", sql.ErrNoRows), errs.NotFound, false},
		{"other error", other, errs.Internal, true},
		{"nil", nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := store.NotFound(tc.in, "post")
			if k := errs.KindOf(got); k != tc.wantKind {
				t.Errorf("kind %q, want %q", k, tc.wantKind)
			}
			if tc.wantSame && got != tc.in {
				t.Errorf("NotFound(%v) = %v, want it passed through", tc.in, got)
			}
			if tc.wantKind == errs.NotFound && !strings.Contains(errs.PublicMessage(got), "post") {
				t.Errorf("message %q does not say what was not found", errs.PublicMessage(got))
			}
		})
	}
}

func testPlaceholders(t *testing.T, db *store.DB, p string) {
	table := p + "wide"
	cols := make([]string, 12)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d", i)
	}
	exec(t, db, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, "+strings.Join(cols, " TEXT, ")+" TEXT)")
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)+1), ", ")
	const rows = 40
	for r := range rows {
		args := []any{int64(r)}
		for i := range cols {
			args = append(args, fmt.Sprintf("r%d-c%d", r, i))
		}
		exec(t, db, "INSERT INTO "+table+" (id, "+strings.Join(cols, ", ")+") VALUES ("+marks+")", args...)
	}
	// Many arguments, in order.
	var c0, c11 string
	if err := db.QueryRow(t.Context(), "SELECT c0, c11 FROM "+table+" WHERE id = ? AND c5 = ?", 7, "r7-c5").Scan(&c0, &c11); err != nil {
		t.Fatal(err)
	}
	if c0 != "r7-c0" || c11 != "r7-c11" {
		t.Errorf("got %q, %q; want r7-c0, r7-c11", c0, c11)
	}
	in := make([]any, 30)
	for i := range in {
		in[i] = int64(i)
	}
	inMarks := strings.TrimSuffix(strings.Repeat("?, ", len(in)), ", ")
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table+" WHERE id IN ("+inMarks+")", in...); n != 30 {
		t.Errorf("IN with 30 arguments matched %d rows, want 30", n)
	}
	// A question mark inside a string literal is text, not a placeholder,
	// also next to an escaped quote.
	exec(t, db, "UPDATE "+table+" SET c1 = 'why? it''s ?' WHERE id = ?", 3)
	var c1 string
	if err := db.QueryRow(t.Context(), "SELECT c1 FROM "+table+" WHERE c1 = 'why? it''s ?' AND id = ?", 3).Scan(&c1); err != nil {
		t.Fatalf("query with ? in a literal: %v", err)
	}
	if c1 != "why? it's ?" {
		t.Errorf("c1 = %q, want %q", c1, "why? it's ?")
	}
	// NULL through a placeholder.
	exec(t, db, "UPDATE "+table+" SET c2 = ? WHERE id = ?", nil, 4)
	var c2 sql.NullString
	if err := db.QueryRow(t.Context(), "SELECT c2 FROM "+table+" WHERE id = ?", 4).Scan(&c2); err != nil || c2.Valid {
		t.Errorf("c2 = %v, %v; want NULL", c2, err)
	}
}

func testUpsert(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	upsert := "INSERT INTO " + table + " (id, name, n) VALUES (?, ?, ?) " +
		"ON CONFLICT (id) DO UPDATE SET n = " + table + ".n + excluded.n, name = excluded.name"
	for i, name := range []string{"one", "two", "three"} {
		exec(t, db, upsert, "k", name, int64(i+1))
	}
	var name string
	var n int64
	if err := db.QueryRow(t.Context(), "SELECT name, n FROM "+table+" WHERE id = ?", "k").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	if name != "three" || n != 6 {
		t.Errorf("after three upserts: name %q, n %d; want three, 6", name, n)
	}
	nothing := "INSERT INTO " + table + " (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"
	if got, _ := exec(t, db, nothing, "k", "ignored").RowsAffected(); got != 0 {
		t.Errorf("DO NOTHING on a conflict affected %d rows, want 0", got)
	}
	if got, _ := exec(t, db, nothing, "fresh", "new").RowsAffected(); got != 1 {
		t.Errorf("DO NOTHING without a conflict affected %d rows, want 1", got)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

func testReturning(t *testing.T, db *store.DB, p string) {
	table := createItems(t, db, p)
	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		var id string
		var n int64
		if err := tx.QueryRow(t.Context(), "INSERT INTO "+table+" (id, name, n) VALUES (?, ?, ?) RETURNING id, n", "a", "alpha", 5).Scan(&id, &n); err != nil {
			return fmt.Errorf("INSERT RETURNING: %w", err)
		}
		if id != "a" || n != 5 {
			t.Errorf("INSERT RETURNING gave %q, %d; want a, 5", id, n)
		}
		if err := tx.QueryRow(t.Context(), "UPDATE "+table+" SET n = n + 1 WHERE id = ? RETURNING n", "a").Scan(&n); err != nil {
			return fmt.Errorf("UPDATE RETURNING: %w", err)
		}
		if n != 6 {
			t.Errorf("UPDATE RETURNING gave %d, want 6", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, "INSERT INTO "+table+" (id, name) VALUES (?, ?), (?, ?)", "b", "beta", "c", "gamma")
	rows, err := db.Query(t.Context(), "DELETE FROM "+table+" WHERE id <> ? RETURNING id", "a")
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		deleted = append(deleted, id)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 {
		t.Errorf("DELETE RETURNING gave %v, want b and c", deleted)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table); n != 1 {
		t.Errorf("%d rows after DELETE RETURNING, want 1", n)
	}
}

func testMicros(t *testing.T, db *store.DB, p string) {
	table := p + "times"
	exec(t, db, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, at BIGINT NOT NULL)")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
	}{
		{"zero", time.Time{}},
		{"now with nanoseconds", time.Now()},
		{"another zone", time.Date(2025, 3, 30, 2, 30, 0, 0, paris)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)},
		{"far future", time.Date(2262, 1, 1, 0, 0, 0, 999999000, time.UTC)},
		{"one microsecond after 1970", time.Unix(0, 1000)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec(t, db, "INSERT INTO "+table+" (id, at) VALUES (?, ?)", i, store.ToMicros(tc.at))
			var us int64
			if err := db.QueryRow(t.Context(), "SELECT at FROM "+table+" WHERE id = ?", i).Scan(&us); err != nil {
				t.Fatal(err)
			}
			got := store.FromMicros(us)
			if tc.at.IsZero() {
				if !got.IsZero() || us != 0 {
					t.Errorf("zero time stored as %d, read back as %v; want 0 and the zero time", us, got)
				}
				return
			}
			if want := tc.at.Truncate(time.Microsecond); !got.Equal(want) {
				t.Errorf("read back %v, want %v", got, want)
			}
			if got.Location() != time.UTC {
				t.Errorf("read back in %v, want UTC", got.Location())
			}
		})
	}
	// Stored instants order like the instants.
	var first int64
	if err := db.QueryRow(t.Context(), "SELECT id FROM "+table+" WHERE at <> 0 ORDER BY at LIMIT 1").Scan(&first); err != nil {
		t.Fatal(err)
	}
	if tests[first].name != "before 1970" {
		t.Errorf("earliest instant is %q, want before 1970", tests[first].name)
	}
}

func testBytesAndBooleans(t *testing.T, db *store.DB, p string) {
	table := p + "blobs"
	exec(t, db, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, data BYTEA, flag BOOLEAN NOT NULL)")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name string
		data []byte
		flag bool
	}{
		{"every byte value", all, true},
		{"zero bytes", []byte{0, 0, 0}, false},
		{"invalid utf8", []byte{0xff, 0xfe, 'a', 0xc3}, true},
		{"empty", []byte{}, false},
		{"null", nil, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec(t, db, "INSERT INTO "+table+" (id, data, flag) VALUES (?, ?, ?)", i, tc.data, tc.flag)
			var data []byte
			var flag, isNull bool
			if err := db.QueryRow(t.Context(), "SELECT data, flag, data IS NULL FROM "+table+" WHERE id = ?", i).Scan(&data, &flag, &isNull); err != nil {
				t.Fatal(err)
			}
			if string(data) != string(tc.data) || flag != tc.flag {
				t.Errorf("read back %x, %v; want %x, %v", data, flag, tc.data, tc.flag)
			}
			if isNull != (tc.data == nil) {
				t.Errorf("data IS NULL = %v, want %v (an empty value is not NULL)", isNull, tc.data == nil)
			}
		})
	}
	// Booleans compare with placeholders and literals alike.
	trues := queryInt(t, db, "SELECT COUNT(*) FROM "+table+" WHERE flag = ?", true)
	if lit := queryInt(t, db, "SELECT COUNT(*) FROM "+table+" WHERE flag = TRUE"); trues != 3 || lit != 3 {
		t.Errorf("flag = ? matched %d, flag = TRUE matched %d; want 3 and 3", trues, lit)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+table+" WHERE NOT flag"); n != 2 {
		t.Errorf("NOT flag matched %d, want 2", n)
	}
}

func testConcurrentTransactions(t *testing.T, db *store.DB, p string) {
	counter, log := p+"counter", p+"log"
	exec(t, db, "CREATE TABLE "+counter+" (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")
	exec(t, db, "CREATE TABLE "+log+" (id TEXT PRIMARY KEY, worker BIGINT NOT NULL)")
	exec(t, db, "INSERT INTO "+counter+" (id, n) VALUES ('c', 0)")
	const workers, increments = 16, 50

	ctx, cancel := context.WithTimeout(t.Context(), 4*Wait)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, workers+4)
	for w := range workers {
		wg.Go(func() {
			for i := range increments {
				err := db.Tx(ctx, func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, "UPDATE "+counter+" SET n = n + 1 WHERE id = 'c'"); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, "INSERT INTO "+log+" (id, worker) VALUES (?, ?)", fmt.Sprintf("%d-%d", w, i), w)
					return err
				})
				if err != nil {
					errc <- fmt.Errorf("worker %d, increment %d: %w", w, i, err)
					return
				}
			}
		})
	}
	// Readers meanwhile never fail and never see the counter go back.
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			var last int64
			for {
				select {
				case <-done:
					return
				default:
				}
				var n int64
				if err := db.QueryRow(ctx, "SELECT n FROM "+counter+" WHERE id = 'c'").Scan(&n); err != nil {
					errc <- fmt.Errorf("reader: %w", err)
					return
				}
				if n < last {
					errc <- fmt.Errorf("reader saw the counter go from %d back to %d", last, n)
					return
				}
				last = n
				time.Sleep(time.Millisecond) // read alongside the writers, not instead of them
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := queryInt(t, db, "SELECT n FROM "+counter+" WHERE id = 'c'"); n != workers*increments {
		t.Errorf("counter = %d, want %d: updates were lost", n, workers*increments)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+log); n != workers*increments {
		t.Errorf("%d log rows, want %d", n, workers*increments)
	}
}

func testPing(t *testing.T, db *store.DB, _ string) {
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if d := db.Dialect(); d != store.SQLite && d != store.Postgres {
		t.Errorf("Dialect() = %q, want one of the known dialects", d)
	}
}

// The same statements run again and again, in and out of transactions,
// committed and rolled back, give the right results each time (the store
// may reuse prepared statements).
func testRepeatedStatements(t *testing.T, db *store.DB, p string) {
	ctx := t.Context()
	table := createItems(t, db, p)
	insert := "INSERT INTO " + table + " (id, name, n) VALUES (?, ?, ?)"
	bump := "UPDATE " + table + " SET n = n + ? WHERE id = ?"
	read := "SELECT n FROM " + table + " WHERE id = ?"
	for i := range 20 {
		key := fmt.Sprintf("k%d", i%3)
		err := db.Tx(ctx, func(tx *store.Tx) error {
			if i < 3 {
				if _, err := tx.Exec(ctx, insert, key, "item", 0); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, bump, 1, key); err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRow(ctx, read, key).Scan(&n); err != nil {
				return err
			}
			if i%4 == 3 {
				return errors.New("roll back")
			}
			return nil
		})
		if err != nil && (i%4 != 3 || err.Error() != "roll back") {
			t.Fatalf("transaction %d: %v", i, err)
		}
		exec(t, db, bump, 0, key)
	}
	// 20 transactions over three keys, every fourth rolled back: k0 gets
	// i = 0,6,9,12,18 (3 and 15 rolled back), k1 1,4,10,13,16 (7, 19),
	// k2 2,5,8,14,17 (11).
	for key, want := range map[string]int64{"k0": 5, "k1": 5, "k2": 5} {
		if n := queryInt(t, db, read, key); n != want {
			t.Errorf("%s: n = %d, want %d", key, n, want)
		}
	}
	// An error keeps its kind through a reused statement.
	_, err := db.Exec(ctx, insert, "k0", "again", 0)
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("inserting a duplicate through a reused statement: %v, want Conflict", err)
	}
	err = db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, insert, "k1", "again", 0)
		return err
	})
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("inserting a duplicate in a transaction through a reused statement: %v, want Conflict", err)
	}
}

// Statements run before a table changes (a column added, the table
// dropped and made again with other types) run right after it.
func testRepeatedStatementsAfterSchemaChange(t *testing.T, db *store.DB, p string) {
	ctx := t.Context()
	table := createItems(t, db, p)
	insert := "INSERT INTO " + table + " (id, name) VALUES (?, ?)"
	read := "SELECT name FROM " + table + " WHERE id = ?"
	inTx := func(id, name string) string {
		t.Helper()
		var got string
		err := db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, insert, id, name); err != nil {
				return err
			}
			return tx.QueryRow(ctx, read, id).Scan(&got)
		})
		if err != nil {
			t.Fatalf("transaction writing %s: %v", id, err)
		}
		return got
	}
	for i := range 3 {
		inTx(fmt.Sprintf("before%d", i), "b")
	}
	exec(t, db, "ALTER TABLE "+table+" ADD COLUMN note TEXT NOT NULL DEFAULT 'none'")
	if got := inTx("after-alter", "a"); got != "a" {
		t.Errorf("after ALTER TABLE: name = %q, want a", got)
	}
	exec(t, db, "DROP TABLE "+table)
	exec(t, db, "CREATE TABLE "+table+" (name TEXT NOT NULL, id TEXT PRIMARY KEY)")
	if got := inTx("after-recreate", "r"); got != "r" {
		t.Errorf("after the table was made again: name = %q, want r", got)
	}
	var name string
	if err := db.QueryRow(ctx, read, "after-recreate").Scan(&name); err != nil || name != "r" {
		t.Errorf("outside a transaction after the table was made again: %q, %v; want r", name, err)
	}
}

// A transaction may run a query again while the rows of the same query
// are still open, and run the same one-row query in the loop (SQLite: a
// PostgreSQL connection takes no query while it sends rows).
func testSameQueryNestedInTx(t *testing.T, db *store.DB, p string) {
	if db.Dialect() == store.Postgres {
		t.Skip("a PostgreSQL connection runs one query at a time: services never nest queries in a transaction")
	}
	ctx := t.Context()
	table := createItems(t, db, p)
	for i := range 3 {
		exec(t, db, "INSERT INTO "+table+" (id, name, n) VALUES (?, ?, ?)", fmt.Sprintf("i%d", i), "x", i)
	}
	list := "SELECT id FROM " + table + " WHERE n >= ? ORDER BY id"
	one := "SELECT n FROM " + table + " WHERE id = ?"
	var pairs int
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for range 2 { // twice: the second time with everything seen once
			outer, err := tx.Query(ctx, list, 0)
			if err != nil {
				return err
			}
			for outer.Next() {
				var id string
				if err := outer.Scan(&id); err != nil {
					outer.Close()
					return err
				}
				var n int64
				if err := tx.QueryRow(ctx, one, id).Scan(&n); err != nil {
					outer.Close()
					return err
				}
				inner, err := tx.Query(ctx, list, n)
				if err != nil {
					outer.Close()
					return err
				}
				for inner.Next() {
					pairs++
				}
				inner.Close()
				if err := inner.Err(); err != nil {
					outer.Close()
					return err
				}
			}
			outer.Close()
			if err := outer.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Per pass: rows with n >= 0, 1, 2 are 3 + 2 + 1.
	if pairs != 12 {
		t.Errorf("%d pairs, want 12", pairs)
	}
}
