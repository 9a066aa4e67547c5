package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

// TestCrashLosesNoAcceptedWork kills herald serve with SIGKILL twice — once
// while posts wait for their time, once while a burst is being published —
// and restarts it on the same data directory: every accepted post goes out,
// none twice, none early.
func TestCrashLosesNoAcceptedWork(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command("go", "build", "-o", bin, "../cmd/herald")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building herald: %v", err)
	}
	sim := simnet.New(simnet.Options{RateLimit: -1})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	dataDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // herald serve binds it; a port just freed on loopback stays free
	base := "http://" + addr

	serve := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "HERALD_DATA_DIR="+dataDir, "HERALD_LISTEN="+addr,
			"HERALD_OUTBOUND__ALLOW_LOOPBACK=true", "HERALD_LOG__LEVEL=warn")
		logFile, _ := os.Create(filepath.Join(t.TempDir(), "herald.log"))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		eventually(t, "herald to be ready", func() bool {
			res, err := http.Get(base + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
		return cmd
	}
	crash := func(cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, _ = cmd.Process.Wait()
	}

	h := &herald{t: t, URL: base}
	proc := serve()
	c := h.newClient()
	email := uniqueEmail("crash")
	c.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Crash Co", "name": "Cris", "email": email, "password": "crash test dummy"}, http.StatusCreated)
	c.login(email, "crash test dummy")
	ws := str(c.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "WS", "timezone": "UTC"}, http.StatusCreated), "id")
	acct := str(c.call(http.MethodPost, "/api/v1/workspaces/"+ws+"/accounts", obj{"network": "mastodon", "instance_url": simSrv.URL, "access_token": sim.CreateAccount("crash")}, http.StatusCreated), "id")

	schedule := func(n int, at time.Time) {
		for i := range n {
			c.call(http.MethodPost, "/api/v1/workspaces/"+ws+"/posts", obj{
				"text": fmt.Sprintf("crash %s #%d", at.Format("150405"), i), "account_ids": []string{acct},
				"scheduled_at": at.UTC().Format("2006-01-02T15:04:05"),
			}, http.StatusCreated)
		}
	}

	// 1. Killed while posts wait: they go out after the restart.
	first := time.Now().Add(4 * time.Second).Truncate(time.Second)
	schedule(20, first)
	crash(proc)
	time.Sleep(time.Until(first.Add(time.Second)))
	proc = serve()
	eventually(t, "the 20 posts accepted before the crash to go out", func() bool { return len(sim.Statuses()) >= 20 })

	// 2. Killed in the middle of publishing a burst: the restart settles
	// every attempt, through the network's idempotency where the outcome
	// was unknown.
	c.login(email, "crash test dummy")
	second := time.Now().Add(4 * time.Second).Truncate(time.Second)
	schedule(200, second)
	for len(sim.Statuses()) < 20+10 && time.Until(second) > -10*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	crash(proc)
	serve()
	eventually(t, "all 220 posts to go out", func() bool { return len(sim.Statuses()) >= 220 })
	time.Sleep(2 * time.Second) // anything doubled would arrive by now

	statuses := sim.Statuses()
	if len(statuses) != 220 {
		t.Errorf("the network holds %d statuses, want exactly 220", len(statuses))
	}
	seen := map[string]bool{}
	for _, s := range statuses {
		if seen[s.Text] {
			t.Errorf("published twice: %q", s.Text)
		}
		seen[s.Text] = true
		var hhmmss string
		var i int
		if _, err := fmt.Sscanf(s.Text, "crash %s #%d", &hhmmss, &i); err == nil {
			due := first
			if hhmmss == second.Format("150405") {
				due = second
			}
			if s.CreatedAt.Before(due) {
				t.Errorf("%q went out at %s, before its time %s", s.Text, s.CreatedAt, due)
			}
		}
	}
	t.Logf("duplicates avoided by the network's idempotency: %d", sim.Stats().DuplicatesAvoided)
}
