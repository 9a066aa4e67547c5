package bind_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/coord"
	_ "github.com/heraldhq/herald/coord/etcd"
	"github.com/heraldhq/herald/coord/mem"
	_ "github.com/heraldhq/herald/coord/zk"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

const token = "test-token"

// answering is a Trigger that answers GetSchedule; nothing else is needed
// to see where calls land.
type answering struct {
	triggerv1connect.UnimplementedTriggerServiceHandler
}

func (answering) GetSchedule(context.Context, *triggerv1.GetScheduleRequest) (*triggerv1.GetScheduleResponse, error) {
	return &triggerv1.GetScheduleResponse{}, nil
}

// counted serves Trigger over HTTP/1.1 and h2c and counts the calls it got.
type counted struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *counted) serve(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(triggerv1connect.NewTriggerServiceHandler(answering{}, bind.HandlerOptions(token)...))
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	url := srv.URL
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.calls[url]++
		c.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	return url
}

func (c *counted) of(url string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[url]
}

// deadURL is an address nothing listens at: connecting is refused.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func call(t *testing.T, c triggerv1connect.TriggerServiceClient, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.GetSchedule(t.Context(), &triggerv1.GetScheduleRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestSeveralURLsSpreadCalls(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportGRPC, config.TransportConnect} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			srv := &counted{calls: map[string]int{}}
			a, b := srv.serve(t), srv.serve(t)
			binder := bind.New(token)
			c, err := binder.Trigger(config.Endpoint{Transport: transport, URL: a + ", " + b + "/"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			call(t, c, 10)
			if srv.of(a) != 5 || srv.of(b) != 5 {
				t.Errorf("calls: %s got %d, %s got %d; want 5 each", a, srv.of(a), b, srv.of(b))
			}
		})
	}
}

func TestDeadNodeIsSkipped(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportGRPC, config.TransportConnect} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			srv := &counted{calls: map[string]int{}}
			live, dead := srv.serve(t), deadURL(t)
			binder := bind.New(token)
			c, err := binder.Trigger(config.Endpoint{Transport: transport, URL: dead + "," + live}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Every call succeeds: the refused one goes on to the live node.
			call(t, c, 6)
			if got := srv.of(live); got != 6 {
				t.Errorf("live node got %d calls, want 6", got)
			}
			if down := binder.Links[config.Trigger].Down(); !slices.Equal(down, []string{dead}) {
				t.Errorf("nodes skipped = %q, want [%s]", down, dead)
			}
		})
	}
}

func TestAllNodesDeadFailsTheCall(t *testing.T) {
	t.Parallel()
	binder := bind.New(token)
	c, err := binder.Trigger(config.Endpoint{Transport: config.TransportConnect, URL: deadURL(t) + "," + deadURL(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSchedule(t.Context(), &triggerv1.GetScheduleRequest{}); err == nil {
		t.Fatal("a call with every node refusing succeeded")
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not so after 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// registryDiscovery runs the registry half of discovery: calls spread over
// the registered nodes, a deregistered node stops getting them, and a node
// whose session ends (it died: expire) is forgotten by the registry. Node a
// registers through regA, node b through regB, the caller reads regA.
func registryDiscovery(t *testing.T, regA, regB coord.Coordinator, expireB func()) {
	srv := &counted{calls: map[string]int{}}
	a, b := srv.serve(t), srv.serve(t)
	ctx := t.Context()
	register := func(reg coord.Coordinator, id, addr string) func() {
		t.Helper()
		dereg, err := reg.Register(ctx, coord.Instance{Service: bind.RegistryService(config.Trigger), ID: id, Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dereg)
		return dereg
	}
	deregA := register(regA, "node-a", a)
	binder := bind.New(token)
	binder.Registry = regA
	c, err := binder.Trigger(config.Endpoint{Transport: config.TransportGRPC, Discover: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call(t, c, 2)
	if srv.of(a) != 2 {
		t.Fatalf("node a got %d of 2 calls", srv.of(a))
	}
	register(regB, "node-b", b)
	// Within the cache's lifetime b is found and gets calls too.
	eventually(t, "node b gets calls", func() bool { call(t, c, 1); return srv.of(b) > 0 })

	deregA()
	eventually(t, "node a, deregistered, is no longer called", func() bool {
		n := srv.of(a)
		call(t, c, 4)
		return srv.of(a) == n
	})

	// b dies: once its session ends no node is left.
	expireB()
	eventually(t, "the registry forgets the dead node", func() bool {
		_, err := c.GetSchedule(ctx, &triggerv1.GetScheduleRequest{})
		return err != nil && strings.Contains(err.Error(), "no node serving trigger")
	})
}

func TestRegistryDiscoveryMem(t *testing.T) {
	t.Parallel()
	space := mem.New()
	t.Cleanup(func() { _ = space.Close() })
	b := space.NewSession()
	registryDiscovery(t, space, b, b.Expire)
}

// Against a real etcd: node b reaches etcd through a proxy that is paused,
// as if its machine had gone; its lease runs out on the cluster.
func TestRegistryDiscoveryEtcd(t *testing.T) {
	t.Parallel()
	addr := servertest.Addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379")
	path := "/" + id.New("bindtest")
	open := func(addr string) coord.Coordinator {
		c, err := coord.Open(t.Context(), "etcd://"+addr+path+"?ttl=2s")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	proxy := servertest.NewProxy(t, addr)
	registryDiscovery(t, open(addr), open(proxy.Addr()), proxy.Pause)
}

// A node that takes the request and drops the connection may have acted on
// it: the call fails rather than run a second time elsewhere.
func TestCallThatReachedANodeIsNotRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Read(make([]byte, 4096)) // the request arrived...
			_ = conn.Close()                     // ...and the node went away
		}
	}()
	srv := &counted{calls: map[string]int{}}
	live := srv.serve(t)
	binder := bind.New(token)
	c, err := binder.Trigger(config.Endpoint{Transport: config.TransportConnect, URL: "http://" + ln.Addr().String() + "," + live}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSchedule(t.Context(), &triggerv1.GetScheduleRequest{}); err == nil {
		t.Fatal("the call through a dropped connection succeeded")
	}
	if got := srv.of(live); got != 0 {
		t.Errorf("the call was sent again to the live node (%d calls)", got)
	}
}

// The same against ZooKeeper: b's session times out on the ensemble.
func TestRegistryDiscoveryZooKeeper(t *testing.T) {
	t.Parallel()
	addr := servertest.Addr(t, "HERALD_TEST_ZOOKEEPER_ADDR", "127.0.0.1:2181")
	path := "/" + id.New("bindtest")
	open := func(addr string) coord.Coordinator {
		c, err := coord.Open(t.Context(), "zk://"+addr+path+"?ttl=4s")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	proxy := servertest.NewProxy(t, addr)
	registryDiscovery(t, open(addr), open(proxy.Addr()), proxy.Pause)
}
