package servertest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Addr returns the host:port in the environment variable env (def when
// unset), once something accepts connections there.
func Addr(t testing.TB, env, def string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	Reachable(t, env, addr)
	return addr
}

// Reachable checks that something accepts connections at addr (host:port),
// and otherwise skips the test, or fails it under CI=true; what names the
// server in the message.
func Reachable(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, "%s: no server at %s (%v); start it with scripts/test-infra.sh", what, addr, err)
		return
	}
	_ = c.Close()
}

// Missing skips the test because a server it needs is not there, or fails
// it under CI=true, where every server must be.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRestarts skips the test unless HERALD_TEST_RESTARTS=1: restart
// tests stop shared servers, so they run alone, in their own phase.
func RequireRestarts(t testing.TB) {
	t.Helper()
	if os.Getenv("HERALD_TEST_RESTARTS") != "1" {
		t.Skip("restarts a shared server: runs only with HERALD_TEST_RESTARTS=1")
	}
}

// Restart stops the named test server and starts it again, returning once it
// accepts connections. name is one of scripts/test-infra.sh's servers
// ("redis", "memcached", "s3").
func Restart(t testing.TB, name string) {
	t.Helper()
	RequireRestarts(t)
	script := os.Getenv("HERALD_TEST_INFRA")
	if script == "" {
		var err error
		if script, err = findScript(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, "restart", name).CombinedOutput()
	if err != nil {
		t.Fatalf("restart %s: %v\n%s", name, err, out)
	}
	t.Logf("restart %s:\n%s", name, out)
}

// findScript looks for scripts/test-infra.sh in the directories above the
// test's, where the repository keeps it.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "test-infra.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("HERALD_TEST_INFRA is not set and no scripts/test-infra.sh above the working directory")
		}
		dir = parent
	}
}

// Eventually calls f until it returns nil or the deadline passes, then fails
// the test with f's last error. Servers answer a while after a restart, and
// events arrive a while after they are sent; this waits for them without
// fixed sleeps.
func Eventually(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ClosedAddr returns a loopback host:port where nothing listens, for tests
// of an unreachable server.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
