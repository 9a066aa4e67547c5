// Package config is Herald's configuration: defaults that need nothing
// installed, overridden in order by a YAML file, HERALD_* environment
// variables and command-line flags. Unknown keys and bad values stop
// start-up with a message naming the key.
//
// Environment variables map to keys by dropping the HERALD_ prefix,
// lowercasing, and reading a double underscore as a level:
// HERALD_LISTEN=:9090 sets listen, HERALD_STORE__URL=... sets store.url,
// HERALD_SERVICES__TRIGGER__TRANSPORT=grpc sets services.trigger.transport.
// HERALD_TEST_* variables belong to the test suite and are ignored.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/blob"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/store"
)

// Service names, as used in services.run and services.<name>.
const (
	Portal       = "portal"
	Trigger      = "trigger"
	Publisher    = "publisher"
	Notification = "notification"
)

// AllServices lists every service in start-up order.
var AllServices = []string{Notification, Publisher, Trigger, Portal}

// Transports a caller can reach a service by.
const (
	TransportLocal   = "local"   // a method call in this process
	TransportGRPC    = "grpc"    // gRPC over HTTP/2
	TransportConnect = "connect" // Connect's HTTP/JSON protocol
)

// Config is the effective configuration of one node.
type Config struct {
	// DataDir holds the embedded store, media and the generated secret key.
	DataDir string `koanf:"data_dir"`
	// Listen is the address the HTTP server (UI, REST API, service APIs) binds.
	Listen string `koanf:"listen"`
	// BaseURL is how users reach this node (links in emails, OAuth
	// callbacks). Empty: derived from Listen.
	BaseURL string `koanf:"base_url"`
	// SecretKey encrypts social account tokens at rest (64 hex chars).
	// Empty: generated once into <data_dir>/secret.key.
	SecretKey string `koanf:"secret_key"`
	// InternalToken authenticates calls between services. Required when a
	// service is reached over the network; generated per start otherwise.
	InternalToken string `koanf:"internal_token"`
	// CookieSecure marks session cookies Secure (set it behind HTTPS).
	CookieSecure bool `koanf:"cookie_secure"`
	// NodeID names this node among others (letters, digits, - and _); it
	// must stay the same across restarts. Empty: the host name.
	NodeID string `koanf:"node_id"`
	// Advertise is the base URL other nodes reach this one at, registered
	// in the coordination registry for the services it runs. Empty: the
	// listen address when it names a host (not 0.0.0.0 or ::).
	Advertise string `koanf:"advertise"`

	Store    Store    `koanf:"store"`
	Bus      URLOnly  `koanf:"bus"`
	Coord    URLOnly  `koanf:"coord"`
	Cache    Cache    `koanf:"cache"`
	Blob     URLOnly  `koanf:"blob"`
	Services Services `koanf:"services"`
	SMTP     SMTP     `koanf:"smtp"`
	Outbound Outbound `koanf:"outbound"`
	Networks Networks `koanf:"networks"`
	Limits   Limits   `koanf:"limits"`
	Log      Log      `koanf:"log"`
	// Telemetry says where traces go; Metrics whether /metrics is served.
	Telemetry Telemetry `koanf:"telemetry"`
	Metrics   Metrics   `koanf:"metrics"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Store selects the relational store; each service may have its own.
type Store struct {
	URL          string `koanf:"url"`
	Portal       string `koanf:"portal"`
	Trigger      string `koanf:"trigger"`
	Publisher    string `koanf:"publisher"`
	Notification string `koanf:"notification"`
}

// URLFor returns the store URL of a service (its own, or the shared one).
func (s Store) URLFor(service string) string {
	own := map[string]string{Portal: s.Portal, Trigger: s.Trigger, Publisher: s.Publisher, Notification: s.Notification}[service]
	if own != "" {
		return own
	}
	return s.URL
}

// Cache selects the cache. With Local set, the cache has two tiers: Local
// in this process in front of URL (memcached://, redis://), kept fresh by
// invalidation events on the bus.
type Cache struct {
	URL   string `koanf:"url"`
	Local string `koanf:"local"`
}

// URLOnly is a port selected by URL alone.
type URLOnly struct {
	URL string `koanf:"url"`
}

// Services says which services this node runs and how it reaches each.
type Services struct {
	// Run lists the services this node runs.
	Run          []string `koanf:"run"`
	Portal       Endpoint `koanf:"portal"`
	Trigger      Endpoint `koanf:"trigger"`
	Publisher    Endpoint `koanf:"publisher"`
	Notification Endpoint `koanf:"notification"`
}

// Endpoint says how to reach one service.
type Endpoint struct {
	// Transport: local, grpc or connect.
	Transport string `koanf:"transport"`
	// URL of the node serving it, for grpc and connect (http://host:port);
	// several, comma-separated, spread the calls over those nodes.
	URL string `koanf:"url"`
	// Discover finds the nodes serving it in the coordination registry
	// instead of URL (docs/decisions/0027-service-discovery.md).
	Discover bool `koanf:"discover"`
}

// URLs lists the nodes named by URL, in the order given.
func (e Endpoint) URLs() []string { return splitList(e.URL) }

// Endpoint returns the endpoint of a service.
func (s Services) Endpoint(service string) Endpoint {
	switch service {
	case Portal:
		return s.Portal
	case Trigger:
		return s.Trigger
	case Publisher:
		return s.Publisher
	default:
		return s.Notification
	}
}

// Runs reports whether this node runs service.
func (s Services) Runs(service string) bool { return slices.Contains(s.Run, service) }

// SMTP configures email delivery. An empty URL disables email.
type SMTP struct {
	// URL: smtp://[user:password@]host:port (STARTTLS when offered),
	// smtps://... (implicit TLS).
	URL  string `koanf:"url"`
	From string `koanf:"from"`
}

// Outbound limits requests to user-supplied URLs (Mastodon instances, feeds).
type Outbound struct {
	AllowLoopback bool `koanf:"allow_loopback"`
	AllowPrivate  bool `koanf:"allow_private"`
}

// Networks configures the social networks Herald publishes to.
type Networks struct {
	// SimnetURL, when set, points the networks whose APIs live at fixed
	// addresses (Telegram, Discord, Slack, and the connect flows and APIs
	// of X, LinkedIn, Facebook, Instagram and Threads) at a simnet server
	// instead, for development and load tests (Mastodon and Bluesky
	// accounts name their server).
	// Needs outbound.allow_loopback for a simnet on this machine.
	SimnetURL string `koanf:"simnet_url"`

	// Herald's own apps on the networks connected through OAuth with one
	// app: a network whose app is not configured is not offered for
	// connecting through OAuth. Their redirect URI, to register with the
	// network, is base_url + /oauth/<network>/callback.
	X        OAuthClient `koanf:"x"`
	LinkedIn OAuthClient `koanf:"linkedin"`
	// Meta is the Meta app Facebook Pages and Instagram connect through
	// (Facebook Login); Threads has an app id and secret of its own.
	Meta    MetaApp `koanf:"meta"`
	Threads MetaApp `koanf:"threads"`
}

// OAuthClient is an app registered in a network's developer portal.
type OAuthClient struct {
	ClientID string `koanf:"client_id"`
	// ClientSecret may be empty for an X app registered as a public
	// client; LinkedIn needs it.
	ClientSecret string `koanf:"client_secret"`
}

// MetaApp is a Meta app's id and secret.
type MetaApp struct {
	AppID     string `koanf:"app_id"`
	AppSecret string `koanf:"app_secret"`
}

// Limits protect the REST API from a single user or token.
type Limits struct {
	// APIRate is the sustained requests per second one user or token may
	// make; APIBurst how many it may make at once.
	APIRate  float64 `koanf:"api_rate"`
	APIBurst int     `koanf:"api_burst"`
	// PublishConcurrency is how many posts one Publisher node publishes at
	// once (network calls in flight); the per-account rate limits apply
	// within it.
	PublishConcurrency int `koanf:"publish_concurrency"`

	// Overload protection (docs/decisions/0025-admission-control.md).
	// Admission turns the node's adaptive concurrency limit on: requests
	// beyond it wait up to QueueTimeout in a queue of QueueSize, then get
	// 503 with Retry-After. The limit moves between MinConcurrency and
	// MaxConcurrency with the latency it observes. Calls between services,
	// probes and streams are never refused.
	Admission      bool          `koanf:"admission"`
	MinConcurrency int           `koanf:"min_concurrency"`
	MaxConcurrency int           `koanf:"max_concurrency"`
	QueueSize      int           `koanf:"queue_size"`
	QueueTimeout   time.Duration `koanf:"queue_timeout"`
	// ConsumerConcurrency bounds the bus messages one node handles at once
	// over all its subscriptions but post.due (bounded by
	// PublishConcurrency); more wait unacknowledged at the bus.
	ConsumerConcurrency int `koanf:"consumer_concurrency"`
}

// Log configures logging.
type Log struct {
	Level  string `koanf:"level"`  // debug, info, warn, error
	Format string `koanf:"format"` // text, json
}

// Telemetry configures tracing (see docs/decisions/0023-observability.md).
type Telemetry struct {
	// OTLPEndpoint is an OpenTelemetry collector's OTLP/HTTP address
	// (http://collector:4318; the path defaults to /v1/traces). Empty:
	// spans are made, and name their trace in log records, but not sent.
	OTLPEndpoint string `koanf:"otlp_endpoint"`
	// ServiceName is the service.name of this node's spans.
	ServiceName string `koanf:"service_name"`
	// SampleRatio is the share of new traces kept (0 < ratio <= 1); a
	// trace begun on another node keeps that node's decision.
	SampleRatio float64 `koanf:"sample_ratio"`
}

// Metrics configures the Prometheus endpoint, GET /metrics on listen.
type Metrics struct {
	Enabled bool `koanf:"enabled"`
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// /metrics, for a node whose listen address is reachable by the public.
	Token string `koanf:"token"`
}

// Default returns the zero-configuration settings: everything embedded,
// data in ./herald-data, listening on :8080.
func Default() Config {
	local := Endpoint{Transport: TransportLocal}
	return Config{
		DataDir: "herald-data",
		Listen:  ":8080",
		Bus:     URLOnly{URL: "mem://"},
		Coord:   URLOnly{URL: "mem://"},
		Cache:   Cache{URL: "mem://?max_bytes=67108864"},
		Services: Services{
			Run:    slices.Clone(AllServices),
			Portal: local, Trigger: local, Publisher: local, Notification: local,
		},
		SMTP: SMTP{From: "Herald <herald@localhost>"},
		Limits: Limits{APIRate: 20, APIBurst: 200, PublishConcurrency: 256,
			Admission: true, MinConcurrency: 16, MaxConcurrency: 256, QueueSize: 32, QueueTimeout: 25 * time.Millisecond,
			ConsumerConcurrency: 64},
		Log:             Log{Level: "info", Format: "text"},
		Telemetry:       Telemetry{ServiceName: "herald", SampleRatio: 1},
		Metrics:         Metrics{Enabled: true},
		ShutdownTimeout: 15 * time.Second,
	}
}

// Error is a configuration problem, naming the key.
type Error struct {
	Key     string
	Problem string
}

func (e *Error) Error() string { return "config: " + e.Key + ": " + e.Problem }

// Flags registers the command-line flags that override configuration keys.
func Flags(fs *pflag.FlagSet) {
	fs.StringP("config", "c", "", "YAML configuration file")
	fs.String("listen", "", "listen address (listen), e.g. :8080")
	fs.String("data-dir", "", "data directory (data_dir)")
	fs.String("base-url", "", "public base URL (base_url)")
	fs.StringSlice("services", nil, "services this node runs (services.run): portal,trigger,publisher,notification")
}

var flagKeys = map[string]string{
	"listen": "listen", "data-dir": "data_dir", "base-url": "base_url", "services": "services.run",
}

// Load builds the effective configuration from defaults, the file named by
// the --config flag (if any), the environment and the flags. environ is
// os.Environ() in production.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	k := koanf.New(".")
	var path string
	if fs != nil {
		path, _ = fs.GetString("config")
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, &Error{Key: "--config", Problem: fmt.Sprintf("reading %s: %v", path, err)}
		}
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      "HERALD_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(key, v string) (string, any) {
			if strings.HasPrefix(key, "HERALD_TEST_") {
				return "", nil // the test suite's own settings, not Herald's
			}
			key = strings.ToLower(strings.TrimPrefix(key, "HERALD_"))
			key = strings.ReplaceAll(key, "__", ".")
			if key == "services.run" {
				return key, splitList(v)
			}
			return key, v
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}
	if fs != nil {
		err := k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
			key, ok := flagKeys[f.Name]
			if !ok || !f.Changed {
				return "", nil
			}
			if key == "services.run" {
				v, _ := fs.GetStringSlice(f.Name)
				return key, v
			}
			return key, f.Value.String()
		}), nil)
		if err != nil {
			return Config{}, fmt.Errorf("config: flags: %w", err)
		}
	}
	c := Default()
	var unused []string
	dc := &mapstructure.DecoderConfig{
		Result:           &c,
		TagName:          "koanf",
		WeaklyTypedInput: true,
		Metadata:         &mapstructure.Metadata{},
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	}
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return Config{}, decodeError(err)
	}
	unused = dc.Metadata.Unused
	if len(unused) > 0 {
		sort.Strings(unused)
		return Config{}, &Error{Key: unused[0], Problem: "unknown key" + suggest(unused[0])}
	}
	if err := c.resolve(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// decodeError turns a mapstructure error into one naming the key.
func decodeError(err error) error {
	msg := err.Error()
	// mapstructure says: 'listen' expected type 'string', got ...
	if i := strings.Index(msg, "'"); i >= 0 {
		if j := strings.Index(msg[i+1:], "'"); j >= 0 {
			return &Error{Key: msg[i+1 : i+1+j], Problem: strings.TrimSpace(msg[i+j+2:])}
		}
	}
	return fmt.Errorf("config: %w", err)
}

// suggest names the closest known key when the unknown one looks like a typo.
func suggest(key string) string {
	best, bestD := "", 3
	for _, k := range KnownKeys() {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// KnownKeys lists every configuration key, for docs and messages.
func KnownKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("koanf")
			if name == "" {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, prefix+name+".")
				continue
			}
			out = append(out, prefix+name)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// resolve fills what depends on other keys: URLs under the data dir and
// the base URL.
func (c *Config) resolve() error {
	if c.DataDir == "" {
		return &Error{Key: "data_dir", Problem: "must not be empty"}
	}
	if c.Store.URL == "" {
		c.Store.URL = "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "herald.db"))
	}
	if c.Blob.URL == "" {
		c.Blob.URL = "file://" + filepath.ToSlash(filepath.Join(c.DataDir, "media"))
	}
	if c.BaseURL == "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return &Error{Key: "listen", Problem: fmt.Sprintf("%q is not host:port", c.Listen)}
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.BaseURL = "http://" + net.JoinHostPort(host, port)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.NodeID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "herald"
		}
		c.NodeID = nodeIDClean.ReplaceAllString(host, "-")
	}
	return nil
}

// DefaultAdvertise is the base URL derived from listen when advertise is
// empty: empty when listen names no host, since 0.0.0.0 is no address
// another node can call.
func (c Config) DefaultAdvertise() string {
	if c.Advertise != "" {
		return strings.TrimRight(c.Advertise, "/")
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}

var nodeIDClean = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Validate checks every value that can be checked without connecting.
func (c Config) Validate() error {
	var problems []error
	bad := func(key, format string, args ...any) {
		problems = append(problems, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port (e.g. :8080)", c.Listen)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "%q is not an http(s) URL", c.BaseURL)
	}
	if c.SecretKey != "" {
		if b, err := decodeKey(c.SecretKey); err != nil || len(b) != 32 {
			bad("secret_key", "must be 64 hexadecimal characters (32 bytes)")
		}
	}
	checkURL := func(key, raw string, schemes ...string) {
		u, err := url.Parse(raw)
		if err != nil {
			bad(key, "not a URL: %v", err)
			return
		}
		if !slices.Contains(schemes, u.Scheme) {
			bad(key, "scheme %q is not supported (use %s)", u.Scheme, strings.Join(schemes, ", "))
		}
	}
	// The schemes are those of the adapters linked into this binary.
	checkURL("store.url", c.Store.URL, store.Schemes()...)
	for _, s := range []string{Portal, Trigger, Publisher, Notification} {
		if own := map[string]string{Portal: c.Store.Portal, Trigger: c.Store.Trigger, Publisher: c.Store.Publisher, Notification: c.Store.Notification}[s]; own != "" {
			checkURL("store."+s, own, store.Schemes()...)
		}
	}
	checkURL("bus.url", c.Bus.URL, bus.Schemes()...)
	checkURL("coord.url", c.Coord.URL, coord.Schemes()...)
	checkURL("cache.url", c.Cache.URL, cache.Schemes()...)
	if c.Cache.Local != "" {
		checkURL("cache.local", c.Cache.Local, "mem")
	}
	if nodeIDClean.MatchString(c.NodeID) {
		bad("node_id", "%q may hold only letters, digits, - and _", c.NodeID)
	}
	checkURL("blob.url", c.Blob.URL, blob.Schemes()...)
	if c.SMTP.URL != "" {
		checkURL("smtp.url", c.SMTP.URL, "smtp", "smtps")
	}
	if len(c.Services.Run) == 0 {
		bad("services.run", "names no service; use some of %s", strings.Join(AllServices, ", "))
	}
	for _, s := range c.Services.Run {
		if !slices.Contains(AllServices, s) {
			bad("services.run", "unknown service %q (known: %s)", s, strings.Join(AllServices, ", "))
		}
	}
	remote, discover := false, false
	for _, s := range AllServices {
		e := c.Services.Endpoint(s)
		key := "services." + s
		switch e.Transport {
		case TransportLocal:
			if !c.Services.Runs(s) {
				bad(key+".transport", "is local but this node does not run %s; set grpc or connect and %s.url", s, key)
			}
		case TransportGRPC, TransportConnect:
			remote = true
			switch {
			case e.Discover && e.URL != "":
				bad(key+".url", "must be empty with %s.discover (the registry names the nodes)", key)
			case e.Discover:
				discover = true
			case !c.Services.Runs(s) || e.URL != "":
				urls := e.URLs()
				if len(urls) == 0 {
					bad(key+".url", "must be the http(s) URL of the node running %s (or several, comma-separated), got %q", s, e.URL)
				}
				for _, raw := range urls {
					u, err := url.Parse(raw)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						bad(key+".url", "must be the http(s) URL of the node running %s (or several, comma-separated), got %q", s, raw)
					}
				}
			}
		default:
			bad(key+".transport", "%q is not one of local, grpc, connect", e.Transport)
		}
		if e.Discover && e.Transport == TransportLocal {
			bad(key+".discover", "needs transport grpc or connect (a local service is not looked up)")
		}
	}
	if c.Advertise != "" {
		if u, err := url.Parse(c.Advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("advertise", "%q is not an http(s) URL (e.g. http://10.0.0.5:8080)", c.Advertise)
		}
	} else if discover && c.DefaultAdvertise() == "" {
		bad("advertise", "must be set when listen (%q) names no host and services are discovered: other nodes could not reach this one", c.Listen)
	}
	if remote && c.InternalToken == "" && len(c.Services.Run) < len(AllServices) {
		bad("internal_token", "must be set when services run on different nodes (the same value on every node)")
	}
	if c.Networks.SimnetURL != "" {
		checkURL("networks.simnet_url", c.Networks.SimnetURL, "http", "https")
	}
	if c.Networks.X.ClientID == "" && c.Networks.X.ClientSecret != "" {
		bad("networks.x.client_id", "must be set with networks.x.client_secret")
	}
	if (c.Networks.LinkedIn.ClientID == "") != (c.Networks.LinkedIn.ClientSecret == "") {
		bad("networks.linkedin", "client_id and client_secret must be set together")
	}
	for key, a := range map[string]MetaApp{"networks.meta": c.Networks.Meta, "networks.threads": c.Networks.Threads} {
		if (a.AppID == "") != (a.AppSecret == "") {
			bad(key, "app_id and app_secret must be set together")
		}
	}
	if c.Limits.APIRate <= 0 {
		bad("limits.api_rate", "must be positive")
	}
	if c.Limits.APIBurst < 1 {
		bad("limits.api_burst", "must be at least 1")
	}
	if c.Limits.PublishConcurrency < 1 || c.Limits.PublishConcurrency > 4096 {
		bad("limits.publish_concurrency", "must be from 1 to 4096")
	}
	if c.Limits.MinConcurrency < 1 {
		bad("limits.min_concurrency", "must be at least 1")
	}
	if c.Limits.MaxConcurrency < c.Limits.MinConcurrency || c.Limits.MaxConcurrency > 65536 {
		bad("limits.max_concurrency", "must be from limits.min_concurrency (%d) to 65536", c.Limits.MinConcurrency)
	}
	if c.Limits.QueueSize < 0 || c.Limits.QueueSize > 65536 {
		bad("limits.queue_size", "must be from 0 to 65536")
	}
	if c.Limits.QueueTimeout <= 0 || c.Limits.QueueTimeout > 10*time.Second {
		bad("limits.queue_timeout", "must be more than 0 and at most 10s (a short wait, e.g. 25ms)")
	}
	if c.Limits.ConsumerConcurrency < 1 || c.Limits.ConsumerConcurrency > 4096 {
		bad("limits.consumer_concurrency", "must be from 1 to 4096")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Telemetry.OTLPEndpoint != "" {
		if u, err := url.Parse(c.Telemetry.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("telemetry.otlp_endpoint", "%q is not an http(s) URL (e.g. http://collector:4318)", c.Telemetry.OTLPEndpoint)
		}
	}
	if c.Telemetry.ServiceName == "" {
		bad("telemetry.service_name", "must not be empty")
	}
	if c.Telemetry.SampleRatio <= 0 || c.Telemetry.SampleRatio > 1 {
		bad("telemetry.sample_ratio", "must be more than 0 and at most 1, got %v", c.Telemetry.SampleRatio)
	}
	return errors.Join(problems...)
}

func decodeKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// LoadSecretKey returns the 32-byte key that encrypts secrets at rest: the
// configured secret_key, or the one kept in <data_dir>/secret.key, created
// on first use. Losing that file makes stored account tokens unreadable, so
// it is written once and never replaced.
func (c Config) LoadSecretKey() ([]byte, error) {
	if c.SecretKey != "" {
		return decodeKey(c.SecretKey)
	}
	path := filepath.Join(c.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		key, err := decodeKey(strings.TrimSpace(string(b)))
		if err != nil || len(key) != 32 {
			return nil, &Error{Key: "secret_key", Problem: path + " does not hold 64 hexadecimal characters"}
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, &Error{Key: "secret_key", Problem: err.Error()}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return nil, &Error{Key: "data_dir", Problem: err.Error()}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process won the race
			return c.LoadSecretKey()
		}
		return nil, &Error{Key: "secret_key", Problem: err.Error()}
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, &Error{Key: "secret_key", Problem: err.Error()}
	}
	return key, f.Sync()
}
