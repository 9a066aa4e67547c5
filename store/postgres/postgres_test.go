package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/storetest"
)

// open opens rawURL and closes it when the test ends.
func open(t testing.TB, rawURL string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("Open(%s): %v", store.Redact(rawURL), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// withQuery returns rawURL with the query parameters in kv (key, value,
// key, value...) set.
func withQuery(t testing.TB, rawURL string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *store.DB {
		return open(t, storetest.URLFor(t, store.Postgres))
	})
}

// The suite again, in the server's default schema, which other tests share:
// the suite's own prefixes keep the tests apart there.
func TestConformanceSharedSchema(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	storetest.Run(t, func(t *testing.T) *store.DB { return open(t, base) })
}

func TestOpen(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	tests := []struct {
		name string
		url  string
	}{
		{"postgres scheme", base},
		{"postgresql scheme", strings.Replace(base, "postgres://", "postgresql://", 1)},
		{"pool options", withQuery(t, base, "pool_max_conns", "3", "pool_max_idle_conns", "1",
			"pool_max_conn_lifetime", "10m", "pool_max_conn_idle_time", "0")},
		{"run-time settings", withQuery(t, base, "statement_timeout", "30000", "application_name", "herald-test")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, tc.url)
			if db.Dialect() != store.Postgres {
				t.Errorf("Dialect() = %q, want postgres", db.Dialect())
			}
			if err := db.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
			var one int
			if err := db.QueryRow(t.Context(), "SELECT ?::int", 1).Scan(&one); err != nil || one != 1 {
				t.Errorf("SELECT 1 = %d, %v", one, err)
			}
		})
	}
}

func TestPoolOptionsReachThePool(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	tests := []struct {
		name     string
		url      string
		wantOpen int
	}{
		{"default", base, postgres.DefaultMaxConns},
		{"pool_max_conns", withQuery(t, base, "pool_max_conns", "3"), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, tc.url)
			if got := db.SQL().Stats().MaxOpenConnections; got != tc.wantOpen {
				t.Errorf("MaxOpenConnections = %d, want %d", got, tc.wantOpen)
			}
		})
	}
}

// Run-time settings in the URL reach the server, and application_name
// defaults to herald.
func TestSettingsReachTheServer(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	tests := []struct {
		name    string
		url     string
		setting string
		want    string
	}{
		{"default application_name", base, "application_name", "herald"},
		{"own application_name", withQuery(t, base, "application_name", "herald-trigger"), "application_name", "herald-trigger"},
		{"statement_timeout", withQuery(t, base, "statement_timeout", "12345"), "statement_timeout", "12345ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, tc.url)
			var got string
			if err := db.QueryRow(t.Context(), "SELECT current_setting(?)", tc.setting).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.setting, got, tc.want)
			}
		})
	}
}

// A schema named in the URL holds the store's tables: two stores of one
// database in different schemas use the same table names without meeting.
func TestSearchPathSeparatesStores(t *testing.T) {
	t.Parallel()
	a := open(t, storetest.URLFor(t, store.Postgres))
	b := open(t, storetest.URLFor(t, store.Postgres))
	migrations := fstest.MapFS{"00001_things.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE svc_things (id TEXT PRIMARY KEY);\n")}}
	for _, db := range []*store.DB{a, b} {
		if err := db.Migrate(t.Context(), "svc_", migrations); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Exec(t.Context(), "INSERT INTO svc_things (id) VALUES (?)", "only-in-a"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(t.Context(), "SELECT COUNT(*) FROM svc_things").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the store in the other schema sees %d rows, want 0", n)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Open fails within seconds, on one line naming the store, the address
// without its password, and the cause.
func TestOpenFailsFastAndClearly(t *testing.T) {
	t.Parallel()
	base, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	withUser := func(u *url.URL, user, password string) string {
		c := *u
		c.User = url.UserPassword(user, password)
		return c.String()
	}
	withDB := func(u *url.URL, db string) string {
		c := *u
		c.Path = "/" + db
		return c.String()
	}
	closed := *base
	closed.Host = closedPort(t)

	tests := []struct {
		name     string
		url      string
		wantKind errs.Kind
		want     []string
	}{
		{"nothing listens", withUser(&closed, "herald", "s3cret-pw"), errs.Unavailable,
			[]string{"store", closed.Host, "cannot connect", "refused"}},
		{"unknown role", withUser(base, "no_such_role_herald", "s3cret-pw"), errs.Unauthenticated,
			[]string{"store", base.Host, "refused the credentials", "no_such_role_herald"}},
		{"unknown database", withDB(base, "no_such_database_herald"), errs.Invalid,
			[]string{"store", base.Host, "no such database", "no_such_database_herald"}},
		{"password as an option", withQuery(t, withUser(&closed, "herald", ""), "password", "s3cret-pw"), errs.Unavailable,
			[]string{"store", closed.Host, "password=xxxxx"}},
		{"bad pool option", withQuery(t, withUser(base, "herald", "s3cret-pw"), "pool_max_conns", "many"), errs.Invalid,
			[]string{"store", base.Host, "pool_max_conns", `"many"`}},
		{"one connection only", withQuery(t, base.String(), "pool_max_conns", "1"), errs.Invalid,
			[]string{"pool_max_conns", "at least 2"}},
		{"misspelt pool option", withQuery(t, base.String(), "pool_max_con", "4"), errs.Invalid,
			[]string{"pool_max_con", "unknown option"}},
		{"bad duration", withQuery(t, base.String(), "pool_max_conn_idle_time", "soon"), errs.Invalid,
			[]string{"pool_max_conn_idle_time", `"soon"`}},
		{"unknown run-time setting", withQuery(t, base.String(), "no_such_setting_herald", "1"), errs.Invalid,
			[]string{"store", base.Host, "refused a setting", "no_such_setting_herald"}},
		{"bad connection option", withQuery(t, withUser(base, "herald", "s3cret-pw"), "sslmode", "sometimes"), errs.Invalid,
			[]string{"store", "bad URL", "sslmode"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			db, err := store.Open(t.Context(), tc.url)
			took := time.Since(began)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Logf("Open: %s (after %v)", msg, took)
			if strings.Contains(msg, "\n") {
				t.Errorf("the error is not one line:\n%s", msg)
			}
			if strings.Contains(msg, "s3cret-pw") {
				t.Errorf("the error shows the password: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not say %q: %s", w, msg)
				}
			}
			if k := errs.KindOf(err); k != tc.wantKind {
				t.Errorf("kind %q, want %q", k, tc.wantKind)
			}
			// Generous: the point is seconds, not a hang, on a busy machine.
			if limit := postgres.DefaultConnectTimeout + 5*time.Second; took > limit {
				t.Errorf("Open took %v, want it to give up within %v", took, limit)
			}
		})
	}
}

// Open gives up when its context ends, even before the connect timeout: a
// node bounds its whole start-up.
func TestOpenHonoursItsContext(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers holds the handshake.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var held sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		l.Close()
		held.Wait()
	})
	held.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held.Go(func() {
				<-stop
				c.Close()
			})
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	db, err := store.Open(ctx, "postgres://herald@"+l.Addr().String()+"/herald?sslmode=disable&connect_timeout=60")
	if err == nil {
		db.Close()
		t.Fatal("Open of a server that never answers succeeded")
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("Open took %v after its context ended", took)
	}
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("kind %q, want unavailable: %v", errs.KindOf(err), err)
	}
}

func TestURLIsRedacted(t *testing.T) {
	t.Parallel()
	base, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test server trusts loopback, so any password opens it.
	withPassword := *base
	withPassword.User = url.UserPassword(base.User.Username(), "s3cret-pw")
	tests := []struct {
		name string
		url  string
	}{
		{"in the user part", withPassword.String()},
		{"as an option", withQuery(t, base.String(), "password", "s3cret-pw")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, tc.url)
			got := db.URL()
			if strings.Contains(got, "s3cret-pw") {
				t.Errorf("URL() = %q shows the password", got)
			}
			if !strings.Contains(got, "xxxxx") || !strings.Contains(got, base.Host) {
				t.Errorf("URL() = %q, want the address with the password masked", got)
			}
		})
	}
}

// Two nodes starting together migrate one database at once: each applies
// what is missing, none fails, and every migration is applied once.
func TestMigrateFromNodesAtOnce(t *testing.T) {
	t.Parallel()
	u := storetest.URLFor(t, store.Postgres)
	const nodes = 4
	dbs := make([]*store.DB, nodes)
	for i := range dbs {
		dbs[i] = open(t, u)
	}
	migrations := fstest.MapFS{}
	for i := 1; i <= 5; i++ {
		migrations[fmt.Sprintf("%05d_step.sql", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"-- +goose Up\nCREATE TABLE svc_step%d (id TEXT PRIMARY KEY);\nINSERT INTO svc_steps (step) VALUES (%d);\n", i, i))}
	}
	migrations["00001_step.sql"].Data = []byte("-- +goose Up\nCREATE TABLE svc_steps (step BIGINT NOT NULL);\nINSERT INTO svc_steps (step) VALUES (1);\n")

	for round := range 3 {
		// A release later, each round adds a migration every node applies.
		if round > 0 {
			v := 5 + round
			migrations[fmt.Sprintf("%05d_step.sql", v)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
				"-- +goose Up\nINSERT INTO svc_steps (step) VALUES (%d);\n", v))}
		}
		start := make(chan struct{})
		errc := make(chan error, nodes)
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				if err := db.Migrate(t.Context(), "svc_", migrations); err != nil {
					errc <- fmt.Errorf("node %d, round %d: %w", i, round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		var steps, distinct int
		if err := dbs[0].QueryRow(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT step) FROM svc_steps").Scan(&steps, &distinct); err != nil {
			t.Fatal(err)
		}
		if want := 5 + round; steps != want || distinct != want {
			t.Fatalf("round %d: %d steps applied (%d distinct), want each of %d once: does store.Migrate hold the adapter's MigrationLock?", round, steps, distinct, want)
		}
	}
}

// Statements that fail because the server went away are Unavailable, so
// callers retry them later; a unique violation is a Conflict.
func TestErrorsFromTheServerAreClassified(t *testing.T) {
	t.Parallel()
	db := open(t, storetest.URLFor(t, store.Postgres))
	ctx := t.Context()
	if _, err := db.Exec(ctx, "CREATE TABLE items (id TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO items (id) VALUES (?)", "a"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec(ctx, "INSERT INTO items (id) VALUES (?)", "a")
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("duplicate key: kind %q, want conflict: %v", errs.KindOf(err), err)
	}

	// The server ends the session in the middle of a transaction, as it
	// does when it shuts down.
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO items (id) VALUES (?)", "b")
		return err
	})
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("session ended by the server: kind %q, want unavailable: %v", errs.KindOf(err), err)
	}
	// The pool replaces the connection it lost.
	if _, err := db.Exec(ctx, "INSERT INTO items (id) VALUES (?)", "c"); err != nil {
		t.Errorf("after a lost connection: %v", err)
	}

	// The caller's own deadline is not the store's failure.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = db.Exec(short, "SELECT pg_sleep(5)")
	if err == nil || errs.Is(err, errs.Unavailable) || errs.Is(err, errs.Conflict) {
		t.Errorf("statement past its deadline: %v (kind %q), want the context's error unclassified", err, errs.KindOf(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("statement past its deadline: %v, want context.DeadlineExceeded in its chain", err)
	}
}

// Statements are prepared once per connection and reused: pgx's statement
// cache (its default query exec mode), which is why the store keeps no
// cache of its own for PostgreSQL.
func TestStatementsPreparedOncePerConnection(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := open(t, storetest.URLFor(t, store.Postgres))
	q := "SELECT ?::BIGINT + 41 AS answer_reused"
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for i := range 5 {
			var n int64
			if err := tx.QueryRow(ctx, q, i+1).Scan(&n); err != nil {
				return err
			}
			if n != int64(i+42) {
				return fmt.Errorf("run %d: %d, want %d", i, n, i+42)
			}
		}
		// pg_prepared_statements lists this connection's statements.
		var prepared int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement = $1",
			"SELECT $1::BIGINT + 41 AS answer_reused").Scan(&prepared); err != nil {
			return err
		}
		if prepared != 1 {
			return fmt.Errorf("the query is prepared %d times on the connection, want once", prepared)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
