package portable_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
	"github.com/heraldhq/herald/coord/internal/portable"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/internal/servertest"
)

var errDown = errors.New("fake: server unreachable")

// server is what a fake coordination server holds, shared by the drivers
// of all its clients.
type server struct {
	mu      sync.Mutex
	token   int64
	nonce   int
	locks   map[string]portable.Held // lock name -> holder
	regs    map[string]reg           // service "/" id -> newest registration
	session int64                    // the last session handed out
}

type reg struct {
	in      coord.Instance
	session int64
	ref     string
}

func newServer() *server {
	return &server{locks: map[string]portable.Held{}, regs: map[string]reg{}}
}

// end drops what a session holds, as a server does when it ends.
func (s *server) end(session int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, h := range s.locks {
		if h.Session == session {
			delete(s.locks, n)
		}
	}
	for k, r := range s.regs {
		if r.session == session {
			delete(s.regs, k)
		}
	}
}

func (s *server) newSession() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session++
	return s.session
}

// driver is a client of the fake server. down makes every call fail, the
// way an unreachable server does; sessionOf, when set, overrides the
// session a lock is taken in.
type driver struct {
	srv *server
	mu  sync.Mutex
	// The fields below are guarded by mu.
	session   int64
	down      bool
	announces int
	withdraws int
	closes    int
	sessionOf func() int64
}

func (d *driver) state() (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return 0, errDown
	}
	if d.sessionOf != nil {
		return d.sessionOf(), nil
	}
	return d.session, nil
}

func (d *driver) set(f func(d *driver)) {
	d.mu.Lock()
	f(d)
	d.mu.Unlock()
}

func (d *driver) Acquire(ctx context.Context, name, holder string) (portable.Held, error) {
	session, err := d.state()
	if err != nil {
		return portable.Held{}, err
	}
	s := d.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locks[name]; ok {
		return portable.Held{}, coord.ErrLocked
	}
	s.token++
	h := portable.Held{Session: session, Token: s.token, Ref: name + "#" + strconv.FormatInt(s.token, 10)}
	s.locks[name] = h
	return h, nil
}

func (d *driver) Release(ctx context.Context, h portable.Held) error {
	if _, err := d.state(); err != nil {
		return err
	}
	s := d.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, cur := range s.locks {
		if cur.Ref == h.Ref {
			delete(s.locks, n)
		}
	}
	return nil
}

func (d *driver) Announce(ctx context.Context, in coord.Instance, prev *portable.Announced) (portable.Announced, error) {
	session, err := d.state()
	if err != nil {
		return portable.Announced{}, err
	}
	d.set(func(d *driver) { d.announces++ })
	s := d.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	key := in.Service + "/" + in.ID
	var ref string
	if prev != nil {
		ref = prev.Ref.(string)
		if cur, ok := s.regs[key]; ok && cur.ref != ref {
			return portable.Announced{}, portable.ErrReplaced
		}
	} else {
		s.nonce++
		ref = strconv.Itoa(s.nonce)
	}
	s.regs[key] = reg{in: in, session: session, ref: ref}
	return portable.Announced{Session: session, Ref: ref}, nil
}

func (d *driver) Withdraw(ctx context.Context, a portable.Announced) error {
	if _, err := d.state(); err != nil {
		return err
	}
	d.set(func(d *driver) { d.withdraws++ })
	s := d.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.regs {
		if r.ref == a.Ref {
			delete(s.regs, k)
		}
	}
	return nil
}

func (d *driver) Instances(ctx context.Context, service string) ([]coord.Instance, error) {
	if _, err := d.state(); err != nil {
		return nil, err
	}
	s := d.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []coord.Instance
	for _, r := range s.regs {
		if r.in.Service == service {
			out = append(out, r.in)
		}
	}
	return out, nil
}

func (d *driver) Ping(ctx context.Context) error {
	_, err := d.state()
	return err
}

func (d *driver) Close() error {
	d.set(func(d *driver) { d.closes++ })
	session, _ := d.state()
	d.srv.end(session)
	return nil
}

// open returns a coordinator with a fresh session on srv.
func open(t *testing.T, srv *server) (*portable.Coordinator, *driver) {
	t.Helper()
	d := &driver{srv: srv, session: srv.newSession()}
	c := portable.New("fake", time.Second)
	c.SessionStarted(d.session)
	c.Start(d)
	t.Cleanup(func() { _ = c.Close() })
	return c, d
}

// The portable layer over a fake server passes the port's suite: the
// bookkeeping is the same whatever the server.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := newServer()
	coordtest.Run(t,
		func(t *testing.T) coord.Coordinator { c, _ := open(t, srv); return c },
	)
}

func isLost(l coord.Lock) bool {
	select {
	case <-l.Lost():
		return true
	default:
		return false
	}
}

func (s *server) held(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.locks[name]
	return ok
}

func (s *server) registration(key string) (reg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.regs[key]
	return r, ok
}

// A suspended session's locks are lost at once, and released on the
// server when the session turns out alive.
func TestSuspendedSessionReleasesItsLocksWhenBack(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	ctx := t.Context()
	l, err := c.TryLock(ctx, "leader", "n1")
	if err != nil {
		t.Fatal(err)
	}
	d.set(func(d *driver) { d.down = true })
	c.SessionSuspended(d.session)
	if !isLost(l) {
		t.Fatal("Lost not closed on suspension")
	}
	if _, err := c.TryLock(ctx, "other", "n1"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("TryLock while suspended: %v, want errs.Unavailable", err)
	}
	if err := c.Ping(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Ping while suspended: %v, want errs.Unavailable", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("Unlock of a lost lock: %v, want nil", err)
	}
	if !srv.held("leader") {
		t.Fatal("the lock was released while the server was unreachable")
	}
	d.set(func(d *driver) { d.down = false })
	c.SessionStarted(d.session)
	servertest.Eventually(t, 10*time.Second, "the lock is released on the server", func() error {
		if srv.held("leader") {
			return errors.New("still held")
		}
		return nil
	})
}

// An ended session's locks are lost; its registrations are announced again
// in the next session, as the same registration.
func TestEndedSessionAnnouncesAgain(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	ctx := t.Context()
	in := coord.Instance{Service: "trigger", ID: "n1", Addr: "10.0.0.1:1"}
	dereg, err := c.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.TryLock(ctx, "leader", "n1")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := srv.registration("trigger/n1")

	old := d.session
	srv.end(old)
	c.SessionEnded(old)
	if !isLost(l) {
		t.Fatal("Lost not closed when the session ended")
	}
	next := srv.newSession()
	d.set(func(d *driver) { d.session = next })
	c.SessionStarted(next)
	servertest.Eventually(t, 10*time.Second, "announced again", func() error {
		r, ok := srv.registration("trigger/n1")
		if !ok || r.session != next {
			return fmt.Errorf("registration = %+v, %v; want one in session %d", r, ok, next)
		}
		if r.ref != first.ref {
			return fmt.Errorf("registration %q, want the same %q", r.ref, first.ref)
		}
		return nil
	})
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("Unlock of a lost lock: %v", err)
	}
	dereg()
	if _, ok := srv.registration("trigger/n1"); ok {
		t.Error("deregistered, but the registration is still on the server")
	}
}

// A registration that a newer one replaced while its session was over is
// forgotten: not announced again, and its deregistration touches nothing.
func TestReplacedRegistrationIsForgotten(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	other, _ := open(t, srv)
	ctx := t.Context()
	in := coord.Instance{Service: "trigger", ID: "n1", Addr: "10.0.0.1:1"}
	dereg, err := c.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	old := d.session
	srv.end(old)
	c.SessionEnded(old)
	restarted := coord.Instance{Service: "trigger", ID: "n1", Addr: "10.0.0.1:2"}
	if _, err := other.Register(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	next := srv.newSession()
	d.set(func(d *driver) { d.session = next })
	c.SessionStarted(next)
	servertest.Eventually(t, 10*time.Second, "the worker tries to announce it again", func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.announces < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	dereg()
	d.mu.Lock()
	withdraws := d.withdraws
	d.mu.Unlock()
	if withdraws != 0 {
		t.Errorf("deregistering a replaced registration withdrew %d, want nothing", withdraws)
	}
	r, ok := srv.registration("trigger/n1")
	if !ok || r.in != restarted {
		t.Errorf("registration = %+v, %v; want the newer one, %+v", r.in, ok, restarted)
	}
}

// Unlock while the server is out of reach closes Lost, says the server
// still has the lock, and releases it once the server is back.
func TestUnlockWhileUnreachable(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	ctx := t.Context()
	l, err := c.TryLock(ctx, "leader", "n1")
	if err != nil {
		t.Fatal(err)
	}
	d.set(func(d *driver) { d.down = true })
	if err := l.Unlock(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Unlock while unreachable: %v, want errs.Unavailable", err)
	}
	if !isLost(l) {
		t.Error("Lost not closed by Unlock")
	}
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("second Unlock: %v, want nil", err)
	}
	d.set(func(d *driver) { d.down = false })
	servertest.Eventually(t, 10*time.Second, "the lock is released once the server is back", func() error {
		if srv.held("leader") {
			return errors.New("still held")
		}
		return nil
	})
}

// A lock the driver took in a session the coordinator does not know as
// current is given back, not handed to the caller.
func TestLockTakenInAnotherSessionIsGivenBack(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	next := srv.newSession()
	d.set(func(d *driver) { d.sessionOf = func() int64 { return next } })
	if l, err := c.TryLock(t.Context(), "leader", "n1"); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("TryLock = %v, %v; want errs.Unavailable", l, err)
	}
	// It is released once that session is the coordinator's.
	c.SessionStarted(next)
	servertest.Eventually(t, 10*time.Second, "the lock is given back", func() error {
		if srv.held("leader") {
			return errors.New("still held")
		}
		return nil
	})
}

// What an ended session left behind is not cleaned up in the next one:
// it ended with its session.
func TestCleanUpsEndWithTheirSession(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	old := d.session
	ran := make(chan string, 10)
	// While suspended, nothing runs: the server may be out of reach.
	c.SessionSuspended(old)
	c.CleanUp(old, func(ctx context.Context) error { ran <- "old"; return nil })
	c.SessionEnded(old)
	c.CleanUp(old, func(ctx context.Context) error { ran <- "old, queued after its end"; return nil })
	next := srv.newSession()
	d.set(func(d *driver) { d.session = next })
	c.SessionStarted(next)
	c.CleanUp(next, func(ctx context.Context) error { ran <- "next"; return nil })
	select {
	case got := <-ran:
		if got != "next" {
			t.Fatalf("clean-up %q ran in the next session", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the current session's clean-up did not run")
	}
	select {
	case got := <-ran:
		t.Errorf("clean-up %q ran", got)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestCloseIsFinalAndClosesDriverOnce(t *testing.T) {
	t.Parallel()
	srv := newServer()
	c, d := open(t, srv)
	ctx := t.Context()
	l, err := c.TryLock(ctx, "leader", "n1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !isLost(l) {
		t.Error("Lost not closed by Close")
	}
	if d.closes != 1 {
		t.Errorf("driver closed %d times, want 1", d.closes)
	}
	if err := c.Ping(ctx); !errors.Is(err, portable.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	// Events after Close change nothing.
	c.SessionStarted(srv.newSession())
	c.SessionSuspended(1)
	c.SessionEnded(1)
}
