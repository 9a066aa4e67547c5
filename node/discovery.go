package node

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/coord"
)

// NodeService is the registry name every node registers under, with its
// advertised URL, so the topology view finds all nodes.
const NodeService = "herald-node"

// discovery is the node's part in the service registry
// (docs/decisions/0027-service-discovery.md): what it registered, to take
// back on a graceful stop, and the binder whose balancers it reports.
type discovery struct {
	binder *bind.Binder

	mu         sync.Mutex
	advertise  string
	deregister []func()
}

// advertised is the URL other nodes reach this one at: advertise, else the
// listen address, else the listener's address when it is bound to a host
// (":0" in tests). Empty when none names a host another node can call.
func (n *Node) advertised() string {
	if a := n.cfg.DefaultAdvertise(); a != "" {
		return a
	}
	if n.ln == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(n.ln.Addr().String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}

// register announces the node and each service it runs in the registry.
// The registrations last until Stop, or until the coordination session
// ends (the node died): then the adapter's session timeout removes them.
func (n *Node) register() {
	addr := n.advertised()
	n.disc.mu.Lock()
	defer n.disc.mu.Unlock()
	n.disc.advertise = addr
	if addr == "" {
		n.log.Warn("discovery: not registering this node: listen names no host; set advertise so other nodes can reach it", "listen", n.cfg.Listen)
		return
	}
	services := append([]string{NodeService}, n.cfg.Services.Run...)
	for _, s := range services {
		name := s
		if s != NodeService {
			name = bind.RegistryService(s)
		}
		// Registrations outlive the start-up request: they end with Stop.
		dereg, err := n.Coord.Register(context.Background(), coord.Instance{Service: name, ID: n.cfg.NodeID, Addr: addr})
		if err != nil {
			n.log.Warn("discovery: registering", "service", name, "err", err)
			continue
		}
		n.disc.deregister = append(n.disc.deregister, dereg)
	}
	n.log.Info("discovery: registered", "advertise", addr, "services", strings.Join(n.cfg.Services.Run, ","))
}

// deregisterAll takes the node out of the registry, before its listener
// closes, so callers stop choosing it while its last calls finish.
func (n *Node) deregisterAll() {
	n.disc.mu.Lock()
	deregs := n.disc.deregister
	n.disc.deregister = nil
	n.disc.mu.Unlock()
	for _, d := range deregs {
		d()
	}
}

// streamTarget chooses, per browser connection, the Notification node the
// live stream is proxied to: one of services.notification.url, in turn, or
// one the registry names. With none known the proxy answers 503.
func (n *Node) streamTarget() func(context.Context) *url.URL {
	ep := n.cfg.Services.Notification
	var r bind.Resolver = bind.Static(ep.URLs())
	if ep.Discover {
		r = bind.NewRegistryResolver(n.Coord, config.Notification, 0)
	}
	var turn atomic.Uint64
	none := &url.URL{Scheme: "http", Host: "notification.unavailable.invalid"}
	return func(ctx context.Context) *url.URL {
		urls, err := r.Resolve(ctx)
		if err != nil || len(urls) == 0 {
			r.Forget()
			return none
		}
		u, err := url.Parse(urls[turn.Add(1)%uint64(len(urls))])
		if err != nil || u.Host == "" {
			return none
		}
		return u
	}
}
