package node

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/telemetry"
	"github.com/heraldhq/herald/trigger"
)

// WithTracerProvider makes the node trace with tp instead of the provider
// its configuration describes (tests record spans in memory with it). The
// caller shuts tp down.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(n *Node) { n.tp = tp } }

// setupTelemetry builds the tracer provider (unless one was given), the
// metrics registry and the log handler that names traces.
func (n *Node) setupTelemetry(ctx context.Context) error {
	telemetry.InstallPropagator()
	n.log = slog.New(telemetry.LogHandler(n.log.Handler()))
	n.metrics = telemetry.NewMetrics()
	if n.tp != nil {
		return nil
	}
	tp, err := telemetry.NewTracerProvider(ctx, telemetry.Config{
		ServiceName:  n.cfg.Telemetry.ServiceName,
		NodeID:       n.cfg.NodeID,
		OTLPEndpoint: n.cfg.Telemetry.OTLPEndpoint,
		SampleRatio:  n.cfg.Telemetry.SampleRatio,
	})
	if err != nil {
		return err
	}
	n.tp, n.ownTP = tp, tp
	return nil
}

// registerCollectors adds the numbers only this node knows: which services
// it runs, its outboxes' backlog, the cache's hit ratio and the Trigger's
// state. They are read at scrape time.
func (n *Node) registerCollectors() {
	reg := n.metrics.Registry
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "herald_node_info",
		Help: "Always 1: this node's id and the services it runs (one series each).",
	}, []string{"node_id", "service"})
	for _, s := range n.cfg.Services.Run {
		info.WithLabelValues(n.cfg.NodeID, s).Set(1)
	}
	reg.MustRegister(info, newOutboxCollector(n), n.cacheStats)
	if n.Trigger != nil {
		reg.MustRegister(triggerCollector{n.Trigger.Stats})
	}
}

// metricsHandler serves /metrics, behind metrics.token when one is set.
func (n *Node) metricsHandler() http.Handler {
	h := n.metrics.Handler()
	token := n.cfg.Metrics.Token
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the token in metrics.token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// outboxTables are the services' outbox tables, by the prefix each service
// gives its tables.
var outboxTables = map[string]string{
	config.Portal:       "portal_outbox",
	config.Trigger:      "trigger_outbox",
	config.Publisher:    "publisher_outbox",
	config.Notification: "notify_outbox",
}

// outboxCollector reports each local service's events not yet accepted by
// the bus. Counting is a query per service, so a result is reused for
// outboxReuse and each count is bounded by outboxTimeout: scraping often,
// or a slow database, costs the database little.
type outboxCollector struct {
	n    *Node
	desc *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[string]int
}

const (
	outboxReuse   = 5 * time.Second
	outboxTimeout = 2 * time.Second
)

func newOutboxCollector(n *Node) *outboxCollector {
	return &outboxCollector{n: n, desc: prometheus.NewDesc("herald_outbox_pending",
		"Events in a service's outbox not yet accepted by the bus (a growing number means the bus or a consumer is behind).",
		[]string{"service"}, nil)}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil || time.Since(c.at) > outboxReuse {
		c.counts = map[string]int{}
		for _, s := range c.n.cfg.Services.Run {
			db := c.n.db(s)
			if db == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
			var count int
			// A service that has not migrated yet has no table: no sample.
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM `+outboxTables[s]).Scan(&count); err == nil {
				c.counts[s] = count
			} else {
				c.n.log.Debug("metrics: counting the outbox", "service", s, "err", err)
			}
			cancel()
		}
		c.at = time.Now()
	}
	for s, count := range c.counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(count), s)
	}
}

// triggerCollector turns trigger.Stats into metrics at scrape time.
type triggerCollector struct{ stats func() trigger.Stats }

var (
	trFired     = prometheus.NewDesc("herald_trigger_fired_total", "Schedules this node fired.", nil, nil)
	trStale     = prometheus.NewDesc("herald_trigger_stale_total", "In-memory entries not fired because the database said otherwise (moved, cancelled or fired elsewhere).", nil, nil)
	trFenced    = prometheus.NewDesc("herald_trigger_fenced_total", "Entries not fired because their shard had passed to a newer lock holder.", nil, nil)
	trInMemory  = prometheus.NewDesc("herald_trigger_in_memory", "Schedules held in memory now.", nil, nil)
	trPeak      = prometheus.NewDesc("herald_trigger_in_memory_peak", "Most schedules held in memory at any time.", nil, nil)
	trShards    = prometheus.NewDesc("herald_trigger_owned_shards", "Shards this node owns now.", nil, nil)
	trLate      = prometheus.NewDesc("herald_trigger_lateness_seconds", "fired_at - due_at over recent fires, by quantile.", []string{"quantile"}, nil)
	trLateMax   = prometheus.NewDesc("herald_trigger_lateness_max_seconds", "Largest fired_at - due_at since start.", nil, nil)
	trPolls     = prometheus.NewDesc("herald_trigger_feed_polls_total", "Feed polls by result: committed (of which not_modified answered 304), failed, dropped (fenced or stale).", []string{"result"}, nil)
	trItems     = prometheus.NewDesc("herald_trigger_feed_items_total", "feed.item events written.", nil, nil)
	trInFlight  = prometheus.NewDesc("herald_trigger_feed_polls_in_flight", "Feed polls running now.", nil, nil)
	trCapped    = prometheus.NewDesc("herald_trigger_feed_capped", "Due feeds the last look left waiting for their host's poll limit.", nil, nil)
	triggerDesc = []*prometheus.Desc{trFired, trStale, trFenced, trInMemory, trPeak, trShards, trLate, trLateMax, trPolls, trItems, trInFlight, trCapped}
)

func (c triggerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range triggerDesc {
		ch <- d
	}
}

func (c triggerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(trFired, s.Fired)
	counter(trStale, s.Stale)
	counter(trFenced, s.Fenced)
	gauge(trInMemory, float64(s.InMemory))
	gauge(trPeak, float64(s.PeakInMemory))
	gauge(trShards, float64(s.OwnedShards))
	gauge(trLate, s.Lateness.P50.Seconds(), "0.5")
	gauge(trLate, s.Lateness.P99.Seconds(), "0.99")
	gauge(trLateMax, s.Lateness.Max.Seconds())
	counter(trPolls, s.Feeds.Polls, "committed")
	counter(trPolls, s.Feeds.NotModified, "not_modified")
	counter(trPolls, s.Feeds.Failed, "failed")
	counter(trPolls, s.Feeds.Dropped, "dropped")
	counter(trItems, s.Feeds.Items)
	gauge(trInFlight, float64(s.Feeds.InFlight))
	gauge(trCapped, float64(s.Feeds.Capped))
}

// countingCache counts the cache port's hits and misses, which no adapter
// reports, and exports them beside those of every kind read through it
// (package readthrough), for a hit ratio per kind: name="port" is every
// read of the port, generation tokens included; the other names are the
// kinds (portal.post_lists, portal.accounts).
type countingCache struct {
	cache.Cache
	hits, misses, errors atomic.Int64
	// reads is the read-through layer over this cache, set once the node
	// has made it.
	reads *readthrough.Cache
	desc  *prometheus.Desc
}

func newCountingCache(c cache.Cache) *countingCache {
	return &countingCache{Cache: c, desc: prometheus.NewDesc("herald_cache_gets_total",
		"Cache reads by result (hit, miss, error): name=\"port\" counts every read of the cache, the other names one kind of cached value each.",
		[]string{"name", "result"}, nil)}
}

func (c *countingCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := c.Cache.Get(ctx, key)
	switch {
	case err != nil:
		c.errors.Add(1)
	case ok:
		c.hits.Add(1)
	default:
		c.misses.Add(1)
	}
	return v, ok, err
}

func (c *countingCache) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *countingCache) Collect(ch chan<- prometheus.Metric) {
	emit := func(name string, hits, misses, errors int64) {
		for result, v := range map[string]int64{"hit": hits, "miss": misses, "error": errors} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), name, result)
		}
	}
	emit("port", c.hits.Load(), c.misses.Load(), c.errors.Load())
	for _, s := range c.reads.Stats() {
		emit(s.Name, s.Hits, s.Misses, s.Errors)
	}
}
