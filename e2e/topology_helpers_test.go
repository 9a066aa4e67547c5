package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// splitTopology is one of issue 7's split deployments: which transport
// the services call each other by, and the settings of the real servers
// (bus, coordination, cache) it runs on, unique to one test.
type splitTopology struct {
	name      string
	transport string
	servers   func(t *testing.T, unique string) []string
}

// splitTopologies are topologies 3 and 4: seven processes on PostgreSQL,
// over gRPC on NATS + etcd + Redis, over Connect's HTTP/JSON on RabbitMQ +
// ZooKeeper + memcached. The coordination sessions are short (6 s) so a
// killed node's shards and attempts are taken over within the test's
// patience; production keeps the 10 s default.
var splitTopologies = []splitTopology{
	{
		name:      "grpc-postgres-nats-etcd-redis",
		transport: config.TransportGRPC,
		servers: func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_BUS__URL=" + natsURL(addr(t, "HERALD_TEST_NATS_ADDR", "127.0.0.1:4222"), unique),
				"HERALD_COORD__URL=etcd://" + addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379") + "/" + unique + "?ttl=6s",
				"HERALD_CACHE__URL=redis://" + addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379") + "/0",
				// Two Portals: the in-process tier must be kept fresh by
				// invalidations on the bus, or one Portal reads stale data.
				"HERALD_CACHE__LOCAL=mem://?max_bytes=8388608",
			}
		},
	},
	{
		name:      "connect-postgres-rabbitmq-zookeeper-memcached",
		transport: config.TransportConnect,
		servers: func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_BUS__URL=" + rabbitURL(t, unique),
				"HERALD_COORD__URL=zk://" + addr(t, "HERALD_TEST_ZOOKEEPER_ADDR", "127.0.0.1:2181") + "/" + unique + "?ttl=6s",
				"HERALD_CACHE__URL=memcached://" + addr(t, "HERALD_TEST_MEMCACHED_ADDR", "127.0.0.1:11211"),
			}
		},
	},
}

func natsURL(hostPort, unique string) string {
	return "nats://" + hostPort + "?stream=" + strings.ToUpper(unique) + "&prefix=" + unique
}

// serviceCount is how many processes of one service a cluster runs.
type serviceCount struct {
	service string
	count   int
}

// topologyShape is how many processes run each service: issue 7's seven.
var topologyShape = []serviceCount{
	// Consumers first, so no event is published before its group exists
	// (a RabbitMQ queue is only bound once its consumer subscribed).
	{config.Notification, 1}, {config.Publisher, 2},
	{config.Trigger, 2}, {config.Portal, 2},
}

// cluster is a split topology running as herald serve child processes,
// each on its own loopback port and data directory, sharing one
// PostgreSQL database and the topology's servers. Each service is reached
// through a round-robin balancer of the test's (services.<name>.url names
// it), the way a deployment puts several nodes of a service behind a load
// balancer; users reach Portal through its balancer too.
type cluster struct {
	t        *testing.T
	bin      string
	environ  []string // the settings every node shares
	storeURL string
	// URL is where users reach Portal: its balancer.
	URL     string
	nodes   map[string][]*clusterNode
	proxies map[string]*balancer
	// Calls counts the service calls that went through the balancers, by
	// method and wire protocol.
	Calls *protocolCounter
}

// clusterNode is one herald serve process and its address.
type clusterNode struct {
	name string // "trigger-2"
	addr string
	proc *childProcess
}

// startCluster starts the seven processes of topo on a fresh database,
// extra settings (the bus of a private broker, say) last, and returns once
// every one is ready.
func startCluster(t *testing.T, bin string, topo splitTopology, extra ...string) *cluster {
	t.Helper()
	return startClusterShaped(t, bin, topo, topologyShape, extra...)
}

// startClusterShaped is startCluster with another number of processes per
// service (more Publishers, say), started in shape's order.
func startClusterShaped(t *testing.T, bin string, topo splitTopology, shape []serviceCount, extra ...string) *cluster {
	t.Helper()
	c := newCluster(t, bin, topo, false, extra...)
	for _, s := range shape {
		c.startService(s.service, s.count)
	}
	return c
}

// newCluster prepares a cluster of topo on a fresh database, starting no
// node yet: its balancers listen and every node's settings are set. Its
// links name the balancers, or with discover the coordination registry
// (services.<name>.discover), so the balancer of Portal alone is used.
func newCluster(t *testing.T, bin string, topo splitTopology, discover bool, extra ...string) *cluster {
	t.Helper()
	smtpAddr, _ := mailpitURL(t)
	unique := strings.ReplaceAll(id.New("ht"), "_", "")
	c := &cluster{
		// Few connections per process: seven processes (fourteen when two
		// clusters run at once) share the test server's connection limit
		// with every other test.
		t: t, bin: bin, storeURL: withQuery(t, storetest.URLFor(t, store.Postgres), "pool_max_conns", "4"),
		nodes: map[string][]*clusterNode{}, proxies: map[string]*balancer{}, Calls: &protocolCounter{},
	}
	for _, s := range config.AllServices {
		c.proxies[s] = newBalancer(t, c.Calls)
	}
	c.URL = c.proxies[config.Portal].url
	c.environ = []string{
		"HERALD_STORE__URL=" + c.storeURL,
		"HERALD_BLOB__URL=file://" + filepath.ToSlash(t.TempDir()), // one machine: a shared directory
		"HERALD_BASE_URL=" + c.URL,
		"HERALD_SECRET_KEY=" + strings.Repeat("5e", 32),
		"HERALD_INTERNAL_TOKEN=" + unique,
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_SMTP__URL=smtp://" + smtpAddr + "?tls=none",
		"HERALD_SMTP__FROM=Herald Test <herald@test.invalid>",
		"HERALD_LOG__LEVEL=warn",
		// One user creates every post: lift the per-user API limit.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}
	for _, s := range config.AllServices {
		up := "HERALD_SERVICES__" + strings.ToUpper(s) + "__"
		c.environ = append(c.environ, up+"TRANSPORT="+topo.transport)
		if discover {
			c.environ = append(c.environ, up+"DISCOVER=true")
		} else {
			c.environ = append(c.environ, up+"URL="+c.proxies[s].url)
		}
	}
	c.environ = append(c.environ, topo.servers(t, unique)...)
	c.environ = append(c.environ, extra...)
	return c
}

// startService starts count nodes of service and puts them in its
// balancer once every one is ready.
func (c *cluster) startService(service string, count int) {
	c.t.Helper()
	c.route(service, c.launch(service, count))
}

// launch starts count more nodes of service together (their migrations
// take a lock) and returns them once every one is ready, outside the
// balancer.
func (c *cluster) launch(service string, count int) []*clusterNode {
	t := c.t
	t.Helper()
	var group []*clusterNode
	from := len(c.nodes[service])
	for i := range count {
		n := &clusterNode{name: fmt.Sprintf("%s-%d", service, from+i+1), addr: freeAddr(t)}
		environ := append(append([]string{}, c.environ...),
			"HERALD_NODE_ID="+n.name,
			"HERALD_LISTEN="+n.addr,
			"HERALD_DATA_DIR="+t.TempDir(),
		)
		n.proc = newChildProcess(t, c.bin, "http://"+n.addr+"/readyz", []string{"serve", "--services", service}, environ)
		n.proc.name = n.name
		group = append(group, n)
	}
	c.nodes[service] = append(c.nodes[service], group...)
	var wg sync.WaitGroup
	ok := make([]bool, count)
	for i, n := range group {
		wg.Go(func() { ok[i] = n.proc.tryStart() })
	}
	wg.Wait()
	for i, n := range group {
		if !ok[i] {
			t.Fatalf("%s exited before it was ready", n.name)
		}
	}
	return group
}

// route puts ready nodes of service in its balancer, as a load balancer
// sends traffic to nodes once they pass its check.
func (c *cluster) route(service string, nodes []*clusterNode) {
	for _, n := range nodes {
		c.proxies[service].add("http://" + n.addr)
	}
}

// node returns the i-th process (from 0) of a service.
func (c *cluster) node(service string, i int) *clusterNode { return c.nodes[service][i] }

// kill ends a node with SIGKILL; its balancer takes it out of the pool, as
// a load balancer's health check would.
func (c *cluster) kill(service string, i int) {
	c.t.Helper()
	n := c.node(service, i)
	c.proxies[service].setDown("http://"+n.addr, true)
	n.proc.kill()
}

// restart stops a node gracefully (SIGTERM) and starts it again with the
// same settings, as a rolling restart does: its balancer takes it out of
// the pool first, as a load balancer's health check would once the node
// is being stopped, and puts it back once it answers /readyz again. It
// returns how long the node took to exit; the test fails if the node did
// not exit within waitFor or exited with an error.
func (c *cluster) restart(service string, i int) (stopped time.Duration) {
	c.t.Helper()
	n := c.node(service, i)
	c.proxies[service].setDown("http://"+n.addr, true)
	began := time.Now()
	if err := n.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-n.proc.exited:
	case <-time.After(waitFor):
		// Where it hangs: Go prints every goroutine's stack to the log on
		// SIGQUIT.
		_ = n.proc.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.proc.exited:
		case <-time.After(5 * time.Second):
			n.proc.kill()
		}
		dump, _ := os.ReadFile(n.proc.logPath(n.proc.runs))
		c.t.Fatalf("%s did not exit within %s of SIGTERM; its log and goroutines:\n%s", n.name, waitFor, dump)
	}
	stopped = time.Since(began)
	if code := n.proc.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Errorf("%s exited with status %d after SIGTERM: its graceful stop failed (see its log)", n.name, code)
	}
	n.proc.start()
	c.proxies[service].setDown("http://"+n.addr, false)
	return stopped
}

// open returns the cluster's database, for checks from outside.
func (c *cluster) open() *store.DB {
	c.t.Helper()
	db, err := store.Open(context.Background(), c.storeURL)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// createAgency makes an agency with its owner the way an operator does on
// a split deployment: herald admin create, with the nodes' settings.
func (c *cluster) createAgency(in portal.AgencyInput) error {
	cmd := exec.Command(c.bin, "admin", "create", "--agency", in.AgencyName, "--name", in.Name, "--email", in.Email, "--password-stdin")
	cmd.Env = append(append(os.Environ(), c.environ...), "HERALD_DATA_DIR="+c.t.TempDir(), "HERALD_LISTEN="+freeAddr(c.t))
	cmd.Stdin = strings.NewReader(in.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("herald admin create: %v: %s", err, out)
	}
	return nil
}

// servedBy returns how many requests each node of a service got through
// its balancer, by node name.
func (c *cluster) servedBy(service string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range c.nodes[service] {
		out[n.name] = c.proxies[service].served("http://" + n.addr)
	}
	return out
}

// balancer is a round-robin reverse proxy over the nodes of one service,
// speaking HTTP/1.1 and h2c in front (gRPC needs HTTP/2) and h2c to the
// nodes. A backend that refuses connections is skipped for a while.
type balancer struct {
	url string
	mu  sync.Mutex
	bk  []*backend
	rr  atomic.Uint64
}

type backend struct {
	target *url.URL
	proxy  *httputil.ReverseProxy
	served atomic.Int64
	down   atomic.Int64 // until when (Unix ns) it is out of the pool; -1: for good
}

func newBalancer(t *testing.T, calls *protocolCounter) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: calls.middleware(http.HandlerFunc(b.serve)), ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

var balancerTransport = func() *http.Transport {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}()

func (b *balancer) add(raw string) {
	target, _ := url.Parse(raw)
	be := &backend{target: target}
	be.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the node sees the address users used
			r.SetXForwarded()
		},
		Transport:     balancerTransport,
		FlushInterval: -1, // the notification stream
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" && be.down.Load() != -1 {
				be.down.Store(time.Now().Add(2 * time.Second).UnixNano())
			}
			http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
		},
	}
	b.mu.Lock()
	b.bk = append(b.bk, be)
	b.mu.Unlock()
}

func (b *balancer) setDown(raw string, down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, be := range b.bk {
		if be.target.String() == raw {
			if down {
				be.down.Store(-1)
			} else {
				be.down.Store(0)
			}
		}
	}
}

func (b *balancer) served(raw string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, be := range b.bk {
		if be.target.String() == raw {
			return be.served.Load()
		}
	}
	return 0
}

// pick returns the next backend in the pool, or nil when none is up.
func (b *balancer) pick() *backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now().UnixNano()
	for range len(b.bk) {
		be := b.bk[int(b.rr.Add(1))%len(b.bk)]
		if d := be.down.Load(); d == 0 || (d > 0 && d < now) {
			return be
		}
	}
	return nil
}

func (b *balancer) serve(w http.ResponseWriter, r *http.Request) {
	be := b.pick()
	if be == nil {
		http.Error(w, "balancer: no node up", http.StatusServiceUnavailable)
		return
	}
	be.served.Add(1)
	be.proxy.ServeHTTP(w, r)
}

// natsServer is a nats-server of the test's own, with JetStream on a
// private store, so restarting it disturbs no other test.
type natsServer struct {
	addr, mon string
	proc      *childProcess
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		servertest.Missing(t, "nats-server is not installed (scripts/test-infra.sh installs it): %v", err)
	}
	addr, mon := freeAddr(t), freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	_, monPort, _ := net.SplitHostPort(mon)
	args := []string{"--jetstream", "--store_dir", t.TempDir(), "--addr", host, "--port", port, "--http_port", monPort}
	p := newChildProcess(t, bin, "http://"+mon+"/healthz", args, nil)
	p.name = "nats-server"
	p.start()
	s := &natsServer{addr: addr, mon: mon, proc: p}
	t.Cleanup(func() {
		if t.Failed() && p.alive() {
			// What the consumers still have to deliver, for the post-mortem.
			if res, err := http.Get("http://" + mon + "/jsz?consumers=true"); err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				t.Logf("nats-server JetStream state:\n%s", body)
			}
		}
	})
	return s
}

// restart stops the server, as an operator would (SIGTERM) when graceful,
// else as a crash does (SIGKILL), and starts it again after down on the
// same port and store.
func (s *natsServer) restart(t *testing.T, graceful bool, down time.Duration) {
	t.Helper()
	if graceful {
		s.proc.stop()
	} else {
		s.proc.kill()
	}
	time.Sleep(down)
	s.proc.start()
}

// stop ends the current run with SIGTERM (a graceful stop) and waits
// until it is gone.
func (p *childProcess) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitFor):
		p.kill()
	}
}

// withQuery sets one query parameter of a URL.
func withQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
