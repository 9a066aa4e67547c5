package node

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/portal"
)

// Topology endpoints, behind the internal token like every call between
// nodes: the whole installation as this node sees it, and this node alone.
const (
	TopologyPath     = "/admin/topology"
	NodeTopologyPath = "/admin/topology/node"
)

// Topology is every node of an installation.
type Topology struct {
	Nodes []NodeReport `json:"nodes"`
}

// NodeReport is what one node says about itself.
type NodeReport struct {
	ID       string   `json:"id"`
	URL      string   `json:"url,omitempty"`
	Services []string `json:"services"`
	Links    []Link   `json:"links,omitempty"`
	Ready    bool     `json:"ready"`
	// Checks are the readiness checks, "name: ok" or "name: error".
	Checks []string `json:"checks,omitempty"`
	// Outbox counts each local service's events not yet on the bus.
	Outbox      map[string]int `json:"outbox,omitempty"`
	CacheHits   int64          `json:"cache_hits"`
	CacheMisses int64          `json:"cache_misses"`
	// Error says why the node could not be asked (the report is then
	// what the registry knows).
	Error string `json:"error,omitempty"`
}

// Link is how a node reaches one service.
type Link struct {
	Service   string   `json:"service"`
	Transport string   `json:"transport"`
	Discover  bool     `json:"discover,omitempty"`
	Nodes     []string `json:"nodes"`
	Down      []string `json:"down,omitempty"`
}

// CacheHitRatio is hits over reads, or -1 before the first read.
func (r NodeReport) CacheHitRatio() float64 {
	if r.CacheHits+r.CacheMisses == 0 {
		return -1
	}
	return float64(r.CacheHits) / float64(r.CacheHits+r.CacheMisses)
}

func (n *Node) mountTopology() {
	token := n.cfg.InternalToken
	n.mux.Handle("GET "+NodeTopologyPath, bind.RequireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Report(r.Context()))
	})))
	n.mux.Handle("GET "+TopologyPath, bind.RequireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Topology(r.Context()))
	})))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Report describes this node: services, links, readiness, backlog, cache.
func (n *Node) Report(ctx context.Context) NodeReport {
	n.disc.mu.Lock()
	self := n.disc.advertise
	n.disc.mu.Unlock()
	r := NodeReport{ID: n.cfg.NodeID, URL: self, Services: append([]string(nil), n.cfg.Services.Run...), Ready: true}
	for _, c := range n.checks(ctx) {
		if c.err != nil {
			r.Ready = false
			r.Checks = append(r.Checks, fmt.Sprintf("%s: %v", c.name, c.err))
		} else {
			r.Checks = append(r.Checks, c.name+": ok")
		}
	}
	if n.admit.saturated() {
		r.Ready = false
		r.Checks = append(r.Checks, "admission: saturated, refusing requests")
	}
	for _, s := range config.AllServices {
		ep := n.cfg.Services.Endpoint(s)
		l := Link{Service: s, Transport: ep.Transport, Discover: ep.Discover}
		switch bal := n.disc.binder.Links[s]; {
		case ep.Transport == config.TransportLocal:
			if !n.cfg.Services.Runs(s) {
				continue // not used here (config refuses a local link it would use)
			}
			l.Nodes = []string{"local"}
		case bal != nil:
			urls, err := bal.Resolver.Resolve(ctx)
			if err != nil {
				l.Down = []string{err.Error()}
			}
			l.Nodes, l.Down = append([]string(nil), urls...), append(l.Down, bal.Down()...)
		default:
			l.Nodes = ep.URLs()
		}
		r.Links = append(r.Links, l)
	}
	// The collectors behind /metrics already count these (and bound the
	// outbox queries); read them rather than ask again.
	if mfs, err := n.metrics.Registry.Gather(); err == nil {
		for _, mf := range mfs {
			switch mf.GetName() {
			case "herald_outbox_pending":
				for _, m := range mf.GetMetric() {
					if r.Outbox == nil {
						r.Outbox = map[string]int{}
					}
					r.Outbox[label(m.GetLabel(), "service")] = int(m.GetGauge().GetValue())
				}
			case "herald_cache_gets_total":
				for _, m := range mf.GetMetric() {
					switch label(m.GetLabel(), "result") {
					case "hit":
						r.CacheHits = int64(m.GetCounter().GetValue())
					case "miss":
						r.CacheMisses = int64(m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return r
}

func label[L interface {
	GetName() string
	GetValue() string
}](labels []L, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Topology is every node the registry knows, each described by itself
// (this one directly, the others through their NodeTopologyPath), sorted
// by id. A node that cannot be asked is listed with the error.
func (n *Node) Topology(ctx context.Context) Topology {
	self := n.Report(ctx)
	nodes := []NodeReport{self}
	ins, err := n.Coord.Instances(ctx, NodeService)
	if err != nil {
		nodes[0].Checks = append(nodes[0].Checks, "registry: "+err.Error())
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range ins {
		if in.ID == self.ID {
			continue
		}
		wg.Go(func() {
			r := n.askNode(ctx, in.Addr)
			if r.ID == "" {
				r.ID = in.ID
			}
			r.URL = cmp.Or(r.URL, in.Addr)
			mu.Lock()
			nodes = append(nodes, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(nodes, func(a, b NodeReport) int { return cmp.Compare(a.ID, b.ID) })
	return Topology{Nodes: nodes}
}

// askNode fetches another node's report.
func (n *Node) askNode(ctx context.Context, base string) NodeReport {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var r NodeReport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+NodeTopologyPath, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	req.Header.Set(bind.TokenHeader, n.cfg.InternalToken)
	resp, err := n.disc.binder.HTTP.Do(req)
	if err != nil {
		r.Error = "not reachable: " + err.Error()
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.Error = "answered " + resp.Status
		return r
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		r.Error = "unreadable report: " + err.Error()
	}
	return r
}

// portalTopology is the topology as the owners' page shows it.
func (n *Node) portalTopology(ctx context.Context) ([]portal.TopologyNode, error) {
	t := n.Topology(ctx)
	out := make([]portal.TopologyNode, 0, len(t.Nodes))
	for _, r := range t.Nodes {
		p := portal.TopologyNode{ID: r.ID, URL: r.URL, Services: r.Services, Ready: r.Ready && r.Error == "",
			Outbox: r.Outbox, CacheHitRatio: r.CacheHitRatio()}
		if r.Error != "" {
			p.Problems = append(p.Problems, r.Error)
		}
		for _, c := range r.Checks {
			if !strings.HasSuffix(c, ": ok") {
				p.Problems = append(p.Problems, c)
			}
		}
		for _, l := range r.Links {
			p.Links = append(p.Links, portal.TopologyLink{Service: l.Service, Transport: l.Transport, Nodes: l.Nodes, Down: l.Down, Discover: l.Discover})
		}
		out = append(out, p)
	}
	return out, nil
}
