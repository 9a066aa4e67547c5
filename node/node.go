// Package node is Herald's composition root: it turns a configuration into
// running services. It opens the ports by URL, builds the services this node
// runs, binds each caller to its callees (method call, gRPC or HTTP/JSON),
// mounts every API on one HTTP server and starts and stops them in order.
//
// Nothing else in Herald knows which adapter or transport is in use; this
// package is the only place that imports them all.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/blob"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/cache/tiered"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/gen/herald/notification/v1/notificationv1connect"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/gen/herald/publisher/v1/publisherv1connect"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/mediaurl"
	"github.com/heraldhq/herald/notify"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/publisher"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/telemetry"
	"github.com/heraldhq/herald/trigger"

	// Adapters, registered by URL scheme.
	_ "github.com/heraldhq/herald/bus/amqp"
	_ "github.com/heraldhq/herald/bus/mem"
	_ "github.com/heraldhq/herald/bus/nats"
	_ "github.com/heraldhq/herald/bus/stomp"
	_ "github.com/heraldhq/herald/cache/mem"
	_ "github.com/heraldhq/herald/cache/memcached"
	_ "github.com/heraldhq/herald/cache/redis"
	_ "github.com/heraldhq/herald/coord/etcd"
	_ "github.com/heraldhq/herald/coord/mem"
	_ "github.com/heraldhq/herald/coord/zk"
	_ "github.com/heraldhq/herald/store/postgres"
	_ "github.com/heraldhq/herald/store/sqlite"
)

// StreamPath is where a Notification node serves the live stream to Portal.
const StreamPath = "/internal/notifications/stream"

// Node is one running Herald process.
type Node struct {
	cfg config.Config
	log *slog.Logger

	stores map[string]*store.DB // by URL: services sharing a database share the pool
	Bus    bus.Bus
	gate   *gatedBus // what services publish through
	Coord  coord.Coordinator
	Cache  cache.Cache
	Blob   *gcblob.Bucket

	Portal       *portal.Service
	Trigger      *trigger.Service
	Publisher    *publisher.Service
	Notification *notify.Service

	// Telemetry: the tracer provider (ownTP when the node built it and so
	// shuts it down), the metrics registry, the cache's hit counters.
	tp         trace.TracerProvider
	ownTP      *sdktrace.TracerProvider
	metrics    *telemetry.Metrics
	cacheStats *countingCache

	// admit is the admission control in front of the mux (admission.go);
	// nil when limits.admission is off.
	admit *admitter
	// disc is the node's registration in the service registry and its
	// balanced links (discovery.go).
	disc discovery

	mux        *http.ServeMux
	handler    http.Handler // mux, traced and counted
	middleware []func(http.Handler) http.Handler
	srv        *http.Server
	ln         net.Listener
	started    []interface{ Close() error }
	stopOnce   sync.Once
}

// Option tunes a Node.
type Option func(*Node)

// WithListener makes the node serve on ln instead of listening on
// cfg.Listen, so a caller can know the address before the node is built
// (tests that bind services to the node's own URL).
func WithListener(ln net.Listener) Option { return func(n *Node) { n.ln = ln } }

// WithMiddleware wraps the node's HTTP handler (request logging, metrics,
// or a test observing which protocol each call used).
func WithMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(n *Node) { n.middleware = append(n.middleware, mw) }
}

// New opens the ports and builds the services of cfg. A port that cannot be
// opened stops it with an error naming the configuration key.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *Node, err error) {
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cfg: cfg, log: log, stores: map[string]*store.DB{}, mux: http.NewServeMux()}
	for _, o := range opts {
		o(n)
	}
	defer func() {
		if err != nil {
			n.closePorts()
			if n.ownTP != nil {
				_ = n.ownTP.Shutdown(context.WithoutCancel(ctx))
			}
		}
	}()
	if err := n.setupTelemetry(ctx); err != nil {
		return nil, err
	}
	if n.cfg.InternalToken == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		n.cfg.InternalToken = hex.EncodeToString(b)
	}
	if err := n.openPorts(ctx); err != nil {
		return nil, err
	}
	if err := n.build(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// keyErr names the configuration key of a port that could not be opened;
// the adapter's error already names the address (password hidden) and the
// cause.
func keyErr(key, _ string, err error) error {
	return fmt.Errorf("%s: %w", key, err)
}

func (n *Node) openPorts(ctx context.Context) error {
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for _, s := range n.cfg.Services.Run {
		u := n.cfg.Store.URLFor(s)
		if _, ok := n.stores[u]; ok {
			continue
		}
		key := "store.url"
		if u != n.cfg.Store.URL {
			key = "store." + s
		}
		db, err := store.Open(octx, u)
		if err != nil {
			return keyErr(key, u, err)
		}
		n.stores[u] = db
	}
	var err error
	if n.Bus, err = bus.Open(octx, n.cfg.Bus.URL); err != nil {
		return keyErr("bus.url", n.cfg.Bus.URL, err)
	}
	n.gate = newGatedBus(n.Bus, n.tp, n.metrics)
	n.gate.limitConsumers(n.cfg.Limits.ConsumerConcurrency) // overload protection (gate.go)
	if n.Coord, err = coord.Open(octx, n.cfg.Coord.URL); err != nil {
		return keyErr("coord.url", n.cfg.Coord.URL, err)
	}
	if n.Cache, err = cache.Open(octx, n.cfg.Cache.URL); err != nil {
		return keyErr("cache.url", n.cfg.Cache.URL, err)
	}
	if n.cfg.Cache.Local != "" {
		local, err := cache.Open(octx, n.cfg.Cache.Local)
		if err != nil {
			return keyErr("cache.local", n.cfg.Cache.Local, err)
		}
		// Invalidations are hints, not facts: they go to the bus directly,
		// not through an outbox (a lost one costs at most the local TTL).
		tc, err := tiered.New(ctx, local, n.Cache, n.Bus, n.cfg.NodeID, tiered.Options{})
		if err != nil {
			_ = local.Close()
			return keyErr("cache.local", n.cfg.Cache.Local, err)
		}
		n.Cache = tc
	}
	n.cacheStats = newCountingCache(n.Cache)
	n.Cache = n.cacheStats
	// What services read through the cache (docs/decisions/0032).
	n.cacheStats.reads = readthrough.New(n.Cache)
	if n.Blob, err = blob.Open(octx, n.cfg.Blob.URL); err != nil {
		return keyErr("blob.url", n.cfg.Blob.URL, err)
	}
	return nil
}

func (n *Node) db(service string) *store.DB { return n.stores[n.cfg.Store.URLFor(service)] }

func (n *Node) build(ctx context.Context) error {
	cfg := n.cfg
	runs := cfg.Services.Runs
	b := bind.New(cfg.InternalToken)
	b.Interceptors = []connect.Interceptor{telemetry.Interceptor(n.tp, n.metrics)}
	b.Registry = n.Coord
	n.disc.binder = b
	out := outbound.NewClient(outbound.Policy{AllowLoopback: cfg.Outbound.AllowLoopback, AllowPrivate: cfg.Outbound.AllowPrivate})
	secret, err := cfg.LoadSecretKey()
	if err != nil {
		return err
	}
	media, err := mediaurl.New(cfg.BaseURL, secret)
	if err != nil {
		return err
	}
	providers, appOAuth := providers(out, cfg.BaseURL, cfg.Networks, media)

	lPortal, lPublisher, lNotification := &latePortal{}, &latePublisher{}, &lateNotification{}

	if runs(config.Trigger) {
		tc := trigger.DefaultConfig()
		n.Trigger, err = trigger.New(tc, trigger.Deps{DB: n.db(config.Trigger), Bus: n.gate, Coord: n.Coord, Outbound: out, Log: n.log.With("service", config.Trigger)})
		if err != nil {
			return fmt.Errorf("trigger: %w", err)
		}
	}
	if runs(config.Notification) {
		nc := notify.DefaultConfig()
		nc.SMTP = cfg.SMTP.URL
		nc.From = cfg.SMTP.From
		nc.BaseURL = cfg.BaseURL
		nc.SecretKey = secret
		n.Notification, err = notify.New(nc, notify.Deps{DB: n.db(config.Notification), Bus: n.gate, Portal: lPortal, Log: n.log,
			Outbound: outbound.Policy{AllowLoopback: cfg.Outbound.AllowLoopback, AllowPrivate: cfg.Outbound.AllowPrivate}})
		if err != nil {
			return fmt.Errorf("notification: %w", err)
		}
	}
	if runs(config.Publisher) {
		pc := publisher.DefaultConfig()
		pc.Concurrency = cfg.Limits.PublishConcurrency
		n.Publisher, err = publisher.New(pc, publisher.Deps{DB: n.db(config.Publisher), Bus: n.gate, Blob: n.Blob, Portal: lPortal, Providers: providers, Coord: n.Coord, Log: n.log})
		if err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
	}
	var triggerClient triggerv1connect.TriggerServiceClient
	if runs(config.Portal) {
		var err error
		if triggerClient, err = b.Trigger(cfg.Services.Trigger, n.localTrigger()); err != nil {
			return err
		}
		pc := portal.DefaultConfig()
		pc.BaseURL = cfg.BaseURL
		pc.SecretKey = secret
		pc.CookieSecure = cfg.CookieSecure
		pc.APIRate = cfg.Limits.APIRate
		pc.APIBurst = cfg.Limits.APIBurst
		pc.Topology = n.portalTopology // topology.go
		pc.Cache = n.cacheStats.reads
		n.Portal, err = portal.New(pc, portal.Deps{
			DB: n.db(config.Portal), Bus: n.gate, Blob: n.Blob, Log: n.log, MediaURLs: media,
			Trigger: triggerClient, Publisher: lPublisher, Notification: lNotification,
			NotificationStream: n.notificationStream(),
			Providers:          providers,
			AppOAuth:           appOAuth,
			Outbound:           out,
		})
		if err != nil {
			return fmt.Errorf("portal: %w", err)
		}
	}
	// Every service exists now: bind the late clients.
	if runs(config.Portal) || runs(config.Publisher) || runs(config.Notification) {
		if lPortal.c, err = b.Portal(cfg.Services.Portal, n.localPortal()); err != nil && (runs(config.Publisher) || runs(config.Notification)) {
			return err
		}
	}
	if runs(config.Portal) {
		if lPublisher.c, err = b.Publisher(cfg.Services.Publisher, n.localPublisher()); err != nil {
			return err
		}
		if lNotification.c, err = b.Notification(cfg.Services.Notification, n.localNotification()); err != nil {
			return err
		}
	}
	n.mount()
	return nil
}

// The local* methods return a service as its handler interface, or a nil
// interface when this node does not run it (never a typed nil pointer).

func (n *Node) localTrigger() triggerv1connect.TriggerServiceHandler {
	if n.Trigger == nil {
		return nil
	}
	return n.Trigger
}

func (n *Node) localPortal() portalv1connect.PortalServiceHandler {
	if n.Portal == nil {
		return nil
	}
	return n.Portal
}

func (n *Node) localPublisher() publisherv1connect.PublisherServiceHandler {
	if n.Publisher == nil {
		return nil
	}
	return n.Publisher
}

func (n *Node) localNotification() notificationv1connect.NotificationServiceHandler {
	if n.Notification == nil {
		return nil
	}
	return n.Notification
}

// notificationStream is the live stream Portal hands browsers: the local
// Notification handler, or a proxy to the node that runs Notification.
func (n *Node) notificationStream() http.Handler {
	if n.Notification != nil && n.cfg.Services.Notification.Transport == config.TransportLocal {
		return n.Notification.StreamHandler()
	}
	pick := n.streamTarget() // discovery.go
	token := n.cfg.InternalToken
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			target := pick(r.In.Context())
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimRight(target.Path, "/") + StreamPath
			r.Out.Header.Set(bind.TokenHeader, token)
			telemetry.Propagator().Inject(r.In.Context(), propagation.HeaderCarrier(r.Out.Header))
		},
		FlushInterval: -1,
		// No Notification node known or reachable: as before discovery.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.log.Debug("notification stream: proxying", "err", err)
			http.Error(w, "notifications unavailable", http.StatusServiceUnavailable)
		},
	}
}

func (n *Node) mount() {
	opts := bind.HandlerOptions(n.cfg.InternalToken, telemetry.Interceptor(n.tp, n.metrics))
	if n.Trigger != nil {
		n.mux.Handle(triggerv1connect.NewTriggerServiceHandler(n.Trigger, opts...))
	}
	if n.Publisher != nil {
		n.mux.Handle(publisherv1connect.NewPublisherServiceHandler(n.Publisher, opts...))
	}
	if n.Notification != nil {
		n.mux.Handle(notificationv1connect.NewNotificationServiceHandler(n.Notification, opts...))
		n.mux.Handle(StreamPath, bind.RequireToken(n.cfg.InternalToken, n.Notification.StreamHandler()))
	}
	if n.Portal != nil {
		n.mux.Handle(portalv1connect.NewPortalServiceHandler(n.Portal, opts...))
		n.mux.Handle("/", n.Portal.Handler())
	}
	n.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	n.mux.HandleFunc("GET /readyz", n.ready)
	n.registerCollectors()
	n.mountTopology() // topology.go
	if n.cfg.Metrics.Enabled {
		n.mux.Handle("GET /metrics", n.metricsHandler())
	}
	n.handler = telemetry.HTTPHandler(n.admission(n.mux), n.tp, n.metrics) // admission.go
}

// ready reports each port's health; 503 when any is down.
func (n *Node) ready(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	var b strings.Builder
	for _, c := range n.checks(r.Context()) {
		if c.err != nil {
			status = http.StatusServiceUnavailable
			fmt.Fprintf(&b, "%s: %v\n", c.name, c.err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.name)
		}
	}
	// Overload: a node refusing requests for a while is routed around.
	if n.admit.saturated() {
		status = http.StatusServiceUnavailable
		b.WriteString("admission: saturated, refusing requests\n")
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

type check struct {
	name string
	err  error
}

// checks pings every port (readiness and the topology view).
func (n *Node) checks(ctx context.Context) []check {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var checks []check
	for u, db := range n.stores {
		checks = append(checks, check{"store " + store.Redact(u), db.Ping(ctx)})
	}
	checks = append(checks,
		check{"bus", n.Bus.Ping(ctx)},
		check{"coord", n.Coord.Ping(ctx)},
		check{"cache", n.Cache.Ping(ctx)},
		check{"blob", blob.Ping(ctx, n.Blob)},
	)
	return checks
}

// Handler is everything the node serves over HTTP, traced and counted.
func (n *Node) Handler() http.Handler { return n.handler }

// Config is the node's effective configuration.
func (n *Node) Config() config.Config { return n.cfg }

// Start migrates and starts the services, then listens. It returns once the
// node accepts requests.
func (n *Node) Start(ctx context.Context) error {
	type svc interface {
		Migrate(context.Context) error
		Start(context.Context) error
		Close() error
	}
	var order []svc
	// Consumers first, producers last, so no event waits for its consumer.
	if n.Notification != nil {
		order = append(order, n.Notification)
	}
	if n.Publisher != nil {
		order = append(order, n.Publisher)
	}
	if n.Portal != nil {
		order = append(order, n.Portal)
	}
	if n.Trigger != nil {
		order = append(order, n.Trigger)
	}
	for _, s := range order {
		if err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	for _, s := range order {
		if err := s.Start(ctx); err != nil {
			return err
		}
		n.started = append(n.started, s)
	}
	// Every consumer has subscribed: events may flow.
	n.gate.Open()
	if n.ln == nil {
		ln, err := net.Listen("tcp", n.cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen (%s): %w", n.cfg.Listen, err)
		}
		n.ln = ln
	}
	ln := n.ln
	h := n.handler
	for _, mw := range n.middleware {
		h = mw(h)
	}
	n.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	n.srv.Protocols = new(http.Protocols)
	n.srv.Protocols.SetHTTP1(true)
	n.srv.Protocols.SetUnencryptedHTTP2(true) // gRPC between nodes without TLS
	go func() {
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	n.register() // discovery.go
	return nil
}

// Addr is the address the node listens on (useful with ":0").
func (n *Node) Addr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

// URL is the node's base URL as reachable on this machine.
func (n *Node) URL() string {
	_, port, _ := net.SplitHostPort(n.Addr())
	return "http://127.0.0.1:" + port
}

// Stop shuts the node down: no new requests, running ones finish, services
// stop in reverse order, ports close.
func (n *Node) Stop(ctx context.Context) error {
	var errsOut []error
	n.stopOnce.Do(func() {
		if n.gate != nil {
			n.gate.Shut()
		}
		n.deregisterAll() // discovery.go
		if n.srv != nil {
			if err := n.srv.Shutdown(ctx); err != nil {
				errsOut = append(errsOut, err)
			}
		}
		for i := len(n.started) - 1; i >= 0; i-- {
			if err := n.started[i].Close(); err != nil {
				errsOut = append(errsOut, err)
			}
		}
		n.closePorts()
		if n.ownTP != nil {
			// Flush the spans of the shutdown itself too.
			if err := n.ownTP.Shutdown(ctx); err != nil {
				n.log.Warn("telemetry: flushing spans", "err", err)
			}
		}
	})
	return errors.Join(errsOut...)
}

func (n *Node) closePorts() {
	if n.Bus != nil {
		_ = n.Bus.Close()
	}
	if n.Coord != nil {
		_ = n.Coord.Close()
	}
	if n.Cache != nil {
		_ = n.Cache.Close()
	}
	if n.Blob != nil {
		_ = n.Blob.Close()
	}
	for _, db := range n.stores {
		_ = db.Close()
	}
}
