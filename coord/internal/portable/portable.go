package portable

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/errs"
)

// ErrClosed is returned by every call on a closed Coordinator.
var ErrClosed = errs.E(errs.Unavailable, "coordination: closed")

// ErrReplaced is returned by Driver.Announce when a newer registration of
// the same service and instance id has replaced the one it was asked to
// announce again: the newer one wins, and the older is forgotten.
var ErrReplaced = errors.New("coordination: registration replaced by a newer one")

// Held is a lock as a driver took it.
type Held struct {
	// Session is the driver's session the lock lives in: it is lost when
	// that session ends or is suspended.
	Session int64
	// Token is the fencing token, larger than any earlier holder's.
	Token int64
	// Ref is the driver's own handle (a node path, a key and its value).
	Ref any
}

// Announced is a registration as a driver wrote it.
type Announced struct {
	// Session is the driver's session the registration lives in; 0 when it
	// lives in none (not yet announced, or its session ended).
	Session int64
	// Ref is the driver's own handle.
	Ref any
}

// Driver is the part of an adapter that talks to its server. The
// Coordinator in front of it has already checked every argument and that it
// is open; a driver reports server failures as plain errors (the
// Coordinator gives them their kind) and coord.ErrLocked as is.
//
// Every method must honour ctx. A write whose outcome is unknown (the
// connection broke, ctx ended while it was in flight) may have left
// something on the server: the driver hands its removal to
// Coordinator.CleanUp, so that nothing is left holding a lock or announcing
// an instance that nobody owns.
type Driver interface {
	// Acquire takes the named lock for holder if nobody holds it, without
	// waiting, and returns coord.ErrLocked if someone does (whoever: a
	// second Acquire of a held lock fails even in the same session).
	Acquire(ctx context.Context, name, holder string) (Held, error)
	// Release frees a lock Acquire took if it is still that holder's. A lock
	// already free, lost or taken by a later holder is left as it is, and
	// that is not an error.
	Release(ctx context.Context, h Held) error
	// Announce writes a registration of in into the current session. prev
	// is the registration it announces again after its session ended (nil
	// for a new one): if a newer registration of the same instance has
	// replaced prev since, Announce writes nothing and returns ErrReplaced;
	// if prev is still live in the current session, it returns prev.
	Announce(ctx context.Context, in coord.Instance, prev *Announced) (Announced, error)
	// Withdraw removes a registration if it is still the one Announce
	// wrote; a newer registration of the same instance is left in place.
	Withdraw(ctx context.Context, a Announced) error
	// Instances lists the live instances of service, one per instance id
	// (the newest registration of each).
	Instances(ctx context.Context, service string) ([]coord.Instance, error)
	// Ping checks the server answers.
	Ping(ctx context.Context) error
	// Close ends the driver's session (its locks and registrations go with
	// it) and its connections. It is called once.
	Close() error
}

// retryAfter is how long the background worker waits before it tries again
// a clean-up or an announcement that failed: the server is likely still out
// of reach, and a caller is not waiting on it.
const retryAfter = time.Second

// Coordinator is the portable coord.Coordinator over a Driver. It is safe
// for concurrent use.
type Coordinator struct {
	kind      string // the server's name in errors: "zookeeper", "etcd"
	drv       Driver
	opTimeout time.Duration

	ctx    context.Context // ended by Close, for background work
	cancel context.CancelFunc
	wake   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below and those of locks and registrations
	started   bool
	closed    bool
	session   int64          // the driver's current session, 0 when it has none
	suspended bool           // the current session may be over: its locks are lost
	ended     map[int64]bool // sessions known to be over
	locks     map[*lock]struct{}
	regs      map[*registration]struct{}
	cleanups  []cleanup
}

// cleanup is something a session may have left on the server.
type cleanup struct {
	session int64
	run     func(ctx context.Context) error
}

// New returns a Coordinator for a driver still to be connected. kind names
// the server in errors; opTimeout bounds each background call to it
// (deregistrations, clean-ups, announcements in a new session). The driver
// reports its session through SessionStarted and the other session methods
// from now on, and is handed over with Start once it is connected.
func New(kind string, opTimeout time.Duration) *Coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		kind:      kind,
		opTimeout: opTimeout,
		ctx:       ctx,
		cancel:    cancel,
		wake:      make(chan struct{}, 1),
		ended:     map[int64]bool{},
		locks:     map[*lock]struct{}{},
		regs:      map[*registration]struct{}{},
	}
}

// Start hands over the connected driver and starts the background work.
// Nothing may call the Coordinator's coord.Coordinator methods before.
func (c *Coordinator) Start(drv Driver) {
	c.mu.Lock()
	c.drv = drv
	c.started = true
	c.mu.Unlock()
	c.wg.Add(1)
	go c.work()
}

// SessionStarted tells that the driver has a usable session: a new one
// (registrations of earlier sessions are announced again in it) or the
// current one, reachable again after a suspension (what it left behind is
// cleaned up now).
func (c *Coordinator) SessionStarted(id int64) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.session != 0 && c.session != id {
		// A new session means the old one is over, whether or not the
		// driver said so first.
		c.endLocked(c.session)
	}
	c.session, c.suspended = id, false
	c.mu.Unlock()
	c.kick()
}

// SessionSuspended tells that the driver cannot be sure its session is
// still alive (it has been out of touch with the server too long): its
// locks are lost now, before the server can give them to someone else, and
// released on the server once the session is reachable again. Its
// registrations are kept: they are announced again if it turns out over.
func (c *Coordinator) SessionSuspended(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.session != id || c.suspended {
		return
	}
	c.suspended = true
	for l := range c.locks {
		if l.held.Session != id {
			continue
		}
		l.loseLocked()
		c.cleanUpLocked(id, l.release)
	}
}

// SessionEnded tells that the driver's session is over: the server has
// dropped its locks and registrations. Its locks are lost; its
// registrations are announced again in the next session.
func (c *Coordinator) SessionEnded(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.endLocked(id)
	if c.session == id {
		c.session, c.suspended = 0, false
	}
}

func (c *Coordinator) endLocked(id int64) {
	c.ended[id] = true
	for l := range c.locks {
		if l.held.Session == id {
			l.gone = true
			l.loseLocked()
		}
	}
	c.cleanups = slices.DeleteFunc(c.cleanups, func(x cleanup) bool { return x.session == id })
}

// CleanUp hands over something session may have left on the server (a lock
// node or key whose write had an unknown outcome, a registration whose
// removal failed): run is called, again after each failure, while session
// is the driver's current, reachable session, until it succeeds or the
// session ends (and what it left ends with it).
func (c *Coordinator) CleanUp(session int64, run func(ctx context.Context) error) {
	c.mu.Lock()
	c.cleanUpLocked(session, run)
	c.mu.Unlock()
	c.kick()
}

func (c *Coordinator) cleanUpLocked(session int64, run func(ctx context.Context) error) {
	if c.closed || c.ended[session] {
		return // what the session left went with it
	}
	c.cleanups = append(c.cleanups, cleanup{session: session, run: run})
}

func (c *Coordinator) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// work runs clean-ups and announcements whenever the session allows, and
// retries what failed.
func (c *Coordinator) work() {
	defer c.wg.Done()
	retry := time.NewTimer(retryAfter)
	retry.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-retry.C:
		}
		if !c.pass() {
			retry.Reset(retryAfter)
		}
	}
}

// pass does the pending background work once; it reports whether all of
// it succeeded.
func (c *Coordinator) pass() bool {
	c.mu.Lock()
	if c.closed || c.session == 0 || c.suspended {
		// Nothing can be done before the driver has a usable session;
		// SessionStarted wakes the worker then.
		c.mu.Unlock()
		return true
	}
	session := c.session
	var jobs []cleanup
	c.cleanups = slices.DeleteFunc(c.cleanups, func(x cleanup) bool {
		if x.session == session {
			jobs = append(jobs, x)
			return true
		}
		return false
	})
	type announce struct {
		r    *registration
		prev *Announced
	}
	var todo []announce
	for r := range c.regs {
		if r.ann.Session != session {
			var prev *Announced
			if r.ann.Ref != nil {
				p := r.ann
				prev = &p
			}
			todo = append(todo, announce{r, prev})
		}
	}
	c.mu.Unlock()

	ok := true
	for _, j := range jobs {
		if err := c.call(j.run); err != nil {
			ok = false
			c.mu.Lock()
			if c.session == session {
				c.cleanUpLocked(session, j.run)
			}
			c.mu.Unlock()
		}
	}
	for _, a := range todo {
		var got Announced
		err := c.call(func(ctx context.Context) (err error) {
			got, err = c.drv.Announce(ctx, a.r.in, a.prev)
			return err
		})
		switch {
		case errors.Is(err, ErrReplaced):
			a.r.forget()
		case err != nil:
			ok = false
		default:
			c.mu.Lock()
			if a.r.removed || c.closed {
				c.cleanUpLocked(got.Session, func(ctx context.Context) error { return c.drv.Withdraw(ctx, got) })
			} else {
				a.r.ann = got
			}
			c.mu.Unlock()
		}
	}
	return ok
}

// call runs a background call to the driver, bounded by opTimeout and ended
// by Close.
func (c *Coordinator) call(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.opTimeout)
	defer cancel()
	return f(ctx)
}

// usable reports whether the coordinator can take locks and register now.
func (c *Coordinator) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usableLocked()
}

func (c *Coordinator) usableLocked() error {
	switch {
	case c.closed:
		return ErrClosed
	case c.session == 0 || c.suspended:
		return errs.E(errs.Unavailable, "coordination (%s): no session with the server", c.kind)
	}
	return nil
}

// fail gives a driver's error its kind: context errors, coord.ErrLocked
// and Herald errors pass as they are; anything else means the server could
// not be used.
func (c *Coordinator) fail(op string, err error) error {
	var e *errs.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, coord.ErrLocked), errors.As(err, &e):
		return err
	}
	return errs.Wrap(err, errs.Unavailable, fmt.Sprintf("coordination (%s): %s failed", c.kind, op))
}

// TryLock takes the named lock if nobody holds it. Locks are not
// re-entrant: a held lock is held, whoever asks.
func (c *Coordinator) TryLock(ctx context.Context, name, holder string) (coord.Lock, error) {
	var v errs.Fields
	if name == "" {
		v.Add("name", "must not be empty")
	}
	if holder == "" {
		v.Add("holder", "must not be empty")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	h, err := c.drv.Acquire(ctx, name, holder)
	if err != nil {
		return nil, c.fail("taking lock "+name, err)
	}
	l := &lock{c: c, name: name, held: h, lost: make(chan struct{})}
	c.mu.Lock()
	if err := c.usableLocked(); err != nil || c.session != h.Session {
		// The session changed while the lock was being taken: the lock is
		// not one this coordinator can vouch for. Give it back.
		if !c.closed {
			c.cleanUpLocked(h.Session, l.release)
		}
		c.mu.Unlock()
		c.kick()
		if err == nil {
			err = errs.E(errs.Unavailable, "coordination (%s): the session changed while taking lock %s", c.kind, name)
		}
		return nil, err
	}
	c.locks[l] = struct{}{}
	c.mu.Unlock()
	return l, nil
}

// Register announces in until ctx ends, deregister is called or the
// coordinator is closed; it is announced again in every new session until
// then. A later registration of the same instance replaces it. deregister
// waits for the server at most opTimeout; if it cannot be reached, the
// registration is removed as soon as it can be, or ends with the session.
func (c *Coordinator) Register(ctx context.Context, in coord.Instance) (func(), error) {
	var v errs.Fields
	if in.Service == "" {
		v.Add("service", "must not be empty")
	}
	if in.ID == "" {
		v.Add("id", "must not be empty")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	a, err := c.drv.Announce(ctx, in, nil)
	if err != nil {
		return nil, c.fail("registering "+in.Service+"/"+in.ID, err)
	}
	r := &registration{c: c, in: in, ann: a}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.regs[r] = struct{}{}
	// If ctx has ended by now, the watcher runs at once on its own
	// goroutine and waits for c.mu like any caller.
	r.stop = context.AfterFunc(ctx, r.remove)
	stale := a.Session != c.session
	c.mu.Unlock()
	if stale {
		c.kick() // announce it in the current session
	}
	return r.remove, nil
}

// Instances lists the live instances of service, ordered by id.
func (c *Coordinator) Instances(ctx context.Context, service string) ([]coord.Instance, error) {
	if service == "" {
		var v errs.Fields
		v.Add("service", "must not be empty")
		return nil, v.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	out, err := c.drv.Instances(ctx, service)
	if err != nil {
		return nil, c.fail("listing instances of "+service, err)
	}
	slices.SortFunc(out, func(a, b coord.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Ping fails when the coordinator is closed, has no session, or the server
// does not answer.
func (c *Coordinator) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.usable(); err != nil {
		return err
	}
	return c.fail("ping", c.drv.Ping(ctx))
}

// Close ends the session: its locks are lost, its registrations withdrawn
// (the server drops them with the session). Closing again does nothing.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for l := range c.locks {
		l.gone = true
		l.loseLocked()
	}
	var stops []func() bool
	for r := range c.regs {
		r.removed = true
		stops = append(stops, r.stop)
	}
	c.regs = nil
	c.cleanups = nil
	started := c.started
	c.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	c.cancel()
	c.wg.Wait()
	if !started {
		return nil
	}
	return c.drv.Close()
}

// lock is a held lock.
type lock struct {
	c    *Coordinator
	name string
	held Held
	lost chan struct{}
	// The fields below are guarded by c.mu.
	isLost   bool
	gone     bool // its session ended or the coordinator closed: nothing is left on the server
	released bool // Release succeeded
}

func (l *lock) Name() string          { return l.name }
func (l *lock) Token() int64          { return l.held.Token }
func (l *lock) Lost() <-chan struct{} { return l.lost }

func (l *lock) loseLocked() {
	delete(l.c.locks, l)
	if !l.isLost {
		l.isLost = true
		close(l.lost)
	}
}

// Unlock frees the lock. Unlocking a lock that is already unlocked or lost
// is not an error, and never frees a lock another holder has taken since.
// If the server cannot be reached, Lost is closed all the same, the lock is
// freed on the server as soon as it can be, and the error says so; calling
// Unlock again then returns nil.
func (l *lock) Unlock(ctx context.Context) error {
	c := l.c
	c.mu.Lock()
	// A lock already lost has nothing more to give back: its session took
	// it along, or its release is already in the coordinator's hands.
	done := l.isLost || l.gone || l.released
	l.loseLocked()
	c.mu.Unlock()
	if done {
		return nil
	}
	err := l.release(ctx)
	if err == nil {
		return nil
	}
	c.CleanUp(l.held.Session, l.release)
	return errs.Wrap(err, errs.Unavailable,
		fmt.Sprintf("coordination (%s): lock %s is released here; the server frees it once it can be reached", c.kind, l.name))
}

// release frees the lock on the server; it is Unlock's work and the
// clean-up of a suspended session's lock.
func (l *lock) release(ctx context.Context) error {
	if err := l.c.drv.Release(ctx, l.held); err != nil {
		return err
	}
	l.c.mu.Lock()
	l.released = true
	l.c.mu.Unlock()
	return nil
}

// registration is one Register call's entry.
type registration struct {
	c  *Coordinator
	in coord.Instance
	// The fields below are guarded by c.mu.
	ann     Announced   // the latest announcement; its Session is 0 or an ended one when it needs announcing again
	removed bool        // deregistered, or forgotten after being replaced
	stop    func() bool // detaches the context watcher
}

// remove deregisters r; it is both the deregister func and the context
// watcher, and may run any number of times.
func (r *registration) remove() {
	c := r.c
	c.mu.Lock()
	if r.removed {
		c.mu.Unlock()
		return
	}
	r.removed = true
	delete(c.regs, r)
	a, stop := r.ann, r.stop
	c.mu.Unlock()
	stop()
	if a.Ref == nil {
		return
	}
	if err := c.call(func(ctx context.Context) error { return c.drv.Withdraw(ctx, a) }); err != nil {
		c.CleanUp(a.Session, func(ctx context.Context) error { return c.drv.Withdraw(ctx, a) })
	}
}

// forget drops a registration a newer one has replaced: it is no longer
// announced, and deregistering it does nothing.
func (r *registration) forget() {
	c := r.c
	c.mu.Lock()
	if r.removed {
		c.mu.Unlock()
		return
	}
	r.removed = true
	delete(c.regs, r)
	stop := r.stop
	c.mu.Unlock()
	stop()
}

// Interface guards.
var (
	_ coord.Coordinator = (*Coordinator)(nil)
	_ coord.Lock        = (*lock)(nil)
)
