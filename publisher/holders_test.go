package publisher

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bmem "github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/coord"
	cmem "github.com/heraldhq/herald/coord/mem"
	"gocloud.dev/blob/memblob"

	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/sqlite"
)

// A node that died leaves attempts in flight; another instance takes them
// over as soon as the dead one's registration is gone, not after
// InFlightTimeout — and never takes those of a live instance.
func TestReapReleasesOnlyAttemptsOfGoneInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := bmem.New()
	t.Cleanup(func() { b.Close() })
	space := cmem.New()
	t.Cleanup(func() { space.Close() })

	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	s, err := New(DefaultConfig(), Deps{DB: db, Bus: b, Coord: space, Blob: bucket, Portal: newFakePortal()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Another live instance, in its own session of the same space.
	live := space.NewSession()
	if _, err := live.Register(ctx, coordInstance("pub_alive")); err != nil {
		t.Fatal(err)
	}

	far := store.ToMicros(time.Now().Add(time.Hour))
	insert := func(id, claim string) {
		t.Helper()
		_, err := db.Exec(ctx, `INSERT INTO publisher_attempts (attempt_id, tenant_id, workspace_id, post_id, revision,
			account_id, network, idempotency_key, state, tries, claim, next_try_at, created_at)
			VALUES (?, 't', 'w', ?, 1, 'a', 'mastodon', ?, 'in_flight', 1, ?, ?, 1)`, id, id, id, claim, far)
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("att_dead", "pub_dead/try_1")
	insert("att_alive", "pub_alive/try_2")
	insert("att_mine", s.instance+"/try_3")
	insert("att_old", "try_4") // a claim from before instances were named

	n, err := s.reapDeadHolders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("released %d attempts, want 1 (the dead instance's)", n)
	}
	due := func(id string) bool {
		var next int64
		if err := db.QueryRow(ctx, `SELECT next_try_at FROM publisher_attempts WHERE attempt_id = ?`, id).Scan(&next); err != nil {
			t.Fatal(err)
		}
		return next < far
	}
	if !due("att_dead") {
		t.Error("the dead instance's attempt is still held")
	}
	for _, id := range []string{"att_alive", "att_mine", "att_old"} {
		if due(id) {
			t.Errorf("%s was released though its holder may be alive", id)
		}
	}
	if got := claimHolder(s.newClaim()); got != s.instance {
		t.Errorf("a new claim names holder %q, want %q", got, s.instance)
	}
}

func coordInstance(id string) coord.Instance {
	return coord.Instance{Service: registryService, ID: id}
}
