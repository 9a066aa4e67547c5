package publisher

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
)

// lookingNetwork is the fake network with a provider.Looker: it finds a
// post by the idempotency key it was published under, after the scripted
// lookup failures.
type lookingNetwork struct {
	*fakeNetwork
	mu       sync.Mutex
	failures []error
	lookups  []string
}

func (n *lookingNetwork) Lookup(_ context.Context, acct provider.Account, key string) (provider.Result, bool, error) {
	n.mu.Lock()
	n.lookups = append(n.lookups, key)
	if len(n.failures) > 0 {
		err := n.failures[0]
		n.failures = n.failures[1:]
		n.mu.Unlock()
		return provider.Result{}, false, err
	}
	n.mu.Unlock()
	n.fakeNetwork.mu.Lock()
	defer n.fakeNetwork.mu.Unlock()
	r, ok := n.statuses[key]
	return r, ok, nil
}

func (n *lookingNetwork) Lookups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lookups...)
}

var _ provider.Looker = (*lookingNetwork)(nil)

func setupLooking(t *testing.T, failures ...error) (*bundle, *lookingNetwork) {
	t.Helper()
	net := &lookingNetwork{fakeNetwork: newFakeNetwork("mastodon"), failures: failures}
	tb := setup(t, setupOptions{net: net.fakeNetwork, providers: map[string]provider.Provider{"mastodon": net}})
	return tb, net
}

func TestUnknownOutcomeIsLookedUp(t *testing.T) {
	t.Parallel()

	t.Run("found: succeeded without publishing again", func(t *testing.T) {
		t.Parallel()
		tb, net := setupLooking(t)
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		tb.portal.set(j, true)
		tb.net.script("acct_1", step{err: perr(provider.Unknown, "timeout"), post: true})
		tb.mustDue(t, j, time.Now())

		eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
		tb.drained(t)
		calls := tb.net.Calls()
		if len(calls) != 1 {
			t.Fatalf("publish calls = %d, want 1: a post found by its key is not published again", len(calls))
		}
		if l := net.Lookups(); len(l) != 1 || l[0] != calls[0].Key {
			t.Errorf("lookups = %v, want one with the attempt's key %q", l, calls[0].Key)
		}
		a := tb.row(t, calls[0].Key)
		ev := tb.events.Published()[0]
		if a.State != Succeeded || a.RemoteID == "" || ev.GetRemoteId() != a.RemoteID || ev.GetRemoteUrl() == "" {
			t.Errorf("attempt %s remote %q, event remote %q: want succeeded with the found post", a.State, a.RemoteID, ev.GetRemoteId())
		}
	})

	t.Run("not found: published again with the same key", func(t *testing.T) {
		t.Parallel()
		tb, net := setupLooking(t)
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		tb.portal.set(j, true)
		tb.net.script("acct_1", step{err: perr(provider.Unknown, "timeout")})
		tb.mustDue(t, j, time.Now())

		eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
		tb.drained(t)
		calls := tb.net.Calls()
		if len(calls) != 2 || calls[0].Key != calls[1].Key {
			t.Fatalf("publish calls = %v, want 2 under one key", calls)
		}
		if l := net.Lookups(); len(l) != 1 {
			t.Errorf("lookups = %d, want 1", len(l))
		}
		if n := tb.net.Statuses(); n != 1 {
			t.Errorf("network holds %d posts, want 1", n)
		}
	})

	t.Run("lookup fails: stays unknown, looked up again", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		net := &lookingNetwork{fakeNetwork: newFakeNetwork("mastodon"),
			failures: []error{perr(provider.Retry, "the instance answered 503")}}
		tb := setup(t, setupOptions{clock: clock, net: net.fakeNetwork, providers: map[string]provider.Provider{"mastodon": net},
			// Only this test's passes run the retry loop.
			cfg: func(c *Config) { c.PollInterval = time.Hour }})
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		tb.portal.set(j, true)
		tb.net.script("acct_1", step{err: perr(provider.Unknown, "timeout"), post: true})
		tb.mustDue(t, j, clock.Now())
		key := tb.net.Calls()[0].Key
		if a := tb.row(t, key); a.State != Unknown {
			t.Fatalf("after the lost answer: %s, want unknown", a.State)
		}

		clock.Add(time.Minute)
		tb.retryNow(t)
		a := tb.row(t, key)
		if a.State != Unknown || !a.NextTryAt.After(clock.Now()) || a.Tries != 2 {
			t.Fatalf("after a failed lookup: %s, next try %s (now %s), %d tries; want unknown with a backoff", a.State, a.NextTryAt, clock.Now(), a.Tries)
		}
		if n := len(tb.net.Calls()); n != 1 {
			t.Fatalf("publish calls = %d, want 1: a failed lookup must not publish", n)
		}

		clock.Add(time.Minute)
		tb.retryNow(t)
		if a := tb.row(t, key); a.State != Succeeded || a.RemoteID == "" {
			t.Fatalf("after the second lookup: %s %q, want succeeded", a.State, a.RemoteID)
		}
		if n, l := len(tb.net.Calls()), len(net.Lookups()); n != 1 || l != 2 {
			t.Errorf("publish calls %d, lookups %d; want 1 and 2", n, l)
		}
	})

	t.Run("a first try is not looked up", func(t *testing.T) {
		t.Parallel()
		tb, net := setupLooking(t)
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		tb.portal.set(j, true)
		tb.mustDue(t, j, time.Now())
		eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
		if l := net.Lookups(); len(l) != 0 {
			t.Errorf("lookups = %d, want none", len(l))
		}
	})
}

// blindNetwork is the fake network as a network with no idempotency and no
// way to look a post up (Telegram, Discord, X): it does not implement
// provider.Deduper or provider.Looker.
type blindNetwork struct{ n *fakeNetwork }

func (b blindNetwork) Network() string         { return b.n.Network() }
func (b blindNetwork) Limits() provider.Limits { return b.n.Limits() }
func (b blindNetwork) Validate(text string, media []provider.Media) []provider.Violation {
	return b.n.Validate(text, media)
}
func (b blindNetwork) Publish(ctx context.Context, acct provider.Account, p provider.Post) (provider.Result, error) {
	return b.n.Publish(ctx, acct, p)
}
func (b blindNetwork) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	return b.n.VerifyCredentials(ctx, acct)
}

// TestUnknownOutcomeWithoutIdempotencyGoesToTheUser: on a network that can
// neither deduplicate a repeat nor look the post up, an unknown outcome is
// never tried again (that could post twice): the attempt fails as unknown
// with a reason that asks the user to check.
func TestUnknownOutcomeWithoutIdempotencyGoesToTheUser(t *testing.T) {
	t.Parallel()
	net := newFakeNetwork("mastodon")
	tb := setup(t, setupOptions{net: net, providers: map[string]provider.Provider{"mastodon": blindNetwork{net}}})
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	tb.portal.set(j, true)
	tb.net.script("acct_1", step{err: perr(provider.Unknown, "timeout"), post: true})
	tb.mustDue(t, j, time.Now())

	eventually(t, "post.failed", func() bool { return len(tb.events.Failed()) == 1 })
	tb.drained(t)
	calls := tb.net.Calls()
	if len(calls) != 1 {
		t.Fatalf("publish calls = %d, want 1: an unknown outcome without idempotency is not retried", len(calls))
	}
	a := tb.row(t, calls[0].Key)
	ev := tb.events.Failed()[0]
	if a.State != Failed || ev.GetKind() != kindUnknown || ev.GetReason() != reasonUndecided {
		t.Errorf("attempt %s, post.failed kind %q reason %q: want failed as unknown, for the user to decide", a.State, ev.GetKind(), ev.GetReason())
	}
}
