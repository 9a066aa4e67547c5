package node_test

import (
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/config"
	_ "github.com/heraldhq/herald/node" // registers every adapter's URL scheme
)

// Every example in deploy/ is a valid configuration for this binary, for
// every node of a split.
func TestDeployExamplesAreValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../deploy/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy examples found (%v)", err)
	}
	for _, file := range files {
		if filepath.Base(file) == "compose.yaml" {
			continue // not a Herald configuration: see deploy_files_test.go
		}
		for _, services := range [][]string{nil, {"portal"}, {"trigger"}, {"publisher"}, {"notification"}} {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			config.Flags(fs)
			args := []string{"--config", file}
			for _, s := range services {
				args = append(args, "--services", s)
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(fs, []string{"HERALD_INTERNAL_TOKEN=shared-between-nodes"})
			split := len(services) > 0
			if split && filepath.Base(file) != "split-cluster.yaml" {
				// The single-node examples reach every service by method
				// call: a node running only one service must be refused.
				if err == nil {
					t.Errorf("%s with --services %v: accepted a node that cannot reach the other services", file, services)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (services %v): %v", file, services, err)
				continue
			}
			if c.Store.URL == "" || c.Bus.URL == "mem://" || c.Coord.URL == "mem://" {
				t.Errorf("%s: a production example must not use embedded ports: store %q bus %q coord %q", file, c.Store.URL, c.Bus.URL, c.Coord.URL)
			}
		}
	}
}
