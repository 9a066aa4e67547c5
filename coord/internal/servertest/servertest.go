// Package servertest finds the real servers the coordination adapters'
// tests run against (ZooKeeper, etcd): the address a HERALD_TEST_* variable
// names, or the default scripts/test-infra.sh prints, checked to accept
// connections before a test relies on it; and restarts a server for the
// restart tests.
//
// A test whose server is missing is skipped, except under CI=true, where a
// missing server is a failure. Restart tests run only with
// HERALD_TEST_RESTARTS=1, because they stop servers other tests share. It
// must never start or install servers itself: that is
// scripts/test-infra.sh's job.
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
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, "%s: no server at %s (%v); start it with scripts/test-infra.sh", env, addr, err)
	}
	_ = c.Close()
	return addr
}

// Missing skips the test because something it needs is not there, or fails
// it under CI=true, where everything must be.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRestarts skips the test unless HERALD_TEST_RESTARTS=1.
func RequireRestarts(t testing.TB) {
	t.Helper()
	if os.Getenv("HERALD_TEST_RESTARTS") != "1" {
		t.Skip("restarts a shared server: runs only with HERALD_TEST_RESTARTS=1")
	}
}

// Restart stops the named server of scripts/test-infra.sh ("zookeeper",
// "etcd") and starts it again; the script returns once the server answers.
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
	start := time.Now()
	out, err := exec.CommandContext(ctx, "bash", script, "restart", name).CombinedOutput()
	if err != nil {
		t.Fatalf("restarting %s: %v\n%s", name, err, out)
	}
	t.Logf("restarted %s in %v:\n%s", name, time.Since(start).Round(time.Millisecond), out)
}

// findScript looks for scripts/test-infra.sh in the directories above the
// working directory, where the repository keeps it.
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
			return "", errors.New("HERALD_TEST_INFRA is not set and there is no scripts/test-infra.sh above the working directory")
		}
		dir = parent
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

// Eventually calls f until it returns nil, failing the test with f's last
// error once within has passed: servers answer a while after a restart,
// and sessions end a while after they are cut off.
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
