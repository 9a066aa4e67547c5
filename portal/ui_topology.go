package portal

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/errs"
)

// TopologyNode is one Herald node as the owners' topology page shows it.
// The node package fills it from the coordination registry and each node's
// own report.
type TopologyNode struct {
	ID       string
	URL      string
	Services []string
	Links    []TopologyLink
	Ready    bool
	// Problems are the checks that failed (readiness) or why the node
	// could not be asked at all.
	Problems []string
	// Outbox is each local service's events not yet on the bus.
	Outbox map[string]int
	// CacheHitRatio is hits / reads, or below 0 before the first read.
	CacheHitRatio float64
}

// TopologyLink is how a node reaches one service.
type TopologyLink struct {
	Service   string
	Transport string
	Nodes     []string // the URLs it spreads calls over ("local" for a method call)
	Down      []string // nodes skipped for now after refusing connections
	Discover  bool
}

// CachePercent is the hit ratio as a percentage, "" before the first read.
func (n TopologyNode) CachePercent() string {
	if n.CacheHitRatio < 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", n.CacheHitRatio*100)
}

type topologyPageView struct {
	chrome
	Nodes []TopologyNode
	Error string
}

// GET /settings/topology (owners only): where each service runs and how
// the nodes reach each other.
func (u *webUI) topologyPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	if u.s.cfg.Topology == nil {
		return errs.E(errs.NotFound, "this installation does not report its topology")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v := topologyPageView{chrome: u.chrome(w, r, p, "Topology", "topology")}
	nodes, err := u.s.cfg.Topology(ctx)
	if err != nil {
		u.s.log.Warn("ui: topology", "err", err)
		v.Error = "The topology could not be read now; try again in a moment."
	}
	v.Nodes = nodes
	u.render(w, r, http.StatusOK, "topology", v)
	return nil
}
