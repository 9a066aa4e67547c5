package storetest

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
	// The stores the helpers hand out URLs for.
	_ "github.com/heraldhq/herald/store/postgres"
	_ "github.com/heraldhq/herald/store/sqlite"
)

// DefaultPostgresURL is the test server scripts/test-infra.sh starts; the
// environment variable HERALD_TEST_POSTGRES_URL names another.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// schemaPrefix starts the name of every schema the helpers create, so that
// schemas an interrupted run left behind can be found and dropped.
const schemaPrefix = "herald_test"

// staleAfter is how old a test schema must be before a later run drops it:
// far longer than any test run lasts.
const staleAfter = time.Hour

// pass is the store of the current pass of Main; SQLite outside Main.
var pass = store.SQLite

// Main runs a package's tests once per store, so that a service's tests,
// written once, prove its SQL on SQLite and on PostgreSQL: first with URL
// handing out SQLite files, then, again, fresh PostgreSQL schemas. A
// package opts in with
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
// and opens its stores at URL(t). The PostgreSQL pass is left out, with a
// note, when the server does not answer, unless CI=true: then that is a
// failure. Benchmarks run in the first pass only; one that compares the
// stores names them itself (URLFor). Main does not return.
func Main(m *testing.M) {
	code := m.Run()
	if !secondPassWanted() {
		os.Exit(code)
	}
	db, err := admin()
	if err != nil {
		if ci() {
			fmt.Printf("FAIL: storetest: the PostgreSQL pass cannot run (CI=true, a missing server is a failure): %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("storetest: PostgreSQL pass left out: %v\n", err)
		os.Exit(code)
	}
	pass = store.Postgres
	fmt.Printf("storetest: the same tests again, each in a fresh schema of PostgreSQL %s\n", db.URL())
	// Benchmarks name their stores themselves; running them again would
	// only print the same names twice.
	_ = flag.Set("test.bench", "")
	if c := m.Run(); c != 0 {
		code = c
	}
	os.Exit(code)
}

// secondPassWanted reports whether the flags ask for tests to run, rather
// than for benchmarks only (-run '^$'), a listing or a fuzzing session,
// which one pass serves.
func secondPassWanted() bool {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "^$" {
		return false
	}
	for _, name := range []string{"test.list", "test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return false
		}
	}
	return true
}

// Dialect is the store of the current pass of Main.
func Dialect() store.Dialect { return pass }

// URL returns the URL of a new, empty store of the current pass, dropped
// when the test ends. Open it as many times as the test needs (two nodes
// sharing one database); close what you open before the test ends (with
// t.Cleanup after calling URL, so the store closes before it is dropped).
func URL(tb testing.TB) string { return URLFor(tb, pass) }

// URLFor is URL for a given store: a SQLite file in tb.TempDir(), or a
// schema of its own in the PostgreSQL test server (search_path in the URL
// names it), dropped when the test ends, so parallel tests never see each
// other's tables. A PostgreSQL server that does not answer skips the test,
// or fails it when CI=true.
func URLFor(tb testing.TB, d store.Dialect) string {
	tb.Helper()
	switch d {
	case store.SQLite:
		return "sqlite://" + filepath.ToSlash(filepath.Join(tb.TempDir(), "herald.db"))
	case store.Postgres:
		return freshSchema(tb)
	}
	tb.Fatalf("storetest: no test store for dialect %q", d)
	return ""
}

// PostgresURL returns the URL of the PostgreSQL test server: the
// environment's HERALD_TEST_POSTGRES_URL, or DefaultPostgresURL. When the
// server does not answer it skips the test, or fails it when CI=true.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	if _, err := admin(); err != nil {
		if ci() {
			tb.Fatalf("PostgreSQL test server: %v (CI=true: a missing server is a failure)", err)
		}
		tb.Skipf("PostgreSQL test server: %v", err)
	}
	return postgresURL()
}

func postgresURL() string {
	if u := os.Getenv("HERALD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

func ci() bool { return os.Getenv("CI") == "true" }

// admin is the store the helpers create and drop schemas through, opened
// once per test binary (and never closed: it lives as long as the tests).
// The first time, it drops the schemas that interrupted runs left behind.
var admin = sync.OnceValues(func() (*store.DB, error) {
	u, err := url.Parse(postgresURL())
	if err != nil {
		return nil, fmt.Errorf("HERALD_TEST_POSTGRES_URL: %w", err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	db, err := store.Open(ctx, u.String())
	if err != nil {
		return nil, err
	}
	dropStale(ctx, db)
	return db, nil
})

// freshSchema creates a schema of its own for tb and returns the test
// server's URL with search_path set to it.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	db, _ := admin()
	schema := id.New(schemaPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("creating test schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if _, err := db.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			// Not the test's failure: a later run drops it as stale.
			tb.Logf("dropping test schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	tb.Logf("store: PostgreSQL schema %s", schema)
	return u.String()
}

// dropStale drops the test schemas older than staleAfter: an interrupted
// run (a killed process, a timeout) leaves its schemas behind.
func dropStale(ctx context.Context, db *store.DB) {
	rows, err := db.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE ?", schemaPrefix+"\\_%")
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		u, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(name, schemaPrefix+"_")))
		if err == nil && time.Since(ulid.Time(u.Time())) > staleAfter {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		// Best effort: another run may be dropping it at the same time.
		_, _ = db.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	}
}

// PostgresRestarter returns a function that restarts the PostgreSQL test
// server (scripts/test-infra.sh restart postgres, or the script named by
// HERALD_TEST_INFRA) and waits until it answers again. Restarting a server
// that other tests share is only done when HERALD_TEST_RESTARTS=1, which
// `make test` sets in a phase of its own: otherwise the test is skipped.
func PostgresRestarter(tb testing.TB) func() {
	tb.Helper()
	if os.Getenv("HERALD_TEST_RESTARTS") != "1" {
		tb.Skip("restarts the shared PostgreSQL server: runs only with HERALD_TEST_RESTARTS=1")
	}
	base := PostgresURL(tb)
	script := infraScript(tb)
	return func() {
		tb.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), restartLimit)
		defer cancel()
		began := time.Now()
		out, err := osexec.CommandContext(ctx, "bash", script, "restart", "postgres").CombinedOutput()
		if err != nil {
			tb.Fatalf("restarting PostgreSQL: %v\n%s", err, out)
		}
		// The script waits for the port; the server may still refuse
		// sessions while it recovers.
		for {
			db, err := store.Open(ctx, base)
			if err == nil {
				err = db.Ping(ctx)
				db.Close()
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				tb.Fatalf("PostgreSQL does not answer %v after its restart: %v", restartLimit, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		tb.Logf("PostgreSQL restarted in %v", time.Since(began).Round(time.Millisecond))
	}
}

// restartLimit bounds a restart of the test server, the wait until it
// answers included.
const restartLimit = 2 * time.Minute

// infraScript finds the script that starts the test servers: the
// environment's HERALD_TEST_INFRA, or scripts/test-infra.sh in the module
// the test runs in.
func infraScript(tb testing.TB) string {
	tb.Helper()
	if s := os.Getenv("HERALD_TEST_INFRA"); s != "" {
		return s
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "test-infra.sh")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("HERALD_TEST_INFRA is not set and no go.mod is above the test's directory")
		}
		dir = parent
	}
}
