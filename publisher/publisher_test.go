package publisher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store/storetest"
)

func TestPublishesOncePerTarget(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := job("agency_a", id.New("post"), 3, "hello world", "acct_1", "acct_2")
	tb.portal.set(j, true)
	dueAt := time.Now().UTC().Truncate(time.Second)

	tb.mustDue(t, j, dueAt)
	eventually(t, "two post.published", func() bool { return len(tb.events.Published()) >= 2 })
	tb.drained(t)

	pub := tb.events.Published()
	if len(pub) != 2 {
		t.Fatalf("post.published events = %d, want 2", len(pub))
	}
	byAccount := map[string]int{}
	for _, ev := range pub {
		byAccount[ev.GetAccountId()]++
		if ev.GetPostId() != j.GetPostId() || ev.GetRevision() != 3 || ev.GetTenantId() != "agency_a" ||
			ev.GetWorkspaceId() != "ws_agency_a" || ev.GetNetwork() != "mastodon" {
			t.Errorf("event names the wrong post: %v", ev)
		}
		if ev.GetRemoteId() == "" || ev.GetRemoteUrl() == "" {
			t.Errorf("event without remote id/url: %v", ev)
		}
		if !ev.GetDueAt().AsTime().Equal(dueAt) {
			t.Errorf("due_at = %v, want %v", ev.GetDueAt().AsTime(), dueAt)
		}
	}
	if byAccount["acct_1"] != 1 || byAccount["acct_2"] != 1 {
		t.Errorf("events per account = %v, want one each", byAccount)
	}

	calls := tb.net.Calls()
	if len(calls) != 2 {
		t.Fatalf("network calls = %d, want 2", len(calls))
	}
	for _, c := range calls {
		want := IdempotencyKey(j.GetPostId(), c.Account, 3, dueAt)
		if c.Key != want {
			t.Errorf("call for %s used key %q, want %q", c.Account, c.Key, want)
		}
		if c.Text != "hello world" {
			t.Errorf("call text = %q", c.Text)
		}
	}

	atts := tb.attempts(t, "agency_a", j.GetPostId())
	if len(atts) != 2 {
		t.Fatalf("attempts = %d, want 2", len(atts))
	}
	for _, a := range atts {
		if a.GetState() != publisherv1.AttemptState_ATTEMPT_STATE_SUCCEEDED || a.GetTries() != 1 ||
			a.GetRemoteUrl() == "" || a.GetStartedAt() == nil || a.GetFinishedAt() == nil {
			t.Errorf("attempt = %v, want succeeded after one try", a)
		}
	}
	if len(tb.events.Failed()) != 0 {
		t.Errorf("unexpected post.failed: %v", tb.events.Failed())
	}
}

func TestRedeliveryDoesNotPublishTwice(t *testing.T) {
	t.Parallel()
	dueAt := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		// again delivers the post a second time after the first delivery.
		again     func(t *testing.T, tb *bundle, j *portalv1.PublishJob, firstEvent string)
		wantCalls int
	}{
		{
			name: "same event redelivered",
			again: func(t *testing.T, tb *bundle, j *portalv1.PublishJob, first string) {
				if err := tb.due(context.Background(), first, j, dueAt); err != nil {
					t.Fatal(err)
				}
			},
			wantCalls: 1,
		},
		{
			name: "same occurrence under a new event id",
			again: func(t *testing.T, tb *bundle, j *portalv1.PublishJob, _ string) {
				tb.mustDue(t, j, dueAt)
			},
			wantCalls: 1,
		},
		{
			name: "a later occurrence of the same revision is a new publication",
			again: func(t *testing.T, tb *bundle, j *portalv1.PublishJob, _ string) {
				tb.mustDue(t, j, dueAt.Add(7*24*time.Hour))
			},
			wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, setupOptions{})
			j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
			tb.portal.set(j, true)
			first := tb.mustDue(t, j, dueAt)
			eventually(t, "first post.published", func() bool { return len(tb.events.Published()) == 1 })

			tt.again(t, tb, j, first)
			if tt.wantCalls > 1 {
				eventually(t, "second post.published", func() bool { return len(tb.events.Published()) == tt.wantCalls })
			}
			tb.drained(t)
			if got := len(tb.net.Calls()); got != tt.wantCalls {
				t.Errorf("network calls = %d, want %d", got, tt.wantCalls)
			}
			if got := len(tb.events.Published()); got != tt.wantCalls {
				t.Errorf("post.published events = %d, want %d", got, tt.wantCalls)
			}
			if got := len(tb.attempts(t, "agency_a", j.GetPostId())); got != tt.wantCalls {
				t.Errorf("attempts = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestUnknownOutcomeIsSettledWithTheSameKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// posted: the network did publish before the answer was lost.
		posted bool
	}{
		{name: "published but the answer was lost", posted: true},
		{name: "never reached the network", posted: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, setupOptions{})
			j := job("agency_a", id.New("post"), 2, "hi", "acct_1")
			tb.portal.set(j, true)
			tb.net.script("acct_1", step{err: perr(provider.Unknown, "timeout"), post: tt.posted})
			dueAt := time.Now()
			tb.mustDue(t, j, dueAt)

			eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
			tb.drained(t)

			calls := tb.net.Calls()
			if len(calls) != 2 {
				t.Fatalf("network calls = %d, want 2 (the lost one and its settlement)", len(calls))
			}
			if calls[0].Key != calls[1].Key {
				t.Errorf("retried with key %q, first try used %q: an unknown outcome must keep its key", calls[1].Key, calls[0].Key)
			}
			if n := tb.net.Statuses(); n != 1 {
				t.Errorf("network holds %d posts, want 1", n)
			}
			if len(tb.events.Published()) != 1 {
				t.Errorf("post.published events = %d, want 1", len(tb.events.Published()))
			}
			a := tb.row(t, calls[0].Key)
			if a.State != Succeeded || a.Tries != 2 {
				t.Errorf("attempt state %s after %d tries, want succeeded after 2", a.State, a.Tries)
			}
		})
	}
}

// TestEachFiringPublishesOnce follows a recurring post as Portal serves
// it: each firing is asked for by its due instant, a firing whose outcome
// Portal recorded offers nothing when its post.due comes again, and the
// next firing of the same revision publishes once more.
func TestEachFiringPublishesOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := job("agency_a", id.New("post"), 1, "daily special", "acct_1", "acct_2")
	tb.portal.set(j, true)
	first := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	second := first.Add(24 * time.Hour)

	// settleAll records in the fake Portal what the post.published events
	// so far report, as Portal's consumer would.
	settleAll := func() {
		for _, ev := range tb.events.Published() {
			tb.portal.settle(j, ev.GetDueAt().AsTime(), ev.GetAccountId())
		}
	}

	tb.mustDue(t, j, first)
	eventually(t, "the first firing's post.published", func() bool { return len(tb.events.Published()) == 2 })
	tb.drained(t)
	settleAll()

	// The first firing's post.due again, under another event id (Trigger
	// re-fired it): Portal has nothing left for that firing.
	asked := len(tb.portal.Requests())
	tb.mustDue(t, j, first)
	tb.drained(t)
	reqs := tb.portal.Requests()
	if len(reqs) != asked+1 || !reqs[len(reqs)-1].GetDueAt().AsTime().Equal(first) {
		t.Fatalf("the redelivered firing asked Portal %v", reqs[asked:])
	}
	if got := len(tb.net.Calls()); got != 2 {
		t.Fatalf("network calls after the redelivery = %d, want 2", got)
	}
	if got := len(tb.attempts(t, "agency_a", j.GetPostId())); got != 2 {
		t.Fatalf("attempts after the redelivery = %d, want 2", got)
	}

	tb.mustDue(t, j, second)
	eventually(t, "the second firing's post.published", func() bool { return len(tb.events.Published()) == 4 })
	tb.drained(t)

	perFiring := map[string]int{}
	for _, ev := range tb.events.Published() {
		perFiring[ev.GetAccountId()+" "+ev.GetDueAt().AsTime().Format(time.RFC3339)]++
	}
	for _, acct := range []string{"acct_1", "acct_2"} {
		for _, at := range []time.Time{first, second} {
			if k := acct + " " + at.Format(time.RFC3339); perFiring[k] != 1 {
				t.Errorf("%s published %d times, want once (all: %v)", k, perFiring[k], perFiring)
			}
		}
	}
	keys := map[string]bool{}
	for _, c := range tb.net.Calls() {
		keys[c.Key] = true
	}
	if len(tb.net.Calls()) != 4 || len(keys) != 4 {
		t.Errorf("network calls = %d with %d keys, want 4 and 4", len(tb.net.Calls()), len(keys))
	}
	for _, r := range tb.portal.Requests() {
		if r.GetDueAt() == nil {
			t.Errorf("a GetPublishJob request without due_at: %v", r)
		}
	}
}

func TestFinalFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		steps         []step
		wantKind      string
		wantReason    string
		wantCalls     int
		wantReconnect bool
	}{
		{
			name:       "bad content fails at once",
			steps:      []step{{err: perr(provider.BadContent, "Validation failed: Text character limit of 500 exceeded")}},
			wantKind:   "bad_content",
			wantReason: "Validation failed: Text character limit of 500 exceeded",
			wantCalls:  1,
		},
		{
			name:          "disconnected account asks for a reconnect",
			steps:         []step{{err: perr(provider.Disconnected, "The access token is invalid")}},
			wantKind:      "disconnected",
			wantReason:    "The access token is invalid",
			wantCalls:     1,
			wantReconnect: true,
		},
		{
			name:       "temporary failures until tries run out",
			steps:      []step{{err: perr(provider.Retry, "")}, {err: perr(provider.Retry, "")}, {err: perr(provider.Retry, "")}, {err: perr(provider.Retry, "")}},
			wantKind:   "unavailable",
			wantReason: reasonRetry,
			wantCalls:  4,
		},
		{
			name:       "unknown outcomes until tries run out",
			steps:      []step{{err: perr(provider.Unknown, "")}, {err: perr(provider.Unknown, "")}, {err: errors.New("connection reset")}, {err: perr(provider.Unknown, "")}},
			wantKind:   "unknown",
			wantReason: reasonUnknown,
			wantCalls:  4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, setupOptions{})
			j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
			tb.portal.set(j, true)
			tb.net.script("acct_1", tt.steps...)
			dueAt := time.Now().UTC().Truncate(time.Microsecond)
			tb.mustDue(t, j, dueAt)

			eventually(t, "post.failed", func() bool { return len(tb.events.Failed()) == 1 })
			tb.drained(t)
			// Nothing is left for the retry loop.
			if n := tb.retryNow(t); n != 0 {
				t.Errorf("retry pass started %d tries after a final failure", n)
			}

			ev := tb.events.Failed()[0]
			if ev.GetKind() != tt.wantKind || ev.GetReason() != tt.wantReason || ev.GetAccountId() != "acct_1" ||
				ev.GetPostId() != j.GetPostId() || ev.GetWorkspaceId() != "ws_agency_a" {
				t.Errorf("post.failed = %v, want kind %q reason %q", ev, tt.wantKind, tt.wantReason)
			}
			// The failure names its firing, so that Portal records it
			// against that one and not the post's latest.
			if !ev.GetDueAt().AsTime().Equal(dueAt) {
				t.Errorf("post.failed due_at = %v, want %v", ev.GetDueAt(), dueAt)
			}
			// Every question to Portal, the retries' too, names the firing.
			for i, r := range tb.portal.Requests() {
				if !r.GetDueAt().AsTime().Equal(dueAt) {
					t.Errorf("GetPublishJob request %d due_at = %v, want %v", i, r.GetDueAt(), dueAt)
				}
			}
			if got := len(tb.net.Calls()); got != tt.wantCalls {
				t.Errorf("network calls = %d, want %d", got, tt.wantCalls)
			}
			if len(tb.events.Published()) != 0 {
				t.Errorf("unexpected post.published")
			}
			rc := tb.events.Reconnect()
			if tt.wantReconnect {
				if len(rc) != 1 || rc[0].GetAccountId() != "acct_1" || rc[0].GetNetwork() != "mastodon" || rc[0].GetTenantId() != "agency_a" {
					t.Errorf("account.needs_reconnect = %v, want one for acct_1", rc)
				}
			} else if len(rc) != 0 {
				t.Errorf("unexpected account.needs_reconnect: %v", rc)
			}
			atts := tb.attempts(t, "agency_a", j.GetPostId())
			if len(atts) != 1 || atts[0].GetState() != publisherv1.AttemptState_ATTEMPT_STATE_FAILED || atts[0].GetError() != tt.wantReason {
				t.Errorf("attempts = %v, want one failed with the reason", atts)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "server errors", steps: []step{{err: perr(provider.Retry, "HTTP 503")}, {err: perr(provider.Retry, "HTTP 502")}}},
		{name: "rate limited", steps: []step{{err: &provider.Error{Kind: provider.RateLimited, RetryAfter: time.Now().Add(30 * time.Millisecond)}}}},
		{name: "untyped failure", steps: []step{{err: fmt.Errorf("dial: %w", context.DeadlineExceeded)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, setupOptions{})
			j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
			tb.portal.set(j, true)
			tb.net.script("acct_1", tt.steps...)
			tb.mustDue(t, j, time.Now())

			eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
			tb.drained(t)
			calls := tb.net.Calls()
			if len(calls) != len(tt.steps)+1 {
				t.Fatalf("network calls = %d, want %d", len(calls), len(tt.steps)+1)
			}
			for _, c := range calls[1:] {
				if c.Key != calls[0].Key {
					t.Errorf("retry used key %q, first try %q", c.Key, calls[0].Key)
				}
			}
			if len(tb.events.Failed()) != 0 || len(tb.events.Published()) != 1 {
				t.Errorf("events: %d published, %d failed; want 1 and 0", len(tb.events.Published()), len(tb.events.Failed()))
			}
			if a := tb.row(t, calls[0].Key); a.State != Succeeded || a.Tries != len(calls) || a.Error != "" {
				t.Errorf("attempt %s after %d tries (error %q), want succeeded after %d", a.State, a.Tries, a.Error, len(calls))
			}
		})
	}
}

func TestRateLimitIsHonoured(t *testing.T) {
	t.Parallel()

	t.Run("spent budget waits for the reset without calling", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		tb := setup(t, setupOptions{clock: clock, cfg: func(c *Config) { c.PollInterval = time.Hour }})
		reset := clock.Now().Add(5 * time.Minute)
		// Two requests left: the first post uses one and the network says
		// one is left; the second reserves it; the third must wait.
		tb.net.budget("acct_1", 2, time.Now().Add(time.Hour))
		var jobs []*portalv1.PublishJob
		for range 3 {
			j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
			tb.portal.set(j, true)
			jobs = append(jobs, j)
		}
		// The reset the network reports is in the fake clock's terms.
		tb.net.mu.Lock()
		tb.net.budgets["acct_1"].Reset = reset
		tb.net.mu.Unlock()

		dueAt := clock.Now()
		for _, j := range jobs {
			tb.mustDue(t, j, dueAt)
		}
		if got := len(tb.net.Calls()); got != 2 {
			t.Fatalf("network calls = %d, want 2 before the budget reset", got)
		}
		third := tb.row(t, IdempotencyKey(jobs[2].GetPostId(), "acct_1", 1, dueAt))
		if third.State != RetryWait || third.Tries != 0 || third.NextTryAt.Before(reset) {
			t.Fatalf("third attempt: %s, %d tries, next try %v; want waiting for the reset at %v",
				third.State, third.Tries, third.NextTryAt, reset)
		}
		if n := tb.retryNow(t); n != 0 {
			t.Errorf("retry pass before the reset started %d tries", n)
		}

		clock.Add(5*time.Minute + time.Minute)
		tb.net.budget("acct_1", 300, clock.Now().Add(5*time.Minute))
		if n := tb.retryNow(t); n != 1 {
			t.Errorf("retry pass after the reset started %d tries, want 1", n)
		}
		if got := len(tb.net.Calls()); got != 3 {
			t.Errorf("network calls = %d, want 3 after the reset", got)
		}
		eventually(t, "three post.published", func() bool { return len(tb.events.Published()) == 3 })
	})

	t.Run("a refusal holds back every post of the account", func(t *testing.T) {
		t.Parallel()
		tb := setup(t, setupOptions{})
		// Microseconds, the store's precision, so the comparison below is exact.
		retryAfter := time.Now().Add(300 * time.Millisecond).Truncate(time.Microsecond)
		tb.net.script("acct_1", step{err: &provider.Error{Kind: provider.RateLimited, Message: "Too many requests", Status: 429, RetryAfter: retryAfter}})
		first := job("agency_a", id.New("post"), 1, "one", "acct_1")
		second := job("agency_a", id.New("post"), 1, "two", "acct_1")
		other := job("agency_a", id.New("post"), 1, "three", "acct_2")
		for _, j := range []*portalv1.PublishJob{first, second, other} {
			tb.portal.set(j, true)
		}
		tb.mustDue(t, first, time.Now())
		tb.mustDue(t, second, time.Now())
		tb.mustDue(t, other, time.Now())

		eventually(t, "three post.published", func() bool { return len(tb.events.Published()) == 3 })
		refused := false
		for _, c := range tb.net.Calls() {
			if c.Account != "acct_1" {
				continue
			}
			if !refused {
				refused = true // the call that was refused
				continue
			}
			if c.At.Before(retryAfter) {
				t.Errorf("acct_1 called at %v, before the network's retry-after %v", c.At, retryAfter)
			}
		}
		if got := len(tb.net.Calls()); got != 4 {
			t.Errorf("network calls = %d, want 4 (one refused, three published)", got)
		}
	})
}

func TestNothingToPublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(tb *bundle, j *portalv1.PublishJob)
	}{
		{name: "edited or unscheduled", setup: func(tb *bundle, j *portalv1.PublishJob) { tb.portal.set(j, false) }},
		{name: "deleted", setup: func(*bundle, *portalv1.PublishJob) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, setupOptions{})
			j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
			tt.setup(tb, j)
			tb.mustDue(t, j, time.Now())
			if tb.portal.Calls() != 1 {
				t.Errorf("portal asked %d times, want 1", tb.portal.Calls())
			}
			if n := len(tb.net.Calls()); n != 0 {
				t.Errorf("network calls = %d, want 0", n)
			}
			if n := len(tb.attempts(t, "agency_a", j.GetPostId())); n != 0 {
				t.Errorf("attempts = %d, want 0", n)
			}
			tb.drained(t)
			if len(tb.events.Published())+len(tb.events.Failed()) != 0 {
				t.Errorf("events emitted for a post with nothing to publish")
			}
		})
	}
}

func TestPortalUnavailableRedelivers(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	tb.portal.set(j, true)
	tb.portal.fail(errs.E(errs.Unavailable, "portal is down"))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	eid := id.New("evt")
	if err := tb.due(ctx, eid, j, time.Now()); err == nil {
		t.Fatal("post.due acknowledged while portal was down")
	}
	if n := len(tb.attempts(t, "agency_a", j.GetPostId())); n != 0 {
		t.Fatalf("attempts = %d while portal was down, want 0", n)
	}

	tb.portal.fail(nil)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := tb.due(ctx2, eid, j, time.Now()); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	if n := len(tb.net.Calls()); n != 1 {
		t.Errorf("network calls = %d, want 1", n)
	}
}

func TestUnsupportedNetworkFails(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	j.Targets = append(j.Targets, &portalv1.Target{AccountId: "acct_9", Network: "friendster"})
	tb.portal.set(j, true)
	tb.mustDue(t, j, time.Now())
	eventually(t, "one published and one failed", func() bool {
		return len(tb.events.Published()) == 1 && len(tb.events.Failed()) == 1
	})
	f := tb.events.Failed()[0]
	if f.GetAccountId() != "acct_9" || f.GetKind() != "unavailable" || f.GetNetwork() != "friendster" {
		t.Errorf("post.failed = %v, want acct_9 unavailable", f)
	}
}

func TestChangedPostCancelsWaitingAttempt(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tb := setup(t, setupOptions{clock: clock, cfg: func(c *Config) { c.PollInterval = time.Hour }})
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	tb.portal.set(j, true)
	tb.net.script("acct_1", step{err: perr(provider.Retry, "")})
	dueAt := clock.Now()
	tb.mustDue(t, j, dueAt)
	key := IdempotencyKey(j.GetPostId(), "acct_1", 1, dueAt)
	if a := tb.row(t, key); a.State != RetryWait {
		t.Fatalf("attempt %s after a temporary failure, want retry_wait", a.State)
	}

	tb.portal.set(j, false) // edited meanwhile
	clock.Add(time.Minute)
	if n := tb.retryNow(t); n != 1 {
		t.Fatalf("retry pass took %d attempts, want 1", n)
	}
	if a := tb.row(t, key); a.State != Canceled {
		t.Fatalf("attempt %s, want canceled", a.State)
	}
	if n := len(tb.net.Calls()); n != 1 {
		t.Errorf("network calls = %d, want only the first", n)
	}
	tb.drained(t)
	if len(tb.events.Published())+len(tb.events.Failed()) != 0 {
		t.Error("events emitted for a canceled attempt")
	}
	atts := tb.attempts(t, "agency_a", j.GetPostId())
	if len(atts) != 1 || atts[0].GetState() != publisherv1.AttemptState_ATTEMPT_STATE_CANCELED || atts[0].GetError() != reasonChanged {
		t.Errorf("attempts = %v, want one canceled saying the post changed", atts)
	}
}

func TestMediaComesFromTheBlobStore(t *testing.T) {
	t.Parallel()
	t.Run("attached", func(t *testing.T) {
		t.Parallel()
		tb := setup(t, setupOptions{})
		png := []byte("\x89PNG\r\n\x1a\nnot really")
		if err := tb.blob.WriteAll(context.Background(), "media/a/ws/m1", png, nil); err != nil {
			t.Fatal(err)
		}
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		j.Media = []*portalv1.MediaRef{{BlobKey: "media/a/ws/m1", MimeType: "image/png", SizeBytes: int64(len(png)), FileName: "m1.png"}}
		tb.portal.set(j, true)
		tb.mustDue(t, j, time.Now())
		eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
		calls := tb.net.Calls()
		if len(calls) != 1 || len(calls[0].Media) != 1 || string(calls[0].Media[0]) != string(png) {
			t.Errorf("network got media %q, want the blob's bytes", calls[0].Media)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		tb := setup(t, setupOptions{})
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		j.Media = []*portalv1.MediaRef{{BlobKey: "media/a/ws/gone", MimeType: "image/png", FileName: "gone.png"}}
		tb.portal.set(j, true)
		tb.mustDue(t, j, time.Now())
		eventually(t, "post.failed", func() bool { return len(tb.events.Failed()) == 1 })
		if f := tb.events.Failed()[0]; f.GetKind() != "bad_content" {
			t.Errorf("post.failed kind %q, want bad_content", f.GetKind())
		}
		if n := len(tb.net.Calls()); n != 0 {
			t.Errorf("network calls = %d, want none for a post whose media is missing", n)
		}
	})
}

func TestCrashedAttemptIsSettledWithTheSameKey(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tb := setup(t, setupOptions{clock: clock, cfg: func(c *Config) { c.PollInterval = time.Hour }})
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	tb.portal.set(j, true)
	dueAt := clock.Now()
	due := dueEvent(j, dueAt)

	// A node commits the attempt in flight, then dies before the network
	// answers (its call did reach the network).
	claims, err := tb.svc.accept(context.Background(), id.New("evt"), due, j)
	if err != nil || len(claims) != 1 {
		t.Fatalf("accept: %d claims, %v", len(claims), err)
	}
	tb.net.mu.Lock()
	tb.net.publishLocked(claims[0].attempt.IdempotencyKey)
	tb.net.mu.Unlock()

	if n := tb.retryNow(t); n != 0 {
		t.Fatalf("retry pass took over a live claim (%d tries)", n)
	}
	clock.Add(testConfig().InFlightTimeout + time.Second)
	if n := tb.retryNow(t); n != 1 {
		t.Fatalf("retry pass after the claim expired started %d tries, want 1", n)
	}
	calls := tb.net.Calls()
	if len(calls) != 1 || calls[0].Key != claims[0].attempt.IdempotencyKey {
		t.Fatalf("calls = %v, want one with the attempt's key", calls)
	}
	if tb.net.Statuses() != 1 {
		t.Errorf("network holds %d posts, want 1", tb.net.Statuses())
	}
	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	tb.drained(t)
	if a := tb.row(t, claims[0].attempt.IdempotencyKey); a.State != Succeeded || a.Tries != 2 {
		t.Errorf("attempt %s after %d tries, want succeeded after 2", a.State, a.Tries)
	}
}

func TestLateOutcomeOfATakenOverTryIsDropped(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tb := setup(t, setupOptions{clock: clock, cfg: func(c *Config) { c.PollInterval = time.Hour }})
	ctx := context.Background()
	j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
	tb.portal.set(j, true)
	claims, err := tb.svc.accept(ctx, id.New("evt"), dueEvent(j, clock.Now()), j)
	if err != nil || len(claims) != 1 {
		t.Fatalf("accept: %d claims, %v", len(claims), err)
	}
	slow := claims[0]

	// The slow try's claim expires and another try takes the attempt over.
	clock.Add(testConfig().InFlightTimeout + time.Second)
	taken, ok, err := tb.svc.claim(ctx, tb.row(t, slow.attempt.IdempotencyKey))
	if err != nil || !ok {
		t.Fatalf("take over: %v, %v", ok, err)
	}
	if _, ok, _ := tb.svc.claim(ctx, tb.row(t, slow.attempt.IdempotencyKey)); ok {
		t.Fatal("a claimed attempt was claimed again")
	}

	// The slow try reports while the new one is still out: dropped.
	tb.svc.settle(ctx, slow.attempt, outcome{state: Failed, kind: kindBadContent, reason: "late"})
	if a := tb.row(t, slow.attempt.IdempotencyKey); a.State != InFlight || a.Claim != taken.Claim {
		t.Fatalf("after the late report the attempt is %s held by %q, want in flight held by %q", a.State, a.Claim, taken.Claim)
	}
	tb.svc.try(ctx, j, claimed{attempt: taken, target: slow.target})

	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	tb.drained(t)
	if n := len(tb.events.Failed()); n != 0 {
		t.Errorf("post.failed events = %d, want none: the late report belongs to a try that lost its claim", n)
	}
	if a := tb.row(t, slow.attempt.IdempotencyKey); a.State != Succeeded || a.Tries != 2 {
		t.Errorf("attempt %s after %d tries, want succeeded after 2", a.State, a.Tries)
	}
}

func TestTwoNodesTryADueAttemptOnce(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	shared := storetest.URL(t)
	noLoop := func(c *Config) { c.PollInterval = time.Hour }
	a := setup(t, setupOptions{clock: clock, cfg: noLoop, dbURL: shared})
	// Both nodes talk to the same network and Portal.
	b := setup(t, setupOptions{clock: clock, cfg: noLoop, dbURL: shared, portal: a.portal, net: a.net})

	const posts = 20
	var keys []string
	for range posts {
		j := job("agency_a", id.New("post"), 1, "hi", "acct_1")
		a.portal.set(j, true)
		a.net.script("acct_1", step{err: perr(provider.Retry, "")})
		a.mustDue(t, j, clock.Now())
		keys = append(keys, IdempotencyKey(j.GetPostId(), "acct_1", 1, clock.Now()))
	}
	clock.Add(time.Minute)
	var wg sync.WaitGroup
	wg.Go(func() { a.retryNow(t) })
	wg.Go(func() { b.retryNow(t) })
	wg.Wait()

	perKey := map[string]int{}
	for _, c := range a.net.Calls() {
		perKey[c.Key]++
	}
	for _, k := range keys {
		if perKey[k] != 2 {
			t.Errorf("attempt %s called %d times, want 2 (the failed try and one retry)", k, perKey[k])
		}
		if st := a.row(t, k).State; st != Succeeded {
			t.Errorf("attempt %s is %s, want succeeded", k, st)
		}
	}
}

func TestManyDueAtOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{cfg: func(c *Config) { c.Concurrency = 32 }})
	const posts = 300
	var jobs []*portalv1.PublishJob
	for i := range posts {
		j := job("agency_a", id.New("post"), 1, "hi", fmt.Sprintf("acct_%d", i%7))
		tb.portal.set(j, true)
		jobs = append(jobs, j)
	}
	var wg sync.WaitGroup
	errc := make(chan error, posts)
	for _, j := range jobs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // bounds a failing test only
			defer cancel()
			if err := tb.due(ctx, id.New("evt"), j, time.Now()); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	eventually(t, "every post published", func() bool { return len(tb.events.Published()) == posts })
	tb.drained(t)
	if n := len(tb.events.Published()); n != posts {
		t.Errorf("post.published = %d, want %d", n, posts)
	}
	if n := tb.net.Statuses(); n != posts {
		t.Errorf("network holds %d posts, want %d", n, posts)
	}
}

func TestListAttemptsIsScopedToTheTenant(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	post := id.New("post")
	j := job("agency_a", post, 1, "hi", "acct_1")
	tb.portal.set(j, true)
	tb.mustDue(t, j, time.Now())

	if n := len(tb.attempts(t, "agency_a", post)); n != 1 {
		t.Errorf("owner sees %d attempts, want 1", n)
	}
	if n := len(tb.attempts(t, "agency_b", post)); n != 0 {
		t.Errorf("another tenant sees %d attempts of the post, want 0", n)
	}
}

func TestListAttemptsNamesMissingFields(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{noRun: true})
	tests := []struct {
		name       string
		req        *publisherv1.ListAttemptsRequest
		wantFields []string
	}{
		{"no tenant", &publisherv1.ListAttemptsRequest{PostId: "post_1"}, []string{"tenant_id"}},
		{"no post", &publisherv1.ListAttemptsRequest{TenantId: "agency_a"}, []string{"post_id"}},
		{"nothing", &publisherv1.ListAttemptsRequest{}, []string{"tenant_id", "post_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tb.svc.ListAttempts(context.Background(), tt.req)
			assertFields(t, err, tt.wantFields...)
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{noRun: true})
	tests := []struct {
		name           string
		req            *publisherv1.ValidateRequest
		wantFields     []string
		wantViolations []string
	}{
		{name: "fits", req: &publisherv1.ValidateRequest{Network: "mastodon", Text: "short"}},
		{
			name:           "content breaks the network's limits",
			req:            &publisherv1.ValidateRequest{Network: "mastodon", Text: "far too long for this network", Media: []*publisherv1.Media{{MimeType: "image/gif"}}},
			wantViolations: []string{"text", "media[0]"},
		},
		{name: "no network", req: &publisherv1.ValidateRequest{Text: "x"}, wantFields: []string{"network"}},
		{name: "unknown network", req: &publisherv1.ValidateRequest{Network: "friendster", Text: "x"}, wantFields: []string{"network"}},
		{
			name:       "negative media size",
			req:        &publisherv1.ValidateRequest{Network: "mastodon", Media: []*publisherv1.Media{{MimeType: "image/png"}, {MimeType: "image/png", SizeBytes: -1}}},
			wantFields: []string{"media[1].size_bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tb.svc.Validate(context.Background(), tt.req)
			if len(tt.wantFields) > 0 {
				assertFields(t, err, tt.wantFields...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.GetViolations() {
				got = append(got, v.GetField())
				if v.GetMessage() == "" {
					t.Errorf("violation of %s has no message", v.GetField())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantViolations) {
				t.Errorf("violations on %v, want %v", got, tt.wantViolations)
			}
			if res.GetLimits().GetMaxTextChars() != 20 || res.GetLimits().GetMaxMedia() != 2 {
				t.Errorf("limits = %v, want the provider's", res.GetLimits())
			}
		})
	}
}

func assertFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("error = %v, want invalid", err)
	}
	e, _ := errs.As(err)
	if len(e.Fields) != len(fields) {
		t.Errorf("fields = %v, want exactly %v", e.Fields, fields)
	}
	for _, f := range fields {
		if e.Fields[f] == "" {
			t.Errorf("no message for field %q in %v", f, e.Fields)
		}
	}
}
