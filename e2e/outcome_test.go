package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store"
)

// outcome checks, once a crash test has settled, what the network,
// Publisher and Portal hold for the posts the test created: each post on
// the network exactly once under a key of its own, one attempt each that
// succeeded naming that status, and Portal showing the post published.
type outcome struct {
	t     *testing.T
	db    *store.DB
	bad   *problems
	ids   []string       // the posts' ids by index
	index map[string]int // the posts' indexes by id
	onNet map[int]simnet.Status
	// due, when set, is the instant post i was due (for the checks that
	// nothing went out early and that an attempt is for that occurrence).
	due func(i int) time.Time
}

func newOutcome(t *testing.T, db *store.DB, bad *problems, ids []string, due func(i int) time.Time) *outcome {
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	return &outcome{t: t, db: db, bad: bad, ids: ids, index: index, onNet: map[int]simnet.Status{}, due: due}
}

// network checks the network's statuses; textFormat makes a post's text
// from its index (e.g. "burst #%d").
func (o *outcome) network(statuses []simnet.Status, textFormat string) {
	o.t.Helper()
	n := len(o.ids)
	keys := map[string]bool{}
	for _, s := range statuses {
		var i int
		if _, err := fmt.Sscanf(s.Text, textFormat, &i); err != nil || i < 0 || i >= n || fmt.Sprintf(textFormat, i) != s.Text {
			o.bad.add("unexpected status", "%q", s.Text)
			continue
		}
		if prev, dup := o.onNet[i]; dup {
			o.bad.add("doubled on the network", "post %d (%s): statuses %s and %s", i, o.ids[i], prev.ID, s.ID)
			continue
		}
		o.onNet[i] = s
		switch {
		case s.IdempotencyKey == "":
			o.bad.add("no idempotency key", "post %d", i)
		case keys[s.IdempotencyKey]:
			o.bad.add("idempotency key used twice", "post %d: %s", i, s.IdempotencyKey)
		}
		keys[s.IdempotencyKey] = true
		if o.due != nil && s.CreatedAt.Before(o.due(i)) {
			o.bad.add("early on the network", "post %d arrived at %s, due %s", i, s.CreatedAt, o.due(i))
		}
	}
	for i, id := range o.ids {
		if _, ok := o.onNet[i]; !ok {
			o.bad.add("lost (never on the network)", "post %d (%s)", i, id)
		}
	}
}

// attempts checks Publisher's attempts: one per post, settled as
// succeeded, naming the status the network holds under the attempt's key.
// It returns how many were tried more than once.
func (o *outcome) attempts() (retried int) {
	o.t.Helper()
	rows, err := o.db.Query(context.Background(), `SELECT post_id, state, tries, remote_id, idempotency_key, due_at FROM publisher_attempts`)
	if err != nil {
		o.t.Fatal(err)
	}
	attempted := map[int]bool{}
	for rows.Next() {
		var (
			postID, state, remoteID, key string
			tries                        int
			dueUS                        int64
		)
		if err := rows.Scan(&postID, &state, &tries, &remoteID, &key, &dueUS); err != nil {
			o.t.Fatal(err)
		}
		i, ok := o.index[postID]
		switch {
		case !ok:
			o.bad.add("attempt for an unknown post", "%s", postID)
			continue
		case attempted[i]:
			o.bad.add("two attempts for one post", "post %d (%s)", i, postID)
			continue
		}
		attempted[i] = true
		if tries > 1 {
			retried++
		}
		s := o.onNet[i]
		switch {
		case state != "succeeded":
			o.bad.add("attempt not succeeded", "post %d: state %q after %d tries", i, state, tries)
		case remoteID != s.ID || key != s.IdempotencyKey:
			o.bad.add("attempt does not name the status", "post %d: attempt has remote id %q key %q, the network %q key %q", i, remoteID, key, s.ID, s.IdempotencyKey)
		case o.due != nil && !store.FromMicros(dueUS).Equal(o.due(i)):
			o.bad.add("attempt for the wrong occurrence", "post %d: due %s, want %s", i, store.FromMicros(dueUS), o.due(i))
		}
	}
	if err := rows.Close(); err != nil {
		o.t.Fatal(err)
	}
	if len(attempted) != len(o.ids) {
		o.bad.add("attempts missing", "%d posts have an attempt, want %d", len(attempted), len(o.ids))
	}
	return retried
}

// portal checks that Portal shows every post and its target published,
// with the network's status.
func (o *outcome) portal() {
	o.t.Helper()
	rows, err := o.db.Query(context.Background(), `SELECT p.id, p.status, t.status, t.remote_id FROM portal_posts p JOIN portal_post_targets t ON t.post_id = p.id`)
	if err != nil {
		o.t.Fatal(err)
	}
	shown := 0
	for rows.Next() {
		var postID, postStatus, targetStatus, remoteID string
		if err := rows.Scan(&postID, &postStatus, &targetStatus, &remoteID); err != nil {
			o.t.Fatal(err)
		}
		i, ok := o.index[postID]
		if !ok {
			continue
		}
		shown++
		if postStatus != "published" || targetStatus != "published" || remoteID != o.onNet[i].ID {
			o.bad.add("Portal shows another outcome", "post %d: post %q, target %q remote id %q (network %q)", i, postStatus, targetStatus, remoteID, o.onNet[i].ID)
		}
	}
	if err := rows.Close(); err != nil {
		o.t.Fatal(err)
	}
	if shown != len(o.ids) {
		o.bad.add("Portal targets", "%d of %d posts have their target in Portal", shown, len(o.ids))
	}
}
