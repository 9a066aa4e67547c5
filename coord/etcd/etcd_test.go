package etcd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// testPath keeps this package's keys apart from a real installation's.
const testPath = "/herald-test"

// wait bounds how long a test waits for a session to end or come back.
const wait = 20 * time.Second

func serverAddr(t testing.TB) string {
	return servertest.Addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379")
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

// rawClient is a plain etcd client, for doing to the cluster what the
// adapter would not.
func rawClient(t testing.TB, addr string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestConformance(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	raw := rawClient(t, addr)
	coordtest.Run(t,
		func(t *testing.T) coord.Coordinator {
			c, err := coord.Open(t.Context(), "etcd://"+addr+testPath)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return c
		},
		// The cluster ends a session by ending its lease.
		coordtest.WithExpire(func(t *testing.T, c coord.Coordinator) {
			lease := clientv3.LeaseID(c.(*Coordinator).LeaseID())
			if _, err := raw.Revoke(t.Context(), lease); err != nil {
				t.Fatalf("revoking lease %x: %v", lease, err)
			}
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

// A session whose lease ends is replaced by a new one: the old session's
// locks are lost for good and its instances are registered again.
func TestLeaseLossStartsNewSession(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	ctx := t.Context()
	a := mustOpen(t, "etcd://"+addr+testPath)
	b := mustOpen(t, "etcd://"+addr+testPath)
	svc, name := id.New("etcdtest_svc"), id.New("etcdtest_lock")
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
	first := a.LeaseID()
	if _, err := rawClient(t, addr).Revoke(ctx, clientv3.LeaseID(first)); err != nil {
		t.Fatal(err)
	}
	waitLost(t, l, wait)
	next, err := b.TryLock(ctx, name, "b")
	if err != nil {
		t.Fatalf("TryLock after the lease ended: %v", err)
	}
	if next.Token() <= l.Token() {
		t.Errorf("token after the lease ended = %d, want > %d", next.Token(), l.Token())
	}
	servertest.Eventually(t, wait, "the instance is registered again in a new session", func() error {
		if s := a.LeaseID(); s == first {
			return fmt.Errorf("lease is still %x", s)
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
	// Deregistering in the new session removes the registration written
	// there.
	dereg()
	servertest.Eventually(t, wait, "the instance is deregistered", func() error {
		got, err := b.Instances(ctx, svc)
		if err != nil || len(got) != 0 {
			return fmt.Errorf("Instances = %v, %v; want none", got, err)
		}
		return nil
	})
}

// A client that hears nothing from the cluster for two thirds of its
// lease's time to live stops claiming its locks, before the cluster could
// give them to someone else, and starts a new session when it can.
func TestUnrenewedLeaseLosesLocks(t *testing.T) {
	t.Parallel()
	addr := serverAddr(t)
	ctx := t.Context()
	p := servertest.NewProxy(t, addr)
	a := mustOpen(t, "etcd://"+p.Addr()+testPath+"?ttl=3s")
	b := mustOpen(t, "etcd://"+addr+testPath)
	name := id.New("etcdtest_lock")
	l, err := a.TryLock(ctx, name, "a")
	if err != nil {
		t.Fatal(err)
	}
	first := a.LeaseID()
	p.Pause()
	// Poll for the lock from another session: the moment the cluster
	// hands it over, the cut-off holder must have stopped claiming it.
	var next coord.Lock
	servertest.Eventually(t, wait, "the lease expires and another session takes the lock", func() error {
		next, err = b.TryLock(ctx, name, "b")
		return err
	})
	select {
	case <-l.Lost():
	default:
		t.Fatal("another session took the lock while its cut-off holder still claimed it")
	}
	if next.Token() <= l.Token() {
		t.Errorf("token = %d, want > %d", next.Token(), l.Token())
	}
	p.Resume()
	servertest.Eventually(t, wait, "a new session once the cluster is back", func() error {
		if a.LeaseID() == first {
			return errors.New("still the first lease")
		}
		return a.Ping(ctx)
	})
}

func TestOpenFailsFastWhenUnreachable(t *testing.T) {
	t.Parallel()
	addr := servertest.ClosedAddr(t)
	start := time.Now()
	c, err := coord.Open(t.Context(), "etcd://herald:s3cret@"+addr+"/herald?connect_timeout=1s")
	if err == nil {
		_ = c.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v, want it to fail within a few seconds", d)
	}
	msg := err.Error()
	for _, want := range []string{"coord etcd://herald:xxxxx@" + addr + "/herald", "connection refused"} {
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

func TestOpenRejectsBadURLs(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, field string }{
		{"etcd:///herald", "host"},
		{"etcd://127.0.0.1:2379/herald/", "path"},
		{"etcd://127.0.0.1:2379/herald?ttl=500ms", "ttl"},
		{"etcd://127.0.0.1:2379/herald?session_timeout=10s", "session_timeout"},
		{"etcd://127.0.0.1:2379/herald?connect_timeout=soon", "connect_timeout"},
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
		})
	}
}

// startPrivateEtcd starts an etcd of this test's own on loopback, for what
// must not be done to the shared one (turning authentication on). It is
// stopped when the test ends.
func startPrivateEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		servertest.Missing(t, "no etcd binary to start a private server (Debian package etcd-server): %v", err)
	}
	client, peer := servertest.ClosedAddr(t), servertest.ClosedAddr(t)
	cmd := exec.Command(bin, "--name", "private", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "private=http://"+peer)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("private etcd's log:\n%s", log.String())
		}
	})
	raw := rawClient(t, client)
	servertest.Eventually(t, wait, "the private etcd answers", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := raw.Get(ctx, "health")
		return err
	})
	return client
}

// A cluster with authentication refuses wrong credentials and missing
// ones at Open, and a role that may not read Herald's keys.
func TestOpenRefusesCredentials(t *testing.T) {
	t.Parallel()
	addr := startPrivateEtcd(t)
	ctx := t.Context()
	raw := rawClient(t, addr)
	for _, step := range []func() error{
		func() error { _, err := raw.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := raw.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := raw.UserAdd(ctx, "herald", "right"); return err },
		func() error { _, err := raw.RoleAdd(ctx, "herald"); return err },
		func() error {
			_, err := raw.RoleGrantPermission(ctx, "herald", "/herald/", clientv3.GetPrefixRangeEnd("/herald/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := raw.UserGrantRole(ctx, "herald", "herald"); return err },
		func() error { _, err := raw.UserAdd(ctx, "nobody", "right"); return err },
		func() error { _, err := raw.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up authentication: %v", err)
		}
	}

	c := mustOpen(t, "etcd://herald:right@"+addr+"/herald")
	if _, err := c.TryLock(ctx, "leader", "n1"); err != nil {
		t.Fatalf("TryLock with the right credentials: %v", err)
	}
	tests := []struct {
		url  string
		kind errs.Kind
	}{
		{"etcd://herald:wrong@" + addr + "/herald", errs.Unauthenticated},
		{"etcd://" + addr + "/herald", errs.Unauthenticated},
		{"etcd://nobody:right@" + addr + "/herald", errs.Forbidden},
	}
	for _, tc := range tests {
		start := time.Now()
		c, err := coord.Open(ctx, tc.url+"?connect_timeout=2s")
		if err == nil {
			_ = c.Close()
			t.Errorf("Open(%q) succeeded, want it refused", tc.url)
			continue
		}
		if !errs.Is(err, tc.kind) || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "coord etcd://") {
			t.Errorf("Open(%q) = %v; want a %s error naming the URL, without the password", tc.url, err, tc.kind)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Open(%q) took %v to be refused", tc.url, d)
		}
		if testing.Verbose() {
			t.Logf("Open(%q): %v", tc.url, err)
		}
	}
}
