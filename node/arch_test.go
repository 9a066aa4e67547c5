package node_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The services must stay apart so they can run on different machines:
// none imports another, and each touches only the tables with its prefix.

var services = map[string]string{ // package folder -> table prefix
	"portal":    "portal_",
	"trigger":   "trigger_",
	"publisher": "publisher_",
	"notify":    "notify_",
}

const module = "github.com/heraldhq/herald/"

func TestServicesDoNotImportEachOther(t *testing.T) {
	t.Parallel()
	for pkg := range services {
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", "../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			for other := range services {
				if other != pkg && (p.ImportPath == module+other || strings.HasPrefix(p.ImportPath, module+other+"/")) {
					t.Errorf("%s depends on %s: services reach each other only through their contracts and events", pkg, p.ImportPath)
				}
			}
			if p.ImportPath == module+"node" {
				t.Errorf("%s depends on the composition root", pkg)
			}
		}
	}
}

// tableRef finds the table named after SQL keywords that name one.
var tableRef = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|INTO|UPDATE|TABLE(?: IF NOT EXISTS| IF EXISTS)?|INDEX(?: IF NOT EXISTS)? \w+ ON)\s+([a-z_][a-z0-9_]*)`)

func TestServicesTouchOnlyTheirOwnTables(t *testing.T) {
	t.Parallel()
	for pkg, prefix := range services {
		err := filepath.WalkDir("../"+pkg, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if !strings.HasSuffix(path, ".sql") && !(strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go")) {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range tableRef.FindAllStringSubmatch(string(src), -1) {
				name := strings.ToLower(m[1])
				if !strings.Contains(name, "_") {
					continue // a word after FROM in a comment or message, not a table
				}
				for other, otherPrefix := range services {
					if other != pkg && strings.HasPrefix(name, otherPrefix) {
						t.Errorf("%s touches %s, a table of %s", path, name, other)
					}
				}
				if !strings.HasPrefix(name, prefix) && looksLikeTable(name) {
					t.Errorf("%s touches %s, which lacks the %s prefix", path, name, prefix)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// looksLikeTable tells a Herald table name from other snake_case words
// the pattern may catch (SQL functions, column lists).
func looksLikeTable(name string) bool {
	for _, p := range services {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.HasSuffix(name, "_outbox") || strings.HasSuffix(name, "_inbox") || strings.HasSuffix(name, "schema_version")
}
