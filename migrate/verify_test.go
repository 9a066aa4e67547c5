package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/blob"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/migrate"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/store"
	_ "modernc.org/sqlite" // opened directly, as another process would
)

// small is an installation that exercises every kind of row in little time.
var small = shape{workspaces: 2, mediaPerWorkspace: 2, future: 40, published: 2}

// target is a SQLite store and a media directory of the test's own.
func target(tb testing.TB) (storeURL, mediaURL string) {
	dir := tb.TempDir()
	return "sqlite://" + dir + "/herald.db", "file://" + dir + "/media"
}

func sqlExec(tb testing.TB, rawURL, q string, args ...any) {
	tb.Helper()
	db, err := store.Open(tb.Context(), rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(tb.Context(), q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// TestVerifyFindsEveryDifference changes a moved installation in one way
// at a time and checks that verification names the change, and that running
// the move again restores what was lost but never overwrites a row.
func TestVerifyFindsEveryDifference(t *testing.T) {
	t.Parallel()
	in := install(t, small)
	in.stop(t)
	post := in.future[3]
	schedules := count(t, in.store(), "trigger_schedules")
	inbox := count(t, in.store(), "notify_inbox")

	tests := []struct {
		name string
		// change alters the target (its store and media URLs).
		change func(t *testing.T, storeURL, mediaURL string)
		// want is in the mismatch reported.
		want string
		// restored: running the move again makes the target whole.
		restored bool
	}{
		{
			name: "a changed row",
			change: func(t *testing.T, s, _ string) {
				sqlExec(t, s, "UPDATE portal_posts SET text = 'tampered' WHERE id = ?", post)
			},
			want: "portal_posts: the same",
		},
		{
			name: "a changed boolean",
			change: func(t *testing.T, s, _ string) {
				sqlExec(t, s, "UPDATE portal_posts SET schedule_synced = ? WHERE id = ?", false, post)
			},
			want: "portal_posts: the same",
		},
		{
			name: "a missing row",
			change: func(t *testing.T, s, _ string) {
				sqlExec(t, s, "DELETE FROM trigger_schedules WHERE post_id = ?", post)
			},
			want:     fmt.Sprintf("trigger_schedules: %d rows in the source, %d in the target", schedules, schedules-1),
			restored: true,
		},
		{
			name: "a row the source lacks",
			change: func(t *testing.T, s, _ string) {
				sqlExec(t, s, "INSERT INTO notify_inbox (event_id, seen_at) VALUES ('evt_extra', 1)")
			},
			want: fmt.Sprintf("notify_inbox: %d rows in the source, %d in the target", inbox, inbox+1),
		},
		{
			name: "a missing object",
			change: func(t *testing.T, _, m string) {
				b, err := blob.Open(t.Context(), m)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if err := b.Delete(t.Context(), mediaKey(t, in, m)); err != nil {
					t.Fatal(err)
				}
			},
			want:     "missing from the target",
			restored: true,
		},
		{
			name: "an object with other bytes of the same size",
			change: func(t *testing.T, _, m string) {
				b, err := blob.Open(t.Context(), m)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				key := mediaKey(t, in, m)
				data, err := b.ReadAll(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)-1] ^= 0xff
				if err := b.WriteAll(t.Context(), key, data, nil); err != nil {
					t.Fatal(err)
				}
			},
			want: "MD5",
			// Another MD5 is a difference the next run copies over.
			restored: true,
		},
	}
	// One after another: each move locks the source.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, m := target(t)
			o := migrate.Options{Stores: migrate.Every(in.store(), s), Media: migrate.Pair{From: in.files(), To: m}}
			if _, err := migrate.Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			tc.change(t, s, m)
			rep, err := migrate.Verify(t.Context(), o)
			if !errors.Is(err, migrate.ErrMismatch) {
				t.Fatalf("Verify after %s: %v, want ErrMismatch", tc.name, err)
			}
			if rep.OK() || !strings.Contains(strings.Join(rep.Mismatches(), "\n"), tc.want) {
				t.Fatalf("the mismatches do not say %q:\n%s", tc.want, reportText(rep))
			}
			if !strings.Contains(reportText(rep), "MISMATCH") {
				t.Errorf("the report does not say MISMATCH:\n%s", reportText(rep))
			}
			rep, err = migrate.Run(t.Context(), o)
			if tc.restored != (err == nil) {
				t.Errorf("running the move again: %v (restored: %v, want %v)\n%s", err, err == nil, tc.restored, reportText(rep))
			}
		})
	}
}

// mediaKey returns the key of one of the installation's media objects.
func mediaKey(t *testing.T, in *installation, mediaURL string) string {
	t.Helper()
	b, err := blob.Open(t.Context(), mediaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	obj, err := b.List(nil).Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return obj.Key
}

// TestMoveBetweenSQLiteFiles moves an installation to another SQLite file
// and media directory, and serves it from there.
func TestMoveBetweenSQLiteFiles(t *testing.T) {
	t.Parallel()
	in := install(t, small)
	paths := []string{"/api/v1/workspaces/" + in.spaces[0].id + "/posts?limit=100", "/api/v1/posts/" + in.publish[0], "/api/v1/notifications"}
	before := take(t, in.client, paths, in.media)
	in.stop(t)
	s, m := target(t)
	rep, err := migrate.Run(t.Context(), migrate.Options{Stores: migrate.Every(in.store(), s), Media: migrate.Pair{From: in.files(), To: m}, Batch: 7})
	if err != nil {
		t.Fatalf("%v\n%s", err, reportText(rep))
	}
	_, base := runNode(t, in.dir, "HERALD_STORE__URL="+s, "HERALD_BLOB__URL="+m)
	after := take(t, in.client.at(base), paths, in.media)
	for _, p := range paths {
		if jsonDiffers(before.json[p], after.json[p]) {
			t.Errorf("GET %s differs after the move:\nbefore %v\nafter  %v", p, before.json[p], after.json[p])
		}
	}
	for _, id := range in.media {
		if string(before.media[id].body) != string(after.media[id].body) {
			t.Errorf("media %s differs after the move", id)
		}
	}
}

// TestRefusesARunningNode: a SQLite store a node has open is not moved,
// nothing is written anywhere, and once the node stops the move goes on.
func TestRefusesARunningNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, _ := runNode(t, dir)
	if _, _, err := n.Portal.CreateAgency(t.Context(), portalAgency()); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	o := migrate.Options{
		Stores: migrate.Every("sqlite://"+dir+"/herald.db", "sqlite://"+dst+"/herald.db"),
		Media:  migrate.Pair{From: "file://" + dir + "/media", To: "file://" + dst + "/media"},
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	_, err := migrate.Run(ctx, o)
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "stop the Herald node") {
		t.Fatalf("moving a store a node has open: %v, want a conflict saying to stop the node", err)
	}
	if entries, _ := os.ReadDir(dst); len(entries) > 0 {
		t.Errorf("a refused move wrote %s into the target", entries[0].Name())
	}
	stopNode(t, n)
	if rep, err := migrate.Run(ctx, o); err != nil {
		t.Fatalf("once the node stopped: %v\n%s", err, reportText(rep))
	}
}

// TestHoldsTheSourceWhileMoving: a node started on the source during a
// move cannot open it.
func TestHoldsTheSourceWhileMoving(t *testing.T) {
	t.Parallel()
	in := install(t, shape{workspaces: 1, future: 20})
	in.stop(t)
	s, _ := target(t)
	var opened error = errors.New("the source was never tried")
	o := migrate.Options{Stores: migrate.Every(in.store(), s), Progress: func(e migrate.Event) {
		if e.Step == migrate.StepCopy && e.Done && e.Table == "portal_posts" {
			// As a node would, without its wait for the lock.
			db, err := sql.Open("sqlite", "file:"+filepath.Join(in.dir, "herald.db")+"?_pragma=busy_timeout(0)")
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			var n int
			opened = db.QueryRow("SELECT COUNT(*) FROM portal_posts").Scan(&n)
		}
	}}
	if _, err := migrate.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if opened == nil {
		t.Error("another process read the source while the move held it")
	}
}

// TestRefusesBadOptions: bad options name the field and touch nothing.
func TestRefusesBadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := "sqlite://"+filepath.Join(dir, "a.db"), "sqlite://"+filepath.Join(dir, "b.db")
	tests := []struct {
		name  string
		o     migrate.Options
		field string
	}{
		{"nothing to move", migrate.Options{}, "stores"},
		{"a source file that does not exist", migrate.Options{Stores: migrate.Every(src, dst)}, "stores.portal.from"},
		{"a source directory that does not exist", migrate.Options{Media: migrate.Pair{From: "file://" + dir + "/m", To: "mem://"}}, "media.from"},
		{"unknown service", migrate.Options{Stores: map[string]migrate.Pair{"billing": {src, dst}}}, "stores.billing"},
		{"no target", migrate.Options{Stores: migrate.Every(src, "")}, "stores.portal.to"},
		{"no source", migrate.Options{Stores: migrate.Every("", dst)}, "stores.trigger.from"},
		{"a target that is the source", migrate.Options{Stores: migrate.Every(src, src)}, "stores.publisher.to"},
		{"an unknown store", migrate.Options{Stores: migrate.Every(src, "mysql://db/herald")}, "stores.notification.to"},
		{"a target that is another's source", migrate.Options{Stores: map[string]migrate.Pair{"portal": {src, dst}, "trigger": {dst, src}}}, "stores.portal.to"},
		{"media without a target", migrate.Options{Media: migrate.Pair{From: "file://" + dir + "/m"}}, "media.to"},
		{"an unknown bucket", migrate.Options{Media: migrate.Pair{From: "file://" + dir + "/m", To: "ftp://x"}}, "media.to"},
		{"media onto itself", migrate.Options{Media: migrate.Pair{From: "mem://", To: "mem://"}}, "media.to"},
		{"a negative batch", migrate.Options{Stores: migrate.Every(src, dst), Batch: -1}, "batch"},
		{"negative workers", migrate.Options{Stores: migrate.Every(src, dst), Workers: -1}, "workers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, fn := range []func(context.Context, migrate.Options) (*migrate.Report, error){migrate.Run, migrate.Verify} {
				_, err := fn(t.Context(), tc.o)
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.Invalid || e.Fields[tc.field] == "" {
					t.Fatalf("got %v, want an invalid field %s", err, tc.field)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("refused options left %s behind", entries[0].Name())
	}
}

// TestRefusesAnotherSchemaVersion: a source migrated by another version of
// Herald is not moved.
func TestRefusesAnotherSchemaVersion(t *testing.T) {
	t.Parallel()
	in := install(t, shape{workspaces: 1})
	in.stop(t)
	sqlExec(t, in.store(), "INSERT INTO trigger_schema_version (version_id, is_applied, tstamp) VALUES (?, ?, ?)", 999, true, time.Now())
	s, _ := target(t)
	_, err := migrate.Run(t.Context(), migrate.Options{Stores: migrate.Every(in.store(), s)})
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "version 999") {
		t.Fatalf("moving a newer schema: %v, want a conflict naming version 999", err)
	}
}

func portalAgency() portal.AgencyInput {
	return portal.AgencyInput{AgencyName: "Running Agency", Name: "Owner", Email: ownerEmail, Password: ownerPassword}
}

func jsonDiffers(a, b any) bool { return !reflect.DeepEqual(a, b) }

// TestMoveToAStorePerService moves one database into one per service, as
// a split installation (store.<service>) has them.
func TestMoveToAStorePerService(t *testing.T) {
	t.Parallel()
	in := install(t, small)
	in.stop(t)
	stores := map[string]migrate.Pair{}
	env := []string{}
	for s := range migrate.Prefixes {
		to, _ := target(t)
		stores[s] = migrate.Pair{From: in.store(), To: to}
		env = append(env, "HERALD_STORE__"+strings.ToUpper(s)+"="+to)
	}
	if rep, err := migrate.Run(t.Context(), migrate.Options{Stores: stores}); err != nil {
		t.Fatalf("%v\n%s", err, reportText(rep))
	}
	for s, p := range stores {
		db, err := store.Open(t.Context(), p.To)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(t.Context(), "SELECT name FROM sqlite_master WHERE type = 'table'")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			_ = rows.Scan(&name)
			if !strings.HasPrefix(name, migrate.Prefixes[s]) && !strings.HasPrefix(name, "sqlite_") {
				t.Errorf("%s's store holds %s", s, name)
			}
		}
		rows.Close()
		db.Close()
	}
	// Served from the four stores, with the same media directory.
	_, base := runNode(t, in.dir, env...)
	var p struct{ Status string }
	in.client.at(base).must(t, "GET", "/api/v1/posts/"+in.publish[0], nil, &p)
	if p.Status != "published" {
		t.Errorf("a published post is %q after the move", p.Status)
	}
}
