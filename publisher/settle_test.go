package publisher

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/id"
)

// TestSettlesCommittedTogetherStayIndependent settles many outcomes at once,
// so that they share group commits, one of them from a try that lost its
// claim: every other outcome is committed with its event, the stale one
// changes nothing.
func TestSettlesCommittedTogetherStayIndependent(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tb := setup(t, setupOptions{clock: clock, cfg: func(c *Config) { c.PollInterval = time.Hour }})
	ctx := context.Background()
	const n = 3 * maxSettleBatch
	var all []claimed
	for range n {
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		tb.portal.set(j, true)
		claims, err := tb.svc.accept(ctx, id.New("evt"), dueEvent(j, clock.Now()), j)
		if err != nil || len(claims) != 1 {
			t.Fatalf("accept: %d claims, %v", len(claims), err)
		}
		all = append(all, claims[0])
	}
	// The first attempt's claim expires and another try takes it over.
	stale := all[0]
	clock.Add(testConfig().InFlightTimeout + time.Second)
	taken, ok, err := tb.svc.claim(ctx, tb.row(t, stale.attempt.IdempotencyKey))
	if err != nil || !ok {
		t.Fatalf("take over: %v, %v", ok, err)
	}

	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(func() {
			tb.svc.settle(ctx, c.attempt, outcome{state: Succeeded, remoteID: "remote_" + c.attempt.ID, remoteURL: "https://x.test/" + c.attempt.ID})
		})
	}
	wg.Wait()

	if a := tb.row(t, stale.attempt.IdempotencyKey); a.State != InFlight || a.Claim != taken.Claim {
		t.Errorf("the stale outcome changed the attempt: %s held by %q, want in flight held by %q", a.State, a.Claim, taken.Claim)
	}
	for _, c := range all[1:] {
		if a := tb.row(t, c.attempt.IdempotencyKey); a.State != Succeeded || a.RemoteID != "remote_"+c.attempt.ID {
			t.Fatalf("attempt %s is %s with remote id %q, want succeeded with its own", c.attempt.ID, a.State, a.RemoteID)
		}
	}
	eventually(t, "a post.published per settled attempt", func() bool { return len(tb.events.Published()) == n-1 })
	seen := map[string]bool{}
	for _, ev := range tb.events.Published() {
		if seen[ev.GetPostId()] || ev.GetPostId() == stale.attempt.PostID {
			t.Errorf("post.published for %s: repeated, or from the stale try", ev.GetPostId())
		}
		seen[ev.GetPostId()] = true
	}
	tb.svc.settleMu.Lock()
	defer tb.svc.settleMu.Unlock()
	if len(tb.svc.settleQueue) != 0 || tb.svc.settling {
		t.Errorf("settling left %d queued, leader %v", len(tb.svc.settleQueue), tb.svc.settling)
	}
}
