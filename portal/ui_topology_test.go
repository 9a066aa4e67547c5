package portal

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// The topology page shows owners what the node hands Portal; a manager is
// refused it, and a topology that cannot be read is said so.
func TestTopologyPageIsForOwners(t *testing.T) {
	t.Parallel()
	var broken atomic.Bool
	b := setup(t, func(c *Config) {
		c.Topology = func(context.Context) ([]TopologyNode, error) {
			if broken.Load() {
				return nil, errors.New("registry down")
			}
			return []TopologyNode{
				{ID: "api-1", URL: "http://10.0.0.5:8080", Services: []string{"portal"}, Ready: true, CacheHitRatio: 0.875,
					Outbox: map[string]int{"portal": 3},
					Links: []TopologyLink{{Service: "portal", Transport: "local", Nodes: []string{"local"}},
						{Service: "trigger", Transport: "grpc", Discover: true, Nodes: []string{"http://10.0.0.6:8080"}, Down: []string{"http://10.0.0.7:8080"}}}},
				{ID: "trigger-1", URL: "http://10.0.0.6:8080", Services: []string{"trigger"}, CacheHitRatio: -1, Problems: []string{"coord: session expired"}},
			}, nil
		}
	})
	a := b.firstAgency(t)
	owner := a.browser(t, b)
	page := owner.must(http.StatusOK, owner.get("/settings/topology"))
	wantText(t, page.Body, "Topology", "api-1", "http://10.0.0.5:8080", "cache hit ratio 88%", "grpc (registry)",
		"http://10.0.0.6:8080", "skipping http://10.0.0.7:8080", "trigger-1", "not ready", "coord: session expired")
	if strings.Count(page.Body, "data-node-id=") != 2 {
		t.Errorf("want two nodes on the page:\n%s", page.Body)
	}

	manager := b.invite(t, a, "max@acme.test", RoleManager)
	mb := b.browser(t)
	mb.cookies["herald_session"] = manager.cookie
	if res := mb.get("/settings/topology"); res.Status != http.StatusForbidden {
		t.Errorf("manager got %d, want 403", res.Status)
	} else if strings.Contains(res.Body, "api-1") {
		t.Error("the refusal shows the topology")
	}

	broken.Store(true)
	wantText(t, owner.must(http.StatusOK, owner.get("/settings/topology")).Body, "could not be read now")
}

func TestTopologyPageWithoutATopology(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	c.must(http.StatusNotFound, c.get("/settings/topology"))
}
