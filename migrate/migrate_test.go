package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/migrate"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// snapshot is what the API answers for a set of paths, and the media's
// bytes and types.
type snapshot struct {
	json  map[string]any
	media map[string]mediaContent
}

type mediaContent struct {
	contentType string
	body        []byte
}

// withoutFallingDue leaves out of a post list the posts due during the
// move ("soon" and "later" posts): their status changes as they go out,
// which the test checks on its own. Lists show the newest first, so they
// are on the first page.
func withoutFallingDue(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	posts, ok := m["posts"].([]any)
	if !ok {
		return v
	}
	kept := []any{}
	for _, p := range posts {
		text, _ := p.(map[string]any)["text"].(string)
		if !strings.HasPrefix(text, "soon post ") && !strings.HasPrefix(text, "later post ") {
			kept = append(kept, p)
		}
	}
	m["posts"] = kept
	return m
}

func take(tb testing.TB, c *client, paths, media []string) snapshot {
	tb.Helper()
	s := snapshot{json: map[string]any{}, media: map[string]mediaContent{}}
	for _, p := range paths {
		var v any
		c.must(tb, "GET", p, nil, &v)
		s.json[p] = withoutFallingDue(v)
	}
	for _, m := range media {
		status, body, h, err := c.call("GET", "/api/v1/media/"+m+"/content", nil)
		if err != nil || status != 200 {
			tb.Fatalf("media %s: %d %v", m, status, err)
		}
		s.media[m] = mediaContent{h.Get("Content-Type"), body}
	}
	return s
}

// TestMoveToPostgresAndS3 moves an installation that has been used — a few
// thousand posts, images, published posts with their attempts and
// notifications, sessions — from SQLite and local files to PostgreSQL and
// S3, interrupted twice on the way, then serves it from there: the API
// answers as before, the images are the same bytes, and posts that fall due
// during and right after the move are published, once each.
func TestMoveToPostgresAndS3(t *testing.T) {
	t.Parallel()
	toStore := storetest.URLFor(t, store.Postgres)
	toMedia := s3URL(t)
	began := time.Now()
	sh := shape{workspaces: 3, mediaPerWorkspace: 5, future: 5000, published: 12, soon: 4, soonLead: 2 * time.Second, laterLead: 6 * time.Second}
	if raceEnabled {
		sh.future, sh.laterLead = 2000, 12*time.Second
	}
	in := install(t, sh)
	t.Logf("installation made in %v", time.Since(began))

	// What the installation serves before the move, seen by the owner.
	paths := []string{"/api/v1/me", "/api/v1/workspaces", "/api/v1/tokens"}
	for _, sp := range in.spaces {
		for _, p := range []string{"", "/posts?limit=200", "/media", "/accounts", "/members"} {
			paths = append(paths, "/api/v1/workspaces/"+sp.id+p)
		}
	}
	for i := 0; i < len(in.future); i += 97 {
		paths = append(paths, "/api/v1/posts/"+in.future[i])
	}
	for _, p := range in.publish {
		paths = append(paths, "/api/v1/posts/"+p)
	}
	before := take(t, in.client, paths, in.media)
	var notesBefore struct{ Notifications []map[string]any }
	in.client.must(t, "GET", "/api/v1/notifications?limit=200", nil, &notesBefore)
	in.stop(t)

	o := migrate.Options{
		Stores: migrate.Every(in.store(), toStore),
		Media:  migrate.Pair{From: in.files(), To: toMedia},
		Batch:  250,
	}
	ctx := t.Context()

	// Interrupted while copying the posts...
	{
		ctx, cancel := context.WithCancel(ctx)
		o := o
		o.Progress = func(e migrate.Event) {
			if e.Step == migrate.StepCopy && e.Table == "portal_posts" && e.Rows >= 1000 {
				cancel()
			}
		}
		if _, err := migrate.Run(ctx, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("the interrupted run ended with %v, want context.Canceled", err)
		}
		cancel()
	}
	partial := count(t, toStore, "portal_posts")
	if partial < 1000 || partial >= int64(len(in.future)) {
		t.Fatalf("after the interruption the target holds %d posts; want a part of them", partial)
	}
	// ...and again while copying the media, once the tables are done.
	var resumed int64 = -1
	{
		ctx, cancel := context.WithCancel(ctx)
		o := o
		o.Workers = 1
		o.Progress = func(e migrate.Event) {
			if e.Step == migrate.StepCopy && e.Table == "portal_posts" && e.Done {
				resumed = e.Rows
			}
			if e.Step == migrate.StepMedia && e.Objects == 4 {
				cancel()
			}
		}
		if _, err := migrate.Run(ctx, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("the run interrupted in the media ended with %v, want context.Canceled", err)
		}
		cancel()
	}

	t.Logf("interrupted twice at %v", time.Since(began))
	rep, err := migrate.Run(ctx, o)
	if err != nil {
		t.Fatalf("the resumed move: %v\n%s", err, reportText(rep))
	}
	t.Logf("the resumed move:\n%s", reportText(rep))
	posts := table(t, rep, "portal_posts")
	if posts.SourceRows != int64(len(in.future)+len(in.publish)+len(in.soon)+len(in.later)) {
		t.Errorf("portal_posts: %d rows in the source, want %d", posts.SourceRows, len(in.future)+len(in.publish)+len(in.soon)+len(in.later))
	}
	if resumed != posts.SourceRows-partial {
		t.Errorf("the second run copied %d posts; the first had copied %d of %d, so want %d", resumed, partial, posts.SourceRows, posts.SourceRows-partial)
	}
	if rep.Media.Objects != len(in.media) || rep.Media.Copied == 0 || rep.Media.Copied >= rep.Media.Objects {
		t.Errorf("media: %d objects, %d copied by the resumed run; want %d objects, some copied before the interruption", rep.Media.Objects, rep.Media.Copied, len(in.media))
	}
	for _, name := range []string{"publisher_attempts", "notify_notifications", "trigger_schedules", "portal_sessions", "portal_media", "portal_post_media"} {
		if c := table(t, rep, name); c.SourceRows == 0 {
			t.Errorf("%s is empty in the source: the installation does not exercise it", name)
		}
	}

	// A run more finds everything there.
	again, err := migrate.Run(ctx, o)
	if err != nil {
		t.Fatalf("a second complete run: %v", err)
	}
	for _, c := range again.Tables {
		if c.Copied != 0 {
			t.Errorf("a second complete run copied %d rows of %s again", c.Copied, c.Table)
		}
	}
	if again.Media.Copied != 0 {
		t.Errorf("a second complete run copied %d media objects again", again.Media.Copied)
	}

	// Served from PostgreSQL and S3, with the same data directory (its
	// secret key decrypts the account tokens).
	t.Logf("moved at %v", time.Since(began))
	// The soon posts fall due while no node runs...
	time.Sleep(time.Until(in.soonAt.Add(100 * time.Millisecond)))
	moved, base := runNode(t, in.dir, "HERALD_STORE__URL="+toStore, "HERALD_BLOB__URL="+toMedia)
	if time.Now().After(in.laterAt) {
		// Not a failure (the machine is slow), but the later posts were
		// overdue too, like the soon ones.
		t.Logf("the node on the target started %v after the later posts fell due", time.Since(in.laterAt))
	}
	c := in.client.at(base) // the same session: sessions moved too
	after := take(t, c, paths, in.media)
	for _, p := range paths {
		if !reflect.DeepEqual(before.json[p], after.json[p]) {
			t.Errorf("GET %s answers differently after the move:\nbefore %v\nafter  %v", p, before.json[p], after.json[p])
		}
	}
	for _, m := range in.media {
		if b, a := before.media[m], after.media[m]; a.contentType != b.contentType || !bytes.Equal(a.body, b.body) {
			t.Errorf("media %s: %s, %d bytes before; %s, %d bytes after", m, b.contentType, len(b.body), a.contentType, len(a.body))
		}
	}
	var notesAfter struct{ Notifications []map[string]any }
	c.must(t, "GET", "/api/v1/notifications?limit=200", nil, &notesAfter)
	for _, n := range notesBefore.Notifications {
		if !slices.ContainsFunc(notesAfter.Notifications, func(m map[string]any) bool { return reflect.DeepEqual(n, m) }) {
			t.Errorf("notification %v is gone or changed after the move", n)
		}
	}

	t.Logf("compared at %v", time.Since(began))
	// ...and go out, once each, as do those due right after.
	for _, p := range append(in.soon, in.later...) {
		in.waitPublished(t, c, p)
	}
	for i := range in.soon {
		for _, text := range []string{fmt.Sprintf("soon post %d", i), fmt.Sprintf("later post %d", i)} {
			if n := statuses(in, text); n != 1 {
				t.Errorf("%q reached the network %d times, want once", text, n)
			}
		}
	}
	for i := range in.publish {
		text := fmt.Sprintf("published post %d", i)
		if n := statuses(in, text); n != 1 {
			t.Errorf("%q, published before the move, reached the network %d times, want once", text, n)
		}
	}
	// And the moved installation takes new work.
	sp := in.spaces[1]
	var p struct{ ID string }
	c.must(t, "POST", "/api/v1/workspaces/"+sp.id+"/posts", map[string]any{
		"text": "first post after the move", "account_ids": []string{sp.account}, "media_ids": sp.media[:1], "publish_now": true,
	}, &p)
	in.waitPublished(t, c, p.ID)

	// And back: PostgreSQL and S3 are sources as well as targets.
	stopNode(t, moved)
	backStore, backMedia := target(t)
	back, err := migrate.Run(ctx, migrate.Options{Stores: migrate.Every(toStore, backStore), Media: migrate.Pair{From: toMedia, To: backMedia}})
	if err != nil {
		t.Fatalf("moving back to SQLite and files: %v\n%s", err, reportText(back))
	}
	if got := table(t, back, "portal_posts").TargetRows; got != posts.SourceRows+1 {
		t.Errorf("moved back %d posts, want %d", got, posts.SourceRows+1)
	}
}

// statuses counts the statuses of the simulated network with text.
func statuses(in *installation, text string) int {
	n := 0
	for _, s := range in.sim.Statuses() {
		if s.Text == text {
			n++
		}
	}
	return n
}

func table(tb testing.TB, rep *migrate.Report, name string) migrate.TableCheck {
	tb.Helper()
	for _, c := range rep.Tables {
		if c.Table == name {
			return c
		}
	}
	tb.Fatalf("the report has no table %s", name)
	return migrate.TableCheck{}
}

// count counts the rows of a table in a store.
func count(tb testing.TB, rawURL, table string) int64 {
	tb.Helper()
	db, err := store.Open(tb.Context(), rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(tb.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func reportText(rep *migrate.Report) string {
	if rep == nil {
		return "(no report)"
	}
	var b strings.Builder
	_, _ = rep.WriteTo(&b)
	return b.String()
}
