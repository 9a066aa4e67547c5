package coordtest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// Wait is how long the suite waits for something asynchronous (a Lost
// channel closing, a registration disappearing) before it fails. It is
// generous on purpose: a busy machine or a remote server may be slow, and the
// suite measures correctness, not speed.
const Wait = 10 * time.Second

// Option adapts the suite to what an adapter can do.
type Option func(*suite)

// WithExpire gives the suite a way to make a session lose its session the
// way a server-side timeout would (for ZooKeeper: expire the session; for
// etcd: revoke its lease). The suite then checks that the session's locks
// are lost and can be taken by another session with a larger token. Without
// it those tests are skipped.
func WithExpire(expire func(t *testing.T, c coord.Coordinator)) Option {
	return func(s *suite) { s.expire = expire }
}

type suite struct {
	open   func(t *testing.T) coord.Coordinator
	expire func(t *testing.T, c coord.Coordinator)
}

// Run runs the conformance suite. open returns a new session of the
// coordination service under test; every session opened during one Run must
// reach the same service, so that they contend for the same locks and see
// the same registry. The suite closes the sessions it opens.
func Run(t *testing.T, open func(t *testing.T) coord.Coordinator, opts ...Option) {
	s := &suite{open: open}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"TryLockHeldLockFails", s.testTryLockHeldLockFails},
		{"LocksAreIndependentByName", s.testLocksAreIndependentByName},
		{"UnlockFreesAndClosesLost", s.testUnlockFreesAndClosesLost},
		{"UnlockTwiceKeepsNextHolder", s.testUnlockTwiceKeepsNextHolder},
		{"TokensGrowAcrossHolders", s.testTokensGrowAcrossHolders},
		{"RacingTryLockHasOneWinner", s.testRacingTryLockHasOneWinner},
		{"CloseLosesLocks", s.testCloseLosesLocks},
		{"CloseIsIdempotentAndFinal", s.testCloseIsIdempotentAndFinal},
		{"InvalidInput", s.testInvalidInput},
		{"RegisterAndDeregister", s.testRegisterAndDeregister},
		{"RegistrationEndsWithContext", s.testRegistrationEndsWithContext},
		{"RegisterWithEndedContext", s.testRegisterWithEndedContext},
		{"ReRegisterReplaces", s.testReRegisterReplaces},
		{"CloseDeregisters", s.testCloseDeregisters},
		{"ExpireLosesLocks", s.testExpireLosesLocks},
		{"Ping", s.testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

// session opens a session that is closed when the test ends.
func (s *suite) session(t *testing.T) coord.Coordinator {
	t.Helper()
	c := s.open(t)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// name returns a lock or service name no other test or run uses.
func name(kind string) string { return id.New("coordtest_" + kind) }

func mustLock(t *testing.T, c coord.Coordinator, lockName, holder string) coord.Lock {
	t.Helper()
	l, err := c.TryLock(t.Context(), lockName, holder)
	if err != nil {
		t.Fatalf("TryLock(%q, %q): %v", lockName, holder, err)
	}
	if l.Name() != lockName {
		t.Fatalf("Name() = %q, want %q", l.Name(), lockName)
	}
	return l
}

// lockEventually retries TryLock until it succeeds: after a session ends,
// a distributed server may take a moment to free its locks.
func lockEventually(t *testing.T, c coord.Coordinator, lockName, holder string) coord.Lock {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		l, err := c.TryLock(t.Context(), lockName, holder)
		if err == nil {
			return l
		}
		if !errors.Is(err, coord.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("TryLock(%q, %q): %v", lockName, holder, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantLocked(t *testing.T, c coord.Coordinator, lockName, holder string) {
	t.Helper()
	l, err := c.TryLock(t.Context(), lockName, holder)
	if !errors.Is(err, coord.ErrLocked) {
		if err == nil {
			_ = l.Unlock(t.Context())
		}
		t.Fatalf("TryLock(%q, %q) of a held lock: err = %v, want coord.ErrLocked", lockName, holder, err)
	}
}

func waitLost(t *testing.T, l coord.Lock, why string) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(Wait):
		t.Fatalf("Lost() of %q not closed %v after %s", l.Name(), Wait, why)
	}
}

func wantNotLost(t *testing.T, l coord.Lock) {
	t.Helper()
	select {
	case <-l.Lost():
		t.Fatalf("Lost() of %q closed while the lock is held", l.Name())
	default:
	}
}

func (s *suite) testTryLockHeldLockFails(t *testing.T) {
	a, b := s.session(t), s.session(t)
	n := name("lock")
	l := mustLock(t, a, n, "holder-a")
	if l.Token() <= 0 {
		t.Errorf("Token() = %d, want > 0", l.Token())
	}
	wantNotLost(t, l)
	// Whoever asks, a held lock is held: another session, another holder
	// name in the same session, and the same holder again (no re-entry).
	wantLocked(t, b, n, "holder-b")
	wantLocked(t, a, n, "holder-c")
	wantLocked(t, a, n, "holder-a")
	wantNotLost(t, l)
}

func (s *suite) testLocksAreIndependentByName(t *testing.T) {
	a, b := s.session(t), s.session(t)
	n1, n2 := name("lock"), name("lock")
	mustLock(t, a, n1, "holder-a")
	l2 := mustLock(t, b, n2, "holder-b")
	wantNotLost(t, l2)
}

func (s *suite) testUnlockFreesAndClosesLost(t *testing.T) {
	a, b := s.session(t), s.session(t)
	n := name("lock")
	l := mustLock(t, a, n, "holder-a")
	if err := l.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	waitLost(t, l, "Unlock")
	next := lockEventually(t, b, n, "holder-b")
	if next.Token() <= l.Token() {
		t.Errorf("token of the next holder = %d, want > %d", next.Token(), l.Token())
	}
}

func (s *suite) testUnlockTwiceKeepsNextHolder(t *testing.T) {
	a, b, c := s.session(t), s.session(t), s.session(t)
	n := name("lock")
	l := mustLock(t, a, n, "holder-a")
	if err := l.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	next := lockEventually(t, b, n, "holder-b")
	// A stale Unlock (a retry, a deferred call) must not free the lock that
	// has changed hands since.
	if err := l.Unlock(t.Context()); err != nil {
		t.Errorf("second Unlock: %v, want nil", err)
	}
	wantLocked(t, c, n, "holder-c")
	wantNotLost(t, next)
}

func (s *suite) testTokensGrowAcrossHolders(t *testing.T) {
	sessions := []coord.Coordinator{s.session(t), s.session(t), s.session(t)}
	n := name("lock")
	var last int64
	for i := range 12 {
		c := sessions[i%len(sessions)]
		l := lockEventually(t, c, n, "holder")
		if l.Token() <= last {
			t.Fatalf("hand-over %d: token %d, want > %d", i, l.Token(), last)
		}
		last = l.Token()
		if err := l.Unlock(t.Context()); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
	}
}

func (s *suite) testRacingTryLockHasOneWinner(t *testing.T) {
	a, b := s.session(t), s.session(t)
	const rounds = 64
	type result struct {
		lock coord.Lock
		err  error
	}
	var wg sync.WaitGroup
	results := make([][2]result, rounds)
	for r := range rounds {
		n := name("race")
		for i, c := range []coord.Coordinator{a, b} {
			wg.Go(func() {
				l, err := c.TryLock(t.Context(), n, "racer")
				results[r][i] = result{l, err}
			})
		}
	}
	wg.Wait()
	for r, res := range results {
		winners := 0
		for i, x := range res {
			switch {
			case x.err == nil:
				winners++
				t.Cleanup(func() { _ = x.lock.Unlock(context.Background()) })
			case !errors.Is(x.err, coord.ErrLocked):
				t.Errorf("round %d, racer %d: %v, want nil or coord.ErrLocked", r, i, x.err)
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d racers got the lock, want exactly 1", r, winners)
		}
	}
}

func (s *suite) testCloseLosesLocks(t *testing.T) {
	a, b := s.session(t), s.session(t)
	n1, n2 := name("lock"), name("lock")
	l1, l2 := mustLock(t, a, n1, "holder-a"), mustLock(t, a, n2, "holder-a")
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitLost(t, l1, "Close")
	waitLost(t, l2, "Close")
	next := lockEventually(t, b, n1, "holder-b")
	if next.Token() <= l1.Token() {
		t.Errorf("token after Close = %d, want > %d", next.Token(), l1.Token())
	}
	// Unlocking a lock of a closed session is harmless.
	if err := l1.Unlock(t.Context()); err != nil {
		t.Errorf("Unlock after Close: %v, want nil", err)
	}
	wantNotLost(t, next)
}

func (s *suite) testCloseIsIdempotentAndFinal(t *testing.T) {
	c := s.session(t)
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	ctx := t.Context()
	if l, err := c.TryLock(ctx, name("lock"), "holder"); err == nil {
		_ = l.Unlock(ctx)
		t.Error("TryLock after Close succeeded, want an error")
	}
	if dereg, err := c.Register(ctx, coord.Instance{Service: name("svc"), ID: "i1"}); err == nil {
		dereg()
		t.Error("Register after Close succeeded, want an error")
	}
	if _, err := c.Instances(ctx, name("svc")); err == nil {
		t.Error("Instances after Close succeeded, want an error")
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded, want an error")
	}
}

func (s *suite) testInvalidInput(t *testing.T) {
	c := s.session(t)
	ctx := t.Context()
	svc := name("svc")
	tests := []struct {
		name  string
		field string
		call  func() error
	}{
		{"lock without name", "name", func() error { _, err := c.TryLock(ctx, "", "holder"); return err }},
		{"lock without holder", "holder", func() error { _, err := c.TryLock(ctx, name("lock"), ""); return err }},
		{"register without service", "service", func() error {
			_, err := c.Register(ctx, coord.Instance{ID: "i1", Addr: "127.0.0.1:1"})
			return err
		}},
		{"register without id", "id", func() error {
			_, err := c.Register(ctx, coord.Instance{Service: svc, Addr: "127.0.0.1:1"})
			return err
		}},
		{"instances without service", "service", func() error { _, err := c.Instances(ctx, ""); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("err = %v, want an errs.Invalid error", err)
			}
			if _, ok := e.Fields[tc.field]; !ok {
				t.Errorf("err = %v, want it to name field %q", err, tc.field)
			}
		})
	}
	// Rejected registrations changed nothing.
	got, err := c.Instances(ctx, svc)
	if err != nil || len(got) != 0 {
		t.Errorf("Instances after rejected registrations = %v, %v; want none", got, err)
	}
}

// instancesEventually waits until service's instances, ordered by id, are
// want: a registry read from another session may lag a write a little.
func instancesEventually(t *testing.T, c coord.Coordinator, service string, want []coord.Instance) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		got, err := c.Instances(t.Context(), service)
		if err != nil {
			t.Fatalf("Instances(%q): %v", service, err)
		}
		slices.SortFunc(got, func(a, b coord.Instance) int { return cmp.Compare(a.ID, b.ID) })
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Instances(%q) = %v, want %v", service, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustRegister(t *testing.T, ctx context.Context, c coord.Coordinator, in coord.Instance) func() {
	t.Helper()
	dereg, err := c.Register(ctx, in)
	if err != nil {
		t.Fatalf("Register(%+v): %v", in, err)
	}
	t.Cleanup(dereg)
	return dereg
}

func (s *suite) testRegisterAndDeregister(t *testing.T) {
	a, b := s.session(t), s.session(t)
	svc, other := name("svc"), name("svc")
	i1 := coord.Instance{Service: svc, ID: "i1", Addr: "10.0.0.1:8080"}
	i2 := coord.Instance{Service: svc, ID: "i2", Addr: "http://10.0.0.2:8080"}
	i3 := coord.Instance{Service: other, ID: "i1", Addr: "10.0.0.3:8080"}
	dereg1 := mustRegister(t, t.Context(), a, i1)
	mustRegister(t, t.Context(), b, i2)
	mustRegister(t, t.Context(), b, i3)

	// Every session sees every instance, and services are kept apart.
	instancesEventually(t, a, svc, []coord.Instance{i1, i2})
	instancesEventually(t, b, svc, []coord.Instance{i1, i2})
	instancesEventually(t, a, other, []coord.Instance{i3})
	instancesEventually(t, a, name("svc"), nil)

	dereg1()
	dereg1() // deregistering twice is harmless
	instancesEventually(t, a, svc, []coord.Instance{i2})
	instancesEventually(t, b, svc, []coord.Instance{i2})
	instancesEventually(t, b, other, []coord.Instance{i3})
}

func (s *suite) testRegistrationEndsWithContext(t *testing.T) {
	a, b := s.session(t), s.session(t)
	svc := name("svc")
	in := coord.Instance{Service: svc, ID: "i1", Addr: "10.0.0.1:8080"}
	ctx, cancel := context.WithCancel(t.Context())
	mustRegister(t, ctx, a, in)
	instancesEventually(t, b, svc, []coord.Instance{in})
	cancel()
	instancesEventually(t, b, svc, nil)
	// The session outlives the registration.
	if err := a.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the registration ended: %v", err)
	}
}

func (s *suite) testRegisterWithEndedContext(t *testing.T) {
	c := s.session(t)
	svc := name("svc")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if dereg, err := c.Register(ctx, coord.Instance{Service: svc, ID: "i1"}); err == nil {
		dereg()
		t.Fatal("Register with an ended context succeeded, want an error")
	}
	instancesEventually(t, c, svc, nil)
}

func (s *suite) testReRegisterReplaces(t *testing.T) {
	a, b := s.session(t), s.session(t)
	svc := name("svc")
	old := coord.Instance{Service: svc, ID: "i1", Addr: "10.0.0.1:8080"}
	restarted := coord.Instance{Service: svc, ID: "i1", Addr: "10.0.0.1:9090"}
	deregOld := mustRegister(t, t.Context(), a, old)
	instancesEventually(t, b, svc, []coord.Instance{old})
	// An instance that restarts registers again under its id, possibly
	// before its old session is gone; the newer registration wins, and the
	// old one's deregistration must not remove it.
	mustRegister(t, t.Context(), b, restarted)
	instancesEventually(t, a, svc, []coord.Instance{restarted})
	deregOld()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	instancesEventually(t, b, svc, []coord.Instance{restarted})
}

func (s *suite) testCloseDeregisters(t *testing.T) {
	a, b := s.session(t), s.session(t)
	svc := name("svc")
	ia := coord.Instance{Service: svc, ID: "a", Addr: "10.0.0.1:8080"}
	ib := coord.Instance{Service: svc, ID: "b", Addr: "10.0.0.2:8080"}
	mustRegister(t, t.Context(), a, ia)
	mustRegister(t, t.Context(), b, ib)
	instancesEventually(t, b, svc, []coord.Instance{ia, ib})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	instancesEventually(t, b, svc, []coord.Instance{ib})
}

func (s *suite) testExpireLosesLocks(t *testing.T) {
	if s.expire == nil {
		t.Skip("the adapter gives no way to expire a session (coordtest.WithExpire)")
	}
	a, b, c := s.session(t), s.session(t), s.session(t)
	n := name("lock")
	l := mustLock(t, a, n, "holder-a")
	s.expire(t, a)
	waitLost(t, l, "the session expired")
	next := lockEventually(t, b, n, "holder-b")
	if next.Token() <= l.Token() {
		t.Errorf("token after expiry = %d, want > %d", next.Token(), l.Token())
	}
	// The expired holder's late Unlock must not free the new holder's lock.
	if err := l.Unlock(t.Context()); err != nil {
		t.Errorf("Unlock of a lost lock: %v, want nil", err)
	}
	wantLocked(t, c, n, "holder-c")
	wantNotLost(t, next)
}

func (s *suite) testPing(t *testing.T) {
	c := s.session(t)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
