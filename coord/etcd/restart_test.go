package etcd

import (
	"testing"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/coordtest"
)

// TestRestartEtcd restarts the shared server under held locks and
// registrations (see coordtest.SurvivesRestart). etcd keeps leases across a
// restart and renews them when it comes back.
func TestRestartEtcd(t *testing.T) {
	coordtest.SurvivesRestart(t, "etcd", "30s", "2s", func(t *testing.T, ttl string) coord.Coordinator {
		u := "etcd://" + serverAddr(t) + testPath
		if ttl != "" {
			u += "?ttl=" + ttl
		}
		return mustOpen(t, u)
	})
}
