package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

const discoveryToken = "discovery-test"

// startNode starts a node on a loopback port of its own with env on top
// of a test configuration.
func startNode(t *testing.T, nodeID string, env ...string) *Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(nil, append([]string{
		"HERALD_DATA_DIR=" + t.TempDir(),
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_INTERNAL_TOKEN=" + discoveryToken,
		"HERALD_NODE_ID=" + nodeID,
	}, env...))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), WithListener(ln), WithTracerProvider(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(n) })
	return n
}

func stopNode(n *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Stop(ctx)
}

// eventually waits longer than waitFor: registry reads and lease ends on
// a shared, busy machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not so after 30s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeIDs(t Topology) []string {
	var ids []string
	for _, r := range t.Nodes {
		ids = append(ids, r.ID)
	}
	return ids
}

// A Portal node finds the node running the other services in etcd, the
// topology covers both, and a node that stops leaves the registry.
func TestDiscoveryAndTopologyOverEtcd(t *testing.T) {
	t.Parallel()
	addr := servertest.Addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379")
	coordURL := "HERALD_COORD__URL=etcd://" + addr + "/" + id.New("nodetest") + "?ttl=3s"
	a := startNode(t, "node-a", coordURL)
	b := startNode(t, "node-b", coordURL, "HERALD_SERVICES__RUN=portal",
		"HERALD_SERVICES__TRIGGER__TRANSPORT=grpc", "HERALD_SERVICES__TRIGGER__DISCOVER=true",
		"HERALD_SERVICES__PUBLISHER__TRANSPORT=connect", "HERALD_SERVICES__PUBLISHER__DISCOVER=true",
		"HERALD_SERVICES__NOTIFICATION__TRANSPORT=connect", "HERALD_SERVICES__NOTIFICATION__DISCOVER=true")

	// b's Trigger calls go to a: a real call through the registry.
	tc, err := b.disc.binder.Trigger(b.cfg.Services.Trigger, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tc.GetSchedule(t.Context(), &triggerv1.GetScheduleRequest{TenantId: "t1", ScheduleId: "nope"})
	if k := errs.KindOf(err); k == errs.Unavailable || k == errs.Internal {
		t.Errorf("a call from b to Trigger through the registry: %v (kind %v); want a's answer", err, k)
	}
	var top Topology
	eventually(t, "both nodes in b's topology", func() bool {
		top = b.Topology(t.Context())
		return slices.Equal(nodeIDs(top), []string{"node-a", "node-b"})
	})
	ra, rb := top.Nodes[0], top.Nodes[1]
	if ra.Error != "" || !ra.Ready || !slices.Equal(ra.Services, config.AllServices) || ra.URL != a.URL() {
		t.Errorf("node a's report = %+v", ra)
	}
	if rb.CacheHitRatio() > 1 {
		t.Errorf("cache hit ratio %v", rb.CacheHitRatio())
	}
	for _, l := range rb.Links {
		switch l.Service {
		case config.Portal:
			if l.Transport != config.TransportLocal {
				t.Errorf("b reaches its own portal by %s", l.Transport)
			}
		default:
			if !l.Discover || !slices.Equal(l.Nodes, []string{a.URL()}) {
				t.Errorf("b's link to %s = %+v, want node a found in the registry", l.Service, l)
			}
		}
	}

	// The endpoint wants the internal token.
	get := func(token string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.URL()+TopologyPath, nil)
		if token != "" {
			req.Header.Set(bind.TokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %s", resp.Status)
	}
	resp := get(discoveryToken)
	var overHTTP Topology
	if err := json.NewDecoder(resp.Body).Decode(&overHTTP); err != nil || len(overHTTP.Nodes) != 2 {
		t.Errorf("GET %s: %v, %+v", TopologyPath, err, overHTTP)
	}

	// A graceful stop deregisters at once (no waiting for the lease).
	stopNode(a)
	eventually(t, "node a gone from the registry", func() bool {
		return slices.Equal(nodeIDs(b.Topology(t.Context())), []string{"node-b"})
	})
}

func registered(t *testing.T, n *Node, service string) []string {
	t.Helper()
	ins, err := n.Coord.Instances(t.Context(), service)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range ins {
		out = append(out, in.ID+"="+in.Addr)
	}
	return out
}

// With the in-process registry: a started node registers itself and each
// service it runs at its advertised URL, and takes it all back on stop.
func TestNodeRegistersItsServicesMem(t *testing.T) {
	t.Parallel()
	n := startNode(t, "solo", "HERALD_ADVERTISE=http://solo.internal:8080/")
	want := []string{"solo=http://solo.internal:8080"}
	for _, s := range append([]string{NodeService}, config.AllServices...) {
		name := s
		if s != NodeService {
			name = bind.RegistryService(s)
		}
		if got := registered(t, n, name); !slices.Equal(got, want) {
			t.Errorf("%s registered %q, want %q", name, got, want)
		}
	}
	n.deregisterAll()
	if got := registered(t, n, NodeService); len(got) != 0 {
		t.Errorf("after deregistering: %q", got)
	}
}

// A node listening on every interface with no advertise cannot say where
// it is: it registers nothing rather than an address no one can call.
func TestNodeWithoutAnAddressDoesNotRegister(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(nil, []string{"HERALD_DATA_DIR=" + t.TempDir(), "HERALD_LISTEN=" + ln.Addr().String(), "HERALD_NODE_ID=anywhere"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), WithListener(ln), WithTracerProvider(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(n) })
	if got := registered(t, n, NodeService); len(got) != 0 {
		t.Errorf("registered %q", got)
	}
	if r := n.Report(t.Context()); r.URL != "" || r.ID != "anywhere" {
		t.Errorf("report %+v", r)
	}
}
