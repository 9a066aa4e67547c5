package zk

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/internal/portable"
	"github.com/heraldhq/herald/errs"
)

func init() {
	coord.Register("zk", func(ctx context.Context, u *url.URL) (coord.Coordinator, error) {
		c, err := Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return c, nil
	})
}

// Coordinator is a coord.Coordinator kept by ZooKeeper.
type Coordinator struct {
	*portable.Coordinator
	d *driver
}

// Open connects to the ensemble u names and returns once it has a session
// and Herald's nodes are in place. It fails within connect_timeout if no
// server gives it a session, and at once if the servers refuse its
// credentials.
func Open(ctx context.Context, u *url.URL) (*Coordinator, error) {
	t, err := portable.ParseURL(u, "2181", time.Second, "session_timeout")
	if err != nil {
		return nil, err
	}
	pc := portable.New("zookeeper", t.ConnectTimeout)
	d := &driver{
		t:        t,
		pc:       pc,
		acl:      zk.WorldACL(zk.PermAll),
		locks:    t.Path + "/locks",
		services: t.Path + "/services",
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if t.Username != "" {
		// "auth" stands for whichever credentials created the node.
		d.acl = zk.AuthACL(zk.PermAll)
	}
	conn, _, err := zk.Connect(t.Servers, t.TTL,
		zk.WithLogger(clientLog{d}), zk.WithLogInfo(true), zk.WithEventCallback(d.onEvent))
	if err != nil {
		return nil, portable.OpenFailed(t, errs.Invalid, "cannot use these servers", err)
	}
	d.conn = conn
	if err := d.start(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	d.session = conn.SessionID()
	pc.SessionStarted(d.session)
	pc.Start(d)
	go d.watchSession()
	return &Coordinator{Coordinator: pc, d: d}, nil
}

// start waits for a session and puts Herald's nodes in place.
func (d *driver) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.t.ConnectTimeout)
	defer cancel()
	// The client connects in the background; its state says when the
	// servers have given it a session.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for d.conn.State() != zk.StateHasSession {
		select {
		case <-ctx.Done():
			cause := errors.New("no server answered")
			if msg := d.lastLog.Load(); msg != nil {
				cause = errors.New(*msg)
			}
			return portable.OpenFailed(d.t, errs.Unavailable,
				fmt.Sprintf("no ZooKeeper session within %v", d.t.ConnectTimeout), cause)
		case <-tick.C:
		}
	}
	if d.t.Username != "" {
		auth := []byte(d.t.Username + ":" + d.t.Password)
		if _, err := run(ctx, func() (struct{}, error) { return struct{}{}, d.conn.AddAuth("digest", auth) }); err != nil {
			return portable.OpenFailed(d.t, errs.Unauthenticated, "the servers refused the credentials", err)
		}
	}
	// Create the path, then check that these credentials may use it: a
	// node created with other credentials refuses them.
	var paths []string
	for i := 1; i < len(d.t.Path); i++ {
		if d.t.Path[i] == '/' {
			paths = append(paths, d.t.Path[:i])
		}
	}
	paths = append(paths, d.t.Path, d.locks, d.services)
	for _, p := range paths {
		_, err := run(ctx, func() (string, error) { return d.conn.Create(p, nil, zk.FlagPersistent, d.acl) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return d.openFailed(p, err)
		}
	}
	for _, p := range []string{d.locks, d.services} {
		if _, err := run(ctx, func() ([]string, error) { kids, _, err := d.conn.Children(p); return kids, err }); err != nil {
			return d.openFailed(p, err)
		}
	}
	return nil
}

func (d *driver) openFailed(path string, err error) error {
	if errors.Is(err, zk.ErrNoAuth) {
		return portable.OpenFailed(d.t, errs.Forbidden,
			fmt.Sprintf("the servers refuse these credentials access to %s", path), err)
	}
	return portable.OpenFailed(d.t, errs.Unavailable, fmt.Sprintf("cannot create %s", path), err)
}

// driver is the ZooKeeper side of the coordinator.
type driver struct {
	t               portable.Target
	pc              *portable.Coordinator
	conn            *zk.Conn
	acl             []zk.ACL
	locks, services string // the parent paths of lock and service nodes

	// negotiatedMS is the session timeout the servers granted, in
	// milliseconds, once known.
	negotiatedMS atomic.Int64
	// lastLog is the client library's last message: the cause of an Open
	// that gets no session.
	lastLog atomic.Pointer[string]

	wake chan struct{} // an event to look at
	done chan struct{} // closed by Close

	mu             sync.Mutex // guards the fields below
	expired        bool       // the servers said the session expired
	disconnectedAt time.Time  // when the connection was lost; zero when connected
	session        int64      // the session the coordinator was last told about
}

// onEvent is called by the client for every event, on its own goroutine,
// and must not block: it notes what happened and wakes watchSession.
func (d *driver) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	d.mu.Lock()
	switch ev.State {
	case zk.StateDisconnected:
		if d.disconnectedAt.IsZero() {
			d.disconnectedAt = time.Now()
		}
	case zk.StateExpired:
		d.expired = true
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// watchSession turns the client's state into what the coordinator needs
// to know: a session started, ended, or out of touch for too long.
func (d *driver) watchSession() {
	suspend := time.NewTimer(time.Hour)
	suspend.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-d.wake:
		case <-suspend.C:
		}
		if wait := d.reconcile(); wait > 0 {
			suspend.Reset(wait)
		}
	}
}

// reconcile tells the coordinator about the session as it is now; it
// returns how long to wait before looking again, or 0.
func (d *driver) reconcile() time.Duration {
	d.mu.Lock()
	old, expired := d.session, d.expired
	d.expired = false
	// Read after taking the expiry note: the client stores a session's end
	// before it reports it, so what is read now is never older than the
	// note.
	state, id := d.conn.State(), d.conn.SessionID()
	if old != 0 && (expired || (id != 0 && id != old)) {
		d.session = 0
	}
	connected := state == zk.StateHasSession && id != 0
	if connected {
		d.session, d.disconnectedAt = id, time.Time{}
	} else if d.disconnectedAt.IsZero() {
		d.disconnectedAt = time.Now()
	}
	session, since := d.session, time.Since(d.disconnectedAt)
	d.mu.Unlock()

	if old != 0 && old != session {
		slog.Warn("coord: ZooKeeper session ended; its locks are lost", "url", d.t.Redacted, "session", fmt.Sprintf("%#x", old))
		d.pc.SessionEnded(old)
	}
	switch {
	case connected:
		if old != session {
			slog.Info("coord: new ZooKeeper session", "url", d.t.Redacted, "session", fmt.Sprintf("%#x", session))
		}
		d.pc.SessionStarted(session)
	case session != 0:
		grace := d.grace()
		if since < grace {
			return grace - since
		}
		d.pc.SessionSuspended(session)
	}
	return 0
}

// grace is how long the client may be disconnected before it stops
// claiming its locks: a third of the session timeout (see the package
// documentation).
func (d *driver) grace() time.Duration {
	timeout := d.t.TTL
	if ms := d.negotiatedMS.Load(); ms > 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	return timeout / 3
}

// clientLog takes the client library's messages: they are debug logs, the
// last one is kept as the cause of a failed Open, and the session timeout
// the servers granted is read from the one that announces it (the library
// exposes it nowhere else; if its wording changes, the timeout asked for
// is used instead).
type clientLog struct{ d *driver }

func (l clientLog) Printf(format string, args ...any) {
	if format == "authenticated: id=%d, timeout=%d" && len(args) == 2 {
		if ms, ok := args[1].(int32); ok {
			l.d.negotiatedMS.Store(int64(ms))
		}
	}
	msg := fmt.Sprintf(format, args...)
	l.d.lastLog.Store(&msg)
	slog.Debug("coord: zookeeper client: "+msg, "url", l.d.t.Redacted)
}

// run calls f, a call to the client, and returns its result or ctx's error
// if ctx ends first (the client's calls take no context; f finishes on its
// own goroutine then, and its result is dropped).
func run[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// runWrite is run for a call that leaves something on the server when it
// succeeds: if ctx ends first, what it leaves is handed to undo.
func runWrite[T any](ctx context.Context, f func() (T, error), undo func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				undo(r.v)
			}
		}()
		var zero T
		return zero, ctx.Err()
	}
}

// definite are the errors after which a write certainly did not happen;
// after any other, it may have.
var definite = []error{
	zk.ErrNoNode, zk.ErrNodeExists, zk.ErrNoAuth, zk.ErrInvalidACL, zk.ErrBadArguments,
	zk.ErrInvalidPath, zk.ErrInvalidFlags, zk.ErrNoChildrenForEphemerals, zk.ErrNoServer,
}

func uncertain(err error) bool {
	for _, e := range definite {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// createNode creates an ephemeral sequential node named prefix+sequence
// under dir, creating dir as a container node if it is missing (the servers
// remove empty containers). The node name holds a random part that
// identifies it, so a create whose outcome is unknown can be found and
// undone: that is handed to the coordinator's clean-up.
func (d *driver) createNode(dir, prefix string, data []byte) (string, error) {
	session := d.conn.SessionID()
	for range 3 {
		p, err := d.conn.Create(dir+"/"+prefix, data, zk.FlagEphemeralSequential, d.acl)
		if !errors.Is(err, zk.ErrNoNode) {
			if err != nil && uncertain(err) {
				d.leftBehind(session, func() error { return d.deleteByPrefix(dir, prefix) })
			}
			return p, err
		}
		_, err = d.conn.CreateContainer(dir, nil, zk.FlagContainer, d.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return "", err
		}
	}
	return "", fmt.Errorf("creating a node under %s: its parent keeps disappearing", dir)
}

// leftBehind hands undo to the coordinator's clean-up for the session a
// write was sent in, and for the one after it if it changed meanwhile.
func (d *driver) leftBehind(session int64, undo func() error) {
	f := func(ctx context.Context) error {
		_, err := run(ctx, func() (struct{}, error) { return struct{}{}, undo() })
		return err
	}
	d.pc.CleanUp(session, f)
	if now := d.conn.SessionID(); now != session && now != 0 {
		d.pc.CleanUp(now, f)
	}
}

// deleteByPrefix deletes the children of dir whose names start with prefix.
func (d *driver) deleteByPrefix(dir, prefix string) error {
	kids, _, err := d.conn.Children(dir)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, k := range kids {
		if strings.HasPrefix(k, prefix) {
			if err := d.deleteNode(dir + "/" + k); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteNode deletes a node this client created; one already gone is fine.
func (d *driver) deleteNode(path string) error {
	if err := d.conn.Delete(path, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	return nil
}

// newName returns a node name prefix no other client uses.
func newName(kind string) string { return kind + "~" + strings.ToLower(rand.Text()) + "~" }

// sequence is the sequence number the server appended to a node name.
func sequence(name string) (int64, bool) {
	const digits = 10
	if len(name) < digits {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-digits:], 10, 64)
	return n, err == nil
}

// Acquire runs the lock recipe (see the package documentation).
func (d *driver) Acquire(ctx context.Context, name, holder string) (portable.Held, error) {
	return runWrite(ctx,
		func() (portable.Held, error) { return d.acquire(d.locks+"/"+portable.Segment(name), holder) },
		func(h portable.Held) { d.leftBehind(h.Session, func() error { return d.deleteNode(h.Ref.(string)) }) })
}

func (d *driver) acquire(dir, holder string) (portable.Held, error) {
	// Look before writing: a held lock costs one read.
	kids, _, err := d.conn.Children(dir)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return portable.Held{}, err
	}
	if len(kids) > 0 {
		return portable.Held{}, coord.ErrLocked
	}
	session := d.conn.SessionID()
	path, err := d.createNode(dir, newName("lock"), []byte(holder))
	if err != nil {
		return portable.Held{}, err
	}
	giveBack := func() {
		if err := d.deleteNode(path); err != nil {
			d.leftBehind(session, func() error { return d.deleteNode(path) })
		}
	}
	kids, _, err = d.conn.Children(dir)
	if err != nil {
		giveBack()
		return portable.Held{}, err
	}
	mine := path[strings.LastIndexByte(path, '/')+1:]
	lowest, lowestSeq := "", int64(-1)
	for _, k := range kids {
		if seq, ok := sequence(k); ok && (lowestSeq < 0 || seq < lowestSeq) {
			lowest, lowestSeq = k, seq
		}
	}
	if lowest != mine {
		giveBack()
		return portable.Held{}, coord.ErrLocked
	}
	ok, st, err := d.conn.Exists(path)
	if err == nil && !ok {
		err = errors.New("the lock node vanished: the session ended")
	}
	if err != nil {
		giveBack()
		return portable.Held{}, err
	}
	return portable.Held{Session: st.EphemeralOwner, Token: st.Czxid, Ref: path}, nil
}

// Release deletes the lock's node: its path is the holder's alone.
func (d *driver) Release(ctx context.Context, h portable.Held) error {
	_, err := run(ctx, func() (struct{}, error) { return struct{}{}, d.deleteNode(h.Ref.(string)) })
	return err
}

// registration is what Announce wrote: the node and its czxid, which says
// which of several registrations of one instance is the newest.
type registration struct {
	path  string
	czxid int64
}

// entry is a registration node's data.
type entry struct {
	Service string `json:"service"`
	ID      string `json:"id"`
	Addr    string `json:"addr,omitempty"`
}

// Announce writes an ephemeral node for in. Registrations of one instance
// are told apart by czxid: the newest wins.
func (d *driver) Announce(ctx context.Context, in coord.Instance, prev *portable.Announced) (portable.Announced, error) {
	dir := d.services + "/" + portable.Segment(in.Service)
	return runWrite(ctx,
		func() (portable.Announced, error) { return d.announce(dir, in, prev) },
		func(a portable.Announced) {
			d.leftBehind(a.Session, func() error { return d.deleteNode(a.Ref.(registration).path) })
		})
}

func (d *driver) announce(dir string, in coord.Instance, prev *portable.Announced) (portable.Announced, error) {
	idPrefix := portable.Segment(in.ID) + "~"
	if prev != nil {
		old := prev.Ref.(registration)
		ok, st, err := d.conn.Exists(old.path)
		if err != nil {
			return portable.Announced{}, err
		}
		if ok && st.EphemeralOwner == d.conn.SessionID() {
			return portable.Announced{Session: st.EphemeralOwner, Ref: old}, nil
		}
		newest, err := d.newest(dir, idPrefix)
		if err != nil {
			return portable.Announced{}, err
		}
		if newest > old.czxid {
			return portable.Announced{}, portable.ErrReplaced
		}
	}
	data, err := json.Marshal(entry{Service: in.Service, ID: in.ID, Addr: in.Addr})
	if err != nil {
		return portable.Announced{}, err
	}
	path, err := d.createNode(dir, newName(portable.Segment(in.ID)), data)
	if err != nil {
		return portable.Announced{}, err
	}
	ok, st, err := d.conn.Exists(path)
	if err == nil && !ok {
		err = errors.New("the registration node vanished: the session ended")
	}
	if err != nil {
		if derr := d.deleteNode(path); derr != nil {
			d.leftBehind(d.conn.SessionID(), func() error { return d.deleteNode(path) })
		}
		return portable.Announced{}, err
	}
	return portable.Announced{Session: st.EphemeralOwner, Ref: registration{path: path, czxid: st.Czxid}}, nil
}

// newest returns the largest czxid of the nodes under dir named with
// prefix, or 0.
func (d *driver) newest(dir, prefix string) (int64, error) {
	kids, _, err := d.conn.Children(dir)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var newest int64
	for _, k := range kids {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		ok, st, err := d.conn.Exists(dir + "/" + k)
		if err != nil {
			return 0, err
		}
		if ok {
			newest = max(newest, st.Czxid)
		}
	}
	return newest, nil
}

// Withdraw deletes the registration's node: its path is that
// registration's alone, so a newer registration stays.
func (d *driver) Withdraw(ctx context.Context, a portable.Announced) error {
	_, err := run(ctx, func() (struct{}, error) { return struct{}{}, d.deleteNode(a.Ref.(registration).path) })
	return err
}

// Instances reads every registration node of service and keeps the newest
// of each instance.
func (d *driver) Instances(ctx context.Context, service string) ([]coord.Instance, error) {
	return run(ctx, func() ([]coord.Instance, error) {
		dir := d.services + "/" + portable.Segment(service)
		kids, _, err := d.conn.Children(dir)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		type found struct {
			in    coord.Instance
			czxid int64
			err   error
		}
		// The client pipelines concurrent calls on its one connection.
		res := make([]found, len(kids))
		var wg sync.WaitGroup
		for i, k := range kids {
			wg.Go(func() {
				data, st, err := d.conn.Get(dir + "/" + k)
				switch {
				case errors.Is(err, zk.ErrNoNode): // deregistered meanwhile
				case err != nil:
					res[i].err = err
				default:
					var e entry
					if jerr := json.Unmarshal(data, &e); jerr != nil || e.ID == "" {
						slog.Warn("coord: skipping a registration node that is not Herald's", "path", dir+"/"+k)
						return
					}
					res[i] = found{in: coord.Instance{Service: service, ID: e.ID, Addr: e.Addr}, czxid: st.Czxid}
				}
			})
		}
		wg.Wait()
		byID := map[string]found{}
		for _, f := range res {
			if f.err != nil {
				return nil, f.err
			}
			if f.czxid != 0 && f.czxid > byID[f.in.ID].czxid {
				byID[f.in.ID] = f
			}
		}
		out := make([]coord.Instance, 0, len(byID))
		for _, f := range byID {
			out = append(out, f.in)
		}
		return out, nil
	})
}

// Ping checks the client is connected and the servers answer.
func (d *driver) Ping(ctx context.Context) error {
	if s := d.conn.State(); s != zk.StateHasSession {
		return fmt.Errorf("not connected (%v)", s)
	}
	_, err := run(ctx, func() (bool, error) { ok, _, err := d.conn.Exists(d.t.Path); return ok, err })
	return err
}

// Close ends the session: the servers delete its ephemeral nodes at once.
func (d *driver) Close() error {
	close(d.done)
	d.conn.Close()
	return nil
}

// SessionID is the client's current ZooKeeper session, for logs and tests.
func (c *Coordinator) SessionID() int64 { return c.d.conn.SessionID() }

// Interface guards.
var (
	_ portable.Driver   = (*driver)(nil)
	_ coord.Coordinator = (*Coordinator)(nil)
)
