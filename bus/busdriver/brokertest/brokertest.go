// Package brokertest finds, checks and restarts the real brokers that the
// bus adapters' tests talk to, and measures them for benchmarks, the same way
// for every adapter.
//
// A test names its server by an environment variable with a loopback
// default (scripts/test-infra.sh env prints them). When nothing answers
// there, the test is skipped, or fails when CI=true: in CI a missing server
// is a failure. Tests that restart a shared server run only when
// HERALD_TEST_RESTARTS=1, which `make test` sets for a separate serial phase,
// because a restart disturbs every other test using that server.
//
// It must never start a server itself (scripts/test-infra.sh does), nor be
// imported by anything but tests.
package brokertest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/servertest"
)

// Server returns the broker URL (or host:port) in the environment variable
// env, or def when it is unset, once something accepts TCP connections
// there. Otherwise it skips t, or fails it when CI=true.
func Server(t testing.TB, env, def string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		raw = def
	}
	addr, err := hostPort(raw)
	if err != nil {
		t.Fatalf("brokertest: %s=%q: %v", env, raw, err)
	}
	servertest.Reachable(t, env, addr)
	return raw
}

// hostPort returns the first host:port of a URL ("nats://a:4222,b:4222",
// "amqp://user:pass@host:5672/") or a bare host:port.
func hostPort(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, _, _ := strings.Cut(u.Host, ",")
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" {
		return "", fmt.Errorf("the address %q has no port", host)
	}
	return host, nil
}

// ClosedAddr returns a loopback host:port on which nothing listens.
func ClosedAddr(t testing.TB) string { return servertest.ClosedAddr(t) }

// RequireRestarts skips t unless HERALD_TEST_RESTARTS=1 (make test runs
// restart tests in their own serial phase, with the variable set).
func RequireRestarts(t testing.TB) { servertest.RequireRestarts(t) }

// Restart stops the named server (postgres, redis, rabbitmq, nats, ...) and
// starts it again through scripts/test-infra.sh. It calls RequireRestarts
// first.
func Restart(t testing.TB, name string) {
	t.Helper()
	RequireRestarts(t)
	servertest.Restart(t, name)
}

// Eventually polls cond every few milliseconds until it holds, failing t
// after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
