package zk

import (
	"testing"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
)

// TestRestartZooKeeper restarts the shared server under held locks and
// registrations (see coordtest.SurvivesRestart).
func TestRestartZooKeeper(t *testing.T) {
	coordtest.SurvivesRestart(t, "zookeeper", "40s", "4s", func(t *testing.T, ttl string) coord.Coordinator {
		u := "zk://" + serverAddr(t) + testPath
		if ttl != "" {
			u += "?ttl=" + ttl
		}
		return mustOpen(t, u)
	})
}
