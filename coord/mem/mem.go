package mem

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"sync"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/errs"
)

func init() {
	coord.Register("mem", func(ctx context.Context, u *url.URL) (coord.Coordinator, error) {
		if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.RawQuery != "" {
			return nil, errs.E(errs.Invalid, "coordination URL %q: mem:// takes no host, path or options", u.Redacted())
		}
		return New(), nil
	})
}

// errClosed is returned by every call on a closed Coordinator.
var errClosed = errs.E(errs.Unavailable, "coordination: closed")

// space is the shared state every session of one coordination space sees:
// what a ZooKeeper ensemble or an etcd cluster holds for its clients.
type space struct {
	mu sync.Mutex
	// lastToken is the last fencing token handed out. One counter for every
	// lock name is enough: tokens only need to grow per name.
	lastToken int64
	locks     map[string]*lock                    // held locks by name
	instances map[string]map[string]*registration // service -> instance id -> latest registration
}

// Coordinator is one session of an in-process coordination space. It is
// safe for concurrent use.
type Coordinator struct {
	sp *space
	// The fields below are guarded by sp.mu.
	closed bool
	held   map[*lock]struct{}
	regs   map[*registration]struct{}
}

// New returns the first session of a new, empty coordination space.
func New() *Coordinator {
	return newSession(&space{
		locks:     map[string]*lock{},
		instances: map[string]map[string]*registration{},
	})
}

func newSession(sp *space) *Coordinator {
	return &Coordinator{sp: sp, held: map[*lock]struct{}{}, regs: map[*registration]struct{}{}}
}

// NewSession returns another session of c's coordination space: it contends
// for the same locks and sees the same registry, and closing or expiring one
// session does not affect the other.
func (c *Coordinator) NewSession() *Coordinator { return newSession(c.sp) }

// TryLock takes the named lock if no session holds it. Locks are not
// re-entrant: a second TryLock of a held lock fails with coord.ErrLocked
// whoever asks, so two parts of one process cannot both believe they own it.
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
	c.sp.mu.Lock()
	defer c.sp.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if _, ok := c.sp.locks[name]; ok {
		return nil, coord.ErrLocked
	}
	c.sp.lastToken++
	l := &lock{name: name, holder: holder, token: c.sp.lastToken, owner: c, lost: make(chan struct{})}
	c.sp.locks[name] = l
	c.held[l] = struct{}{}
	return l, nil
}

// Register announces in until ctx ends, deregister is called, or the session
// ends. A later registration of the same service and instance id replaces
// it; deregistering the replaced one then leaves the newer one in place.
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
	r := &registration{in: in, owner: c}
	c.sp.mu.Lock()
	if c.closed {
		c.sp.mu.Unlock()
		return nil, errClosed
	}
	byID := c.sp.instances[in.Service]
	if byID == nil {
		byID = map[string]*registration{}
		c.sp.instances[in.Service] = byID
	}
	if old := byID[in.ID]; old != nil {
		// The newer registration wins; the replaced one is forgotten by its
		// session so that ending that session does not remove this one.
		delete(old.owner.regs, old)
	}
	byID[in.ID] = r
	c.regs[r] = struct{}{}
	// Watching ctx under sp.mu is safe: if ctx has ended already, the watcher
	// starts on its own goroutine and waits for sp.mu like any caller.
	r.stop = context.AfterFunc(ctx, r.remove)
	c.sp.mu.Unlock()
	return r.remove, nil
}

// Instances lists the registered instances of service, ordered by id.
func (c *Coordinator) Instances(ctx context.Context, service string) ([]coord.Instance, error) {
	if service == "" {
		var v errs.Fields
		v.Add("service", "must not be empty")
		return nil, v.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.sp.mu.Lock()
	defer c.sp.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	out := make([]coord.Instance, 0, len(c.sp.instances[service]))
	for _, r := range c.sp.instances[service] {
		out = append(out, r.in)
	}
	slices.SortFunc(out, func(a, b coord.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Ping fails only once the session is closed.
func (c *Coordinator) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sp.mu.Lock()
	defer c.sp.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return nil
}

// Close ends the session: its locks are lost and its instances deregistered.
// Closing again does nothing.
func (c *Coordinator) Close() error {
	c.sp.mu.Lock()
	c.closed = true
	stops := c.endLocked()
	c.sp.mu.Unlock()
	stopAll(stops)
	return nil
}

// Expire does to the session what a server does to a client it has not
// heard from for too long: every lock it holds is lost (Lost closes, other
// sessions may take it) and its instances are deregistered. The session
// stays usable, like a client that reconnects with a new session. It exists
// so that tests can exercise what callers do when a lock is lost.
func (c *Coordinator) Expire() {
	c.sp.mu.Lock()
	stops := c.endLocked()
	c.sp.mu.Unlock()
	stopAll(stops)
}

// endLocked releases everything the session holds. It returns the stop
// functions of the registrations' context watchers, to be called without
// holding sp.mu (a watcher that is running waits for sp.mu).
func (c *Coordinator) endLocked() []func() bool {
	for l := range c.held {
		l.releaseLocked()
	}
	stops := make([]func() bool, 0, len(c.regs))
	for r := range c.regs {
		r.removeLocked()
		stops = append(stops, r.stop)
	}
	return stops
}

func stopAll(stops []func() bool) {
	for _, stop := range stops {
		stop()
	}
}

// lock is a lock held by one session.
type lock struct {
	name, holder string
	token        int64
	owner        *Coordinator
	lost         chan struct{}
	released     bool // guarded by owner.sp.mu
}

func (l *lock) Name() string          { return l.name }
func (l *lock) Token() int64          { return l.token }
func (l *lock) Lost() <-chan struct{} { return l.lost }

// Unlock frees the lock. Unlocking a lock that is already unlocked or lost
// is not an error, and never frees a lock another holder has taken since.
func (l *lock) Unlock(context.Context) error {
	l.owner.sp.mu.Lock()
	defer l.owner.sp.mu.Unlock()
	l.releaseLocked()
	return nil
}

func (l *lock) releaseLocked() {
	if l.released {
		return
	}
	l.released = true
	sp := l.owner.sp
	if sp.locks[l.name] == l {
		delete(sp.locks, l.name)
	}
	delete(l.owner.held, l)
	close(l.lost)
}

// registration is one Register call's entry.
type registration struct {
	in    coord.Instance
	owner *Coordinator
	// stop detaches the ctx watcher. Guarded by owner.sp.mu.
	stop func() bool
}

// remove deregisters r; it is both the deregister func and the ctx watcher,
// and may run any number of times.
func (r *registration) remove() {
	sp := r.owner.sp
	sp.mu.Lock()
	r.removeLocked()
	stop := r.stop
	sp.mu.Unlock()
	stop()
}

func (r *registration) removeLocked() {
	sp := r.owner.sp
	if byID := sp.instances[r.in.Service]; byID[r.in.ID] == r {
		delete(byID, r.in.ID)
		if len(byID) == 0 {
			delete(sp.instances, r.in.Service)
		}
	}
	delete(r.owner.regs, r)
}

// Interface guards.
var (
	_ coord.Coordinator = (*Coordinator)(nil)
	_ coord.Lock        = (*lock)(nil)
)
