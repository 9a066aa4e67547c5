package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/publisher"
)

// TestBadFailpointStopsStartUp: a misspelt test failpoint must not start a
// server that silently never dies where the crash test expects it to.
func TestBadFailpointStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(publisher.FailpointEnv, "publisher.after_cal:0.5")
	_, stderr, err := run(t, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve started with a misspelt failpoint")
	}
	if !strings.Contains(stderr, "unknown failpoint") || !strings.Contains(stderr, "publisher.after_cal") {
		t.Errorf("the message should name the unknown failpoint: %q", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "herald.db")); !os.IsNotExist(err) {
		t.Errorf("a refused start-up left a database behind (%v)", err)
	}
}
