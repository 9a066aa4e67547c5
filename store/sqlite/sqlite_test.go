package sqlite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/sqlite"
	"github.com/heraldhq/herald/store/storetest"
)

func open(t *testing.T, rawURL string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestConformanceMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *store.DB { return open(t, "sqlite://:memory:") })
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *store.DB {
		return open(t, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "herald.db")))
	})
}

// Herald's SQLite URL forms reach the intended file, creating its directory.
func TestOpenPaths(t *testing.T) {
	// t.Chdir: not parallel.
	root := t.TempDir()
	t.Chdir(root)
	tests := []struct {
		url  string
		file string // relative to root
	}{
		{"sqlite://herald-data/herald.db", "herald-data/herald.db"},
		{"sqlite://deep/er/herald.db", "deep/er/herald.db"},
		{"sqlite://" + filepath.ToSlash(root) + "/abs/herald.db", "abs/herald.db"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			db := open(t, tc.url)
			if _, err := db.Exec(t.Context(), "CREATE TABLE t (id TEXT PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(tc.file))); err != nil {
				t.Errorf("database file not where the URL says: %v", err)
			}
			if got := db.URL(); !strings.HasPrefix(got, "sqlite://") || !strings.HasSuffix(got, "herald.db") {
				t.Errorf("URL() = %q, want the sqlite URL of the file", got)
			}
		})
	}
}

func TestFileIsDurableAndTuned(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "herald.db"))
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if db.Dialect() != store.SQLite {
		t.Errorf("Dialect() = %q, want sqlite", db.Dialect())
	}
	var mode string
	var fk int
	if err := db.QueryRow(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal (readers beside the writer)", mode, err)
	}
	if err := db.QueryRow(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1 (enforced)", fk, err)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE t (id TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO t (id) VALUES (?)", "kept"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	again := open(t, u)
	var id string
	if err := again.QueryRow(ctx, "SELECT id FROM t").Scan(&id); err != nil || id != "kept" {
		t.Errorf("after reopening: %q, %v; want the committed row", id, err)
	}
}

// Each in-memory Open is a database of its own.
func TestMemoryIsPrivate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := open(t, "sqlite://:memory:"), open(t, "sqlite://:memory:")
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "SELECT * FROM only_in_a"); err == nil {
		t.Error("a table of one in-memory database is visible in another")
	}
}

func TestForeignKeysAreEnforced(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := open(t, "sqlite://:memory:")
	for _, q := range []string{
		"CREATE TABLE parent (id TEXT PRIMARY KEY)",
		"CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent (id))",
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, "INSERT INTO child (id, parent_id) VALUES (?, ?)", "c", "missing"); err == nil {
		t.Error("a row referring to a missing parent was inserted")
	}
}
