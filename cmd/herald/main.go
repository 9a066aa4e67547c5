// Command herald runs Herald: every service in one process by default, or
// the ones a node's configuration names.
package main

import (
	"os"

	_ "time/tzdata" // the zone database travels with the binary
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}
