package bind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/coord"
)

// RegistryService is the registry name under which the nodes serving a
// service's API register ("api-trigger"); the services' own registrations
// (Trigger's engines, Publisher's holders) use other names.
func RegistryService(service string) string { return "api-" + service }

// Resolver lists the base URLs a service is served at now.
type Resolver interface {
	Resolve(ctx context.Context) ([]string, error)
	// Forget drops what the resolver remembers, after a failed call, so
	// the next Resolve asks again.
	Forget()
}

// Static is a fixed list of base URLs (services.<name>.url with several).
type Static []string

func (s Static) Resolve(context.Context) ([]string, error) { return s, nil }
func (s Static) Forget()                                   {}

// Registry lists instances in the coordination registry.
type Registry interface {
	Instances(ctx context.Context, service string) ([]coord.Instance, error)
}

// RegistryResolver finds a service's nodes in the coordination registry,
// remembering the answer for TTL so a call does not cost a registry read.
type RegistryResolver struct {
	reg     Registry
	service string
	ttl     time.Duration

	mu   sync.Mutex
	urls []string
	at   time.Time
}

// DefaultRegistryTTL is how long a registry answer is reused: a node that
// registers is called within it, one that is gone is skipped at once by
// the balancer's passive health check anyway.
const DefaultRegistryTTL = 3 * time.Second

// NewRegistryResolver resolves service (a name from config) through reg.
func NewRegistryResolver(reg Registry, service string, ttl time.Duration) *RegistryResolver {
	if ttl <= 0 {
		ttl = DefaultRegistryTTL
	}
	return &RegistryResolver{reg: reg, service: service, ttl: ttl}
}

func (r *RegistryResolver) Resolve(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.urls != nil && time.Since(r.at) < r.ttl {
		return r.urls, nil
	}
	ins, err := r.reg.Instances(ctx, RegistryService(r.service))
	if err != nil {
		if r.urls != nil {
			return r.urls, nil // a registry hiccup: the last answer beats none
		}
		return nil, fmt.Errorf("bind: looking up %s in the registry: %w", r.service, err)
	}
	urls := make([]string, 0, len(ins))
	for _, in := range ins {
		if in.Addr != "" {
			urls = append(urls, strings.TrimRight(in.Addr, "/"))
		}
	}
	r.urls, r.at = urls, time.Now()
	return urls, nil
}

func (r *RegistryResolver) Forget() {
	r.mu.Lock()
	r.at = time.Time{}
	r.mu.Unlock()
}

// Balancer is an http.RoundTripper that sends each request to one of the
// nodes its Resolver names, in turn. A node whose connection fails is
// skipped for Cooldown (passive health); a request that never reached a
// node (the connection was refused) is sent to the next one, since nothing
// of it was processed. The Connect client it serves is built with a
// placeholder base URL whose scheme and host the Balancer replaces, so the
// generated clients stay as they are.
type Balancer struct {
	Next     http.RoundTripper
	Resolver Resolver
	Cooldown time.Duration
	Service  string

	mu   sync.Mutex
	turn int
	down map[string]time.Time
}

// DefaultCooldown is how long a node that refused a connection is skipped.
const DefaultCooldown = 5 * time.Second

// placeholderURL is the base URL of a balanced client; never dialled.
func placeholderURL(service string) string { return "http://" + service + ".balanced.invalid" }

// NewBalancer spreads calls to service over the nodes r names.
func NewBalancer(next http.RoundTripper, service string, r Resolver) *Balancer {
	return &Balancer{Next: next, Resolver: r, Cooldown: DefaultCooldown, Service: service}
}

func (b *Balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	urls, err := b.Resolver.Resolve(req.Context())
	if err != nil {
		return nil, err
	}
	if len(urls) == 0 {
		b.Resolver.Forget()
		return nil, fmt.Errorf("bind: no node serving %s is known", b.Service)
	}
	tried := map[string]bool{}
	for {
		target := b.pick(urls, tried)
		if target == "" {
			return nil, err
		}
		tried[target] = true
		out, rerr := rewrite(req, target)
		if rerr != nil {
			return nil, rerr
		}
		resp, e := b.Next.RoundTrip(out)
		if e == nil {
			return resp, nil
		}
		err = e
		if !refused(e) {
			return nil, e
		}
		b.markDown(target)
		b.Resolver.Forget()
		// Retry only a request whose body can be sent again; Connect's
		// unary calls (every service call) can.
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return nil, e
		}
	}
}

// pick chooses the next node in turn that is neither cooling down nor
// already tried; when every untried node is cooling down it takes one of
// them anyway (better a call that may fail than none). "" when all were tried.
func (b *Balancer) pick(urls []string, tried map[string]bool) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	fallback := ""
	for i := range urls {
		u := urls[(b.turn+i)%len(urls)]
		if tried[u] {
			continue
		}
		if until, ok := b.down[u]; ok && now.Before(until) {
			if fallback == "" {
				fallback = u
			}
			continue
		}
		b.turn = (b.turn + i + 1) % len(urls)
		return u
	}
	return fallback
}

func (b *Balancer) markDown(u string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down == nil {
		b.down = map[string]time.Time{}
	}
	b.down[u] = time.Now().Add(b.Cooldown)
}

// Down lists the nodes being skipped now.
func (b *Balancer) Down() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	now := time.Now()
	for u, until := range b.down {
		if now.Before(until) {
			out = append(out, u)
		}
	}
	return out
}

// rewrite sends a copy of req to the node at base (scheme, host, path
// prefix), with a fresh body when the request is sent again.
func rewrite(req *http.Request, base string) (*http.Request, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("bind: node URL %q: %w", base, err)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
	out.URL.Path = strings.TrimRight(u.Path, "/") + req.URL.Path
	out.URL.RawPath = ""
	out.Host = ""
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = body
	}
	return out, nil
}

// refused reports whether err means the request never reached the node:
// the connection could not be made, so nothing was sent.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// BalancedClient is an HTTP client whose requests a Balancer routes.
type BalancedClient struct {
	*Balancer
	client *http.Client
}

// Do implements connect.HTTPClient.
func (c *BalancedClient) Do(req *http.Request) (*http.Response, error) { return c.client.Do(req) }

func (b *Binder) balanced(service string, r Resolver) (*BalancedClient, string) {
	next := http.DefaultTransport
	if b.HTTP != nil && b.HTTP.Transport != nil {
		next = b.HTTP.Transport
	}
	bal := NewBalancer(next, service, r)
	c := &BalancedClient{Balancer: bal, client: &http.Client{Transport: bal}}
	if b.Links == nil {
		b.Links = map[string]*Balancer{}
	}
	b.Links[service] = bal
	return c, placeholderURL(service)
}
