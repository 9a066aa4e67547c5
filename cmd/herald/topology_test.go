package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
)

// The command asks a real node and prints its nodes, services, links,
// readiness and backlog; a wrong token is refused with a clear message.
func TestTopologyCommand(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := "http://" + ln.Addr().String()
	cfg, err := config.Load(nil, []string{
		"HERALD_DATA_DIR=" + t.TempDir(), "HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_INTERNAL_TOKEN=topology-test", "HERALD_NODE_ID=solo-1",
		"HERALD_SERVICES__TRIGGER__TRANSPORT=grpc", "HERALD_SERVICES__TRIGGER__URL=" + self,
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), cfg, slog.New(slog.DiscardHandler), node.WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})

	run := func(args ...string) (string, error) {
		root := rootCmd()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		err := root.Execute()
		return out.String() + errOut.String(), err
	}
	out, err := run("topology", "--url", self, "--token", "topology-test")
	if err != nil {
		t.Fatalf("topology: %v\n%s", err, out)
	}
	for _, want := range []string{
		"NODE", "solo-1", self, "notification,publisher,trigger,portal",
		"trigger       grpc              " + self, // the link names its transport and node
		"portal        local             local",
		"outbox pending: notification 0, publisher 0, trigger 0, portal 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(out, "\n"); len(lines) < 2 || !strings.Contains(lines[1], " yes ") {
		t.Errorf("solo-1 not shown ready:\n%s", out)
	}

	if os.Getenv("HERALD_INTERNAL_TOKEN") == "" {
		out, err = run("topology", "--url", self)
		if err == nil || !strings.Contains(out, "internal token is needed") {
			t.Errorf("no token: %v\n%s", err, out)
		}
	}
	out, err = run("topology", "--url", self, "--token", "wrong")
	if err == nil || !strings.Contains(out, "refused the internal token") {
		t.Errorf("a wrong token: %v\n%s", err, out)
	}
}
