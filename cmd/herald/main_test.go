package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the herald command line in process and returns its output.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := rootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	t.Setenv("HERALD_SECRET_KEY", strings.Repeat("cd", 32))
	t.Setenv("HERALD_SMTP__URL", "smtp://mailer:hunter22@mail.example.com:587")
	out, _, err := run(t, "config", "print", "--listen", ":9999")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listen: :9999", "secret_key: REDACTED", "smtp://mailer:REDACTED@mail.example.com:587"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter22") || strings.Contains(out, "cdcd") {
		t.Errorf("config print leaks a secret:\n%s", out)
	}
}

func TestBadConfigurationStopsStartUpNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(file, []byte("store:\n  url: mysql://nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run(t, "serve", "--config", file, "--data-dir", dir)
	if err == nil {
		t.Fatal("serve started with a bad configuration")
	}
	if !strings.Contains(stderr, "store.url") || !strings.Contains(stderr, "mysql") {
		t.Errorf("the message should name store.url and the bad scheme: %q", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "herald.db")); !os.IsNotExist(err) {
		t.Errorf("a refused start-up left a database behind (%v)", err)
	}
}

func TestAdminCreate(t *testing.T) {
	dir := t.TempDir()
	args := []string{"admin", "create", "--data-dir", dir, "--agency", "Acme Social", "--name", "Ada", "--email", "ada@acme.test"}
	out, _, err := run(t, append(args, "--password", "a long enough password")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "created agency agency_") || !strings.Contains(out, "ada@acme.test") {
		t.Errorf("unexpected output %q", out)
	}
	// The same email again is refused, and a short password names the field.
	if _, _, err := run(t, append(args, "--password", "a long enough password")...); err == nil {
		t.Error("a second agency with the same owner email was created")
	}
	_, stderr, err := run(t, "admin", "create", "--data-dir", dir, "--agency", "B", "--name", "Bo", "--email", "bo@acme.test", "--password", "short")
	if err == nil || !strings.Contains(stderr, "password") {
		t.Errorf("a short password should be refused naming the field: %v %q", err, stderr)
	}
}

func TestUnreachableServerStopsStartUpNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HERALD_STORE__URL", "postgres://herald:s3cret@127.0.0.1:1/herald")
	_, stderr, err := run(t, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve started without its store")
	}
	t.Log(stderr)
	for _, want := range []string{"store.url", "127.0.0.1:1"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the message should name %q: %q", want, stderr)
		}
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the message shows the password: %q", stderr)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
		t.Errorf("the message should be one line, got %d more: %q", n, stderr)
	}
}
