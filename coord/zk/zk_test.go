package zk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// testPath keeps this package's nodes apart from a real installation's.
const testPath = "/herald-test"

// wait bounds how long a test waits for a session to end or come back:
// the servers expire a session between one and one and a half timeouts
// after they last heard from it.
const wait = 20 * time.Second

func serverAddr(t testing.TB) string {
	return servertest.Addr(t, "HERALD_TEST_ZOOKEEPER_ADDR", "127.0.0.1:2181")
}

func mustOpen(t testing.TB, rawURL string) *Coordinator {
	t.Helper()
	c, err := coord.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*Coordinator)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	// Every session reaches the server through its own proxy, so that the
	// suite can expire one session the way the servers do: by not hearing
	// from it for longer than its timeout. 6s keeps that within the suite's
	// wait (the servers expire a session up to a tick, 2s, late) while
	// leaving a loaded machine room before a slow answer cuts a session.
	var proxies sync.Map // *Coordinator -> *servertest.Proxy
	coordtest.Run(t,
		func(t *testing.T) coord.Coordinator {
			p := servertest.NewProxy(t, addr)
			c, err := coord.Open(t.Context(), "zk://"+p.Addr()+testPath+"?ttl=6s")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			proxies.Store(c, p)
			return c
		},
		coordtest.WithExpire(func(t *testing.T, c coord.Coordinator) {
			p, ok := proxies.Load(c)
			if !ok {
				t.Fatal("expire: not a session the suite opened")
			}
			p.(*servertest.Proxy).Pause()
		}),
	)
}

func waitLost(t *testing.T, l coord.Lock, within time.Duration) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(within):
		t.Fatalf("Lost() of %q not closed after %v", l.Name(), within)
	}
}

// A session the servers expire is replaced by a new one: the old session's
// locks are lost for good and its instances are registered again.
func TestSessionExpiryStartsNewSession(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	ctx := t.Context()
	p := servertest.NewProxy(t, addr)
	a := mustOpen(t, "zk://"+p.Addr()+testPath+"?ttl=6s")
	b := mustOpen(t, "zk://"+addr+testPath)
	svc, name := id.New("zktest_svc"), id.New("zktest_lock")
	in := coord.Instance{Service: svc, ID: "a", Addr: "10.0.0.1:8080"}
	dereg, err := a.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer dereg()
	l, err := a.TryLock(ctx, name, "a")
	if err != nil {
		t.Fatal(err)
	}
	first := a.SessionID()

	p.Pause()
	// Poll for the lock from another session: the moment the servers hand
	// it over, the cut-off holder must have stopped claiming it.
	var next coord.Lock
	servertest.Eventually(t, wait, "the servers expire the session and another takes the lock", func() error {
		next, err = b.TryLock(ctx, name, "b")
		return err
	})
	select {
	case <-l.Lost():
	default:
		t.Fatal("another session took the lock while its cut-off holder still claimed it")
	}
	servertest.Eventually(t, wait, "the expired session's registration is gone", func() error {
		got, err := b.Instances(ctx, svc)
		if err != nil || len(got) != 0 {
			return fmt.Errorf("Instances = %v, %v; want none", got, err)
		}
		return nil
	})
	if next.Token() <= l.Token() {
		t.Errorf("token after expiry = %d, want > %d", next.Token(), l.Token())
	}

	p.Resume()
	servertest.Eventually(t, wait, "the instance is registered again in a new session", func() error {
		if s := a.SessionID(); s == first || s == 0 {
			return fmt.Errorf("session is %#x, want a new one", s)
		}
		got, err := b.Instances(ctx, svc)
		if err != nil || !slices.Equal(got, []coord.Instance{in}) {
			return fmt.Errorf("Instances = %v, %v; want %v", got, err, in)
		}
		return a.Ping(ctx)
	})
	if _, err := a.TryLock(ctx, name, "a"); !errors.Is(err, coord.ErrLocked) {
		t.Errorf("TryLock of the lock the new holder has: %v, want coord.ErrLocked", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("Unlock of the expired lock: %v", err)
	}
	select {
	case <-next.Lost():
		t.Error("the new holder lost the lock")
	default:
	}
}

// A client cut off for longer than a third of its session timeout stops
// claiming its locks; if the session then comes back, the lock nodes are
// deleted, so the locks are free for others and not held by nobody.
func TestSuspendedLocksAreFreedWhenTheSessionReturns(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	ctx := t.Context()
	p := servertest.NewProxy(t, addr)
	// A timeout long enough for the session to outlive the cut.
	a := mustOpen(t, "zk://"+p.Addr()+testPath+"?ttl=12s")
	b := mustOpen(t, "zk://"+addr+testPath)
	name := id.New("zktest_lock")
	l, err := a.TryLock(ctx, name, "a")
	if err != nil {
		t.Fatal(err)
	}
	session := a.SessionID()
	p.Pause()
	waitLost(t, l, wait)
	// The session is alive on the servers: its node still holds the lock.
	if _, err := b.TryLock(ctx, name, "b"); !errors.Is(err, coord.ErrLocked) {
		t.Fatalf("TryLock while the cut-off session lives: %v, want coord.ErrLocked", err)
	}
	p.Resume()
	var next coord.Lock
	servertest.Eventually(t, wait, "the lock is freed once the session returns", func() error {
		next, err = b.TryLock(ctx, name, "b")
		return err
	})
	if got := a.SessionID(); got != session {
		t.Errorf("session after the cut = %#x, want the same %#x", got, session)
	}
	if next.Token() <= l.Token() {
		t.Errorf("token = %d, want > %d", next.Token(), l.Token())
	}
	if err := a.Ping(ctx); err != nil {
		t.Errorf("Ping after the cut: %v", err)
	}
}

// The grace before locks are given up follows the timeout the servers
// granted, not the one asked for: they raise a timeout below their least.
func TestGraceFollowsGrantedTimeout(t *testing.T) {
	t.Parallel()
	c := mustOpen(t, "zk://"+serverAddr(t)+testPath+"?ttl=1s")
	granted := time.Duration(c.d.negotiatedMS.Load()) * time.Millisecond
	if granted < time.Second {
		t.Fatalf("granted timeout = %v, want it read from the client (at least the 1s asked)", granted)
	}
	if got := c.d.grace(); got != granted/3 {
		t.Errorf("grace = %v, want %v", got, granted/3)
	}
}

func TestOpenFailsFastWhenUnreachable(t *testing.T) {
	t.Parallel()
	addr := servertest.ClosedAddr(t)
	start := time.Now()
	c, err := coord.Open(t.Context(), "zk://herald:s3cret@"+addr+"/herald?connect_timeout=1s")
	if err == nil {
		_ = c.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v, want it to fail within a few seconds", d)
	}
	msg := err.Error()
	for _, want := range []string{"coord zk://herald:xxxxx@" + addr + "/herald", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
		t.Errorf("error %q shows the password or spans lines", msg)
	}
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("error kind = %v, want unavailable", errs.KindOf(err))
	}
}

// Nodes created with credentials are theirs: a client with other
// credentials, or none, is refused at Open.
func TestOpenRefusesOtherCredentials(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	path := "/herald-test-auth-" + strings.ToLower(id.New("run"))
	owner := mustOpen(t, "zk://alice:right@"+addr+path)
	t.Cleanup(func() { deleteTree(t, addr, "alice:right", path) })
	if _, err := owner.TryLock(t.Context(), "leader", "alice"); err != nil {
		t.Fatalf("TryLock with the owning credentials: %v", err)
	}
	for _, u := range []string{
		"zk://alice:wrong@" + addr + path,
		"zk://mallory:right@" + addr + path,
		"zk://" + addr + path,
	} {
		c, err := coord.Open(t.Context(), u)
		if err == nil {
			_ = c.Close()
			t.Errorf("Open(%q) succeeded, want it refused", u)
			continue
		}
		if !errs.Is(err, errs.Forbidden) || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q) = %v; want a forbidden error naming the path, without the password", u, err)
		}
	}
}

// deleteTree removes path and everything under it with the given digest
// credentials.
func deleteTree(t *testing.T, addr, auth, path string) {
	conn, _, err := zk.Connect([]string{addr}, 4*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	if err := conn.AddAuth("digest", []byte(auth)); err != nil {
		t.Error(err)
		return
	}
	var del func(p string) error
	del = func(p string) error {
		kids, _, err := conn.Children(p)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		for _, k := range kids {
			if err := del(p + "/" + k); err != nil {
				return err
			}
		}
		if err := conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		return nil
	}
	if err := del(path); err != nil {
		t.Errorf("deleting %s: %v", path, err)
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}

func TestOpenRejectsBadURLs(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, field string }{
		{"zk:///herald", "host"},
		{"zk://127.0.0.1:2181,,127.0.0.2:2181/herald", "host"},
		{"zk://127.0.0.1:2181/herald/", "path"},
		{"zk://127.0.0.1:2181/her ald", "path"},
		{"zk://127.0.0.1:2181/herald?ttl=soon", "ttl"},
		{"zk://127.0.0.1:2181/herald?ttl=10ms", "ttl"},
		{"zk://127.0.0.1:2181/herald?ttl=10s&session_timeout=10s", "session_timeout"},
		{"zk://127.0.0.1:2181/herald?connect_timeout=-1s", "connect_timeout"},
		{"zk://127.0.0.1:2181/herald?chroot=/x", "chroot"},
		{"zk://:secret@127.0.0.1:2181/herald", "user"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := coord.Open(t.Context(), tc.url)
			if err == nil {
				_ = c.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("err = %v, want errs.Invalid", err)
			}
			if _, ok := e.Fields[tc.field]; !ok {
				t.Errorf("err = %v, want it to name %q", err, tc.field)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("err = %v shows the password", err)
			}
		})
	}
}
