package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, path, yaml string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrate(t *testing.T) {
	dir, dst := t.TempDir(), t.TempDir()
	if _, _, err := run(t, "admin", "create", "--data-dir", dir, "--agency", "Acme", "--name", "Ada", "--email", "ada@acme.test", "--password", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	from := writeConfig(t, filepath.Join(dst, "from.yaml"), "data_dir: "+dir+"\n")
	to := writeConfig(t, filepath.Join(dst, "to.yaml"), "data_dir: "+dir+"\nstore:\n  url: sqlite://"+dst+"/herald.db\nblob:\n  url: file://"+dst+"/media\n")

	out, stderr, err := run(t, "migrate", "--from-config", from, "--to-config", to)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	for _, want := range []string{"portal_users", "OK: the target holds the same"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "must be stopped") {
		t.Errorf("migrate does not remind the operator to stop the nodes:\n%s", stderr)
	}
	// Flags win over the files; --verify-only copies nothing.
	out, stderr, err = run(t, "migrate", "--verify-only", "--from-config", from, "--to-store", "sqlite://"+dst+"/herald.db")
	if err != nil || !strings.Contains(out, "OK:") || strings.Contains(out, "copied in") {
		t.Errorf("migrate --verify-only: %v\n%s\n%s", err, out, stderr)
	}
}

func TestMigrateRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	other := writeConfig(t, filepath.Join(dir, "other.yaml"), "data_dir: "+dir+"\nsecret_key: "+strings.Repeat("ab", 32)+"\n")
	mine := writeConfig(t, filepath.Join(dir, "mine.yaml"), "data_dir: "+dir+"\nsecret_key: "+strings.Repeat("cd", 32)+"\n")
	tests := []struct {
		name string
		args []string
		flag string
	}{
		{"no target", []string{"--from-store", "sqlite://" + dir + "/a.db"}, "to-store"},
		{"no source", []string{"--to-store", "sqlite://" + dir + "/b.db"}, "from-store"},
		{"media without a target", []string{"--from-store", "sqlite://" + dir + "/a.db", "--to-store", "sqlite://" + dir + "/b.db", "--from-blob", "file://" + dir + "/m"}, "to-blob"},
		{"media without a source", []string{"--from-store", "sqlite://" + dir + "/a.db", "--to-store", "sqlite://" + dir + "/b.db", "--to-blob", "file://" + dir + "/m"}, "from-blob"},
		{"a missing configuration file", []string{"--from-config", filepath.Join(dir, "nowhere.yaml"), "--to-store", "sqlite://" + dir + "/b.db"}, "from-config"},
		{"another secret key", []string{"--from-config", mine, "--to-config", other, "--to-store", "sqlite://" + dir + "/b.db"}, "to-config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := run(t, append([]string{"migrate"}, tc.args...)...)
			if err == nil || !strings.Contains(stderr, tc.flag+":") {
				t.Errorf("migrate %v: %v, want an error naming %s:\n%s", tc.args, err, tc.flag, stderr)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			t.Errorf("refused flags left %s behind", e.Name())
		}
	}
}
