package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/config"

	// The embedded adapters, whose schemes the configuration accepts.
	_ "github.com/heraldhq/herald/bus/mem"
	_ "github.com/heraldhq/herald/cache/mem"
	_ "github.com/heraldhq/herald/coord/mem"
	_ "github.com/heraldhq/herald/store/sqlite"
)

// load runs config.Load with a YAML file (if yaml != ""), env and flags.
func load(t *testing.T, yaml string, env []string, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.Flags(fs)
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "herald.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config.Load(fs, env)
}

func TestZeroConfiguration(t *testing.T) {
	t.Parallel()
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.DataDir != "herald-data" {
		t.Errorf("listen %q data_dir %q, want :8080 and herald-data", c.Listen, c.DataDir)
	}
	if c.Store.URL != "sqlite://herald-data/herald.db" || c.Blob.URL != "file://herald-data/media" {
		t.Errorf("store %q blob %q should live in the data dir", c.Store.URL, c.Blob.URL)
	}
	if c.BaseURL != "http://localhost:8080" {
		t.Errorf("base_url %q", c.BaseURL)
	}
	for _, s := range config.AllServices {
		if !c.Services.Runs(s) || c.Services.Endpoint(s).Transport != config.TransportLocal {
			t.Errorf("%s should run here, reached by method call", s)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	yaml := "listen: \":7000\"\ndata_dir: fromfile\nlog:\n  level: debug\n"
	env := []string{"HERALD_LISTEN=:7100", "HERALD_STORE__URL=sqlite://env.db", "HERALD_SERVICES__TRIGGER__TRANSPORT=local", "OTHER=1"}
	c, err := load(t, yaml, env, "--listen", ":7200")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7200" {
		t.Errorf("flag should win: listen %q", c.Listen)
	}
	if c.Store.URL != "sqlite://env.db" {
		t.Errorf("env should set store.url: %q", c.Store.URL)
	}
	if c.DataDir != "fromfile" || c.Log.Level != "debug" {
		t.Errorf("file values lost: data_dir %q level %q", c.DataDir, c.Log.Level)
	}
	if c.Blob.URL != "file://fromfile/media" {
		t.Errorf("blob should follow data_dir: %q", c.Blob.URL)
	}
}

func TestTelemetryAndMetricsFromEnv(t *testing.T) {
	t.Parallel()
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Metrics.Enabled || c.Telemetry.OTLPEndpoint != "" || c.Telemetry.ServiceName != "herald" || c.Telemetry.SampleRatio != 1 {
		t.Errorf("defaults: metrics %+v telemetry %+v, want /metrics on and spans kept but not exported", c.Metrics, c.Telemetry)
	}
	env := []string{"HERALD_TELEMETRY__OTLP_ENDPOINT=http://collector:4318", "HERALD_TELEMETRY__SERVICE_NAME=herald-eu",
		"HERALD_TELEMETRY__SAMPLE_RATIO=0.25", "HERALD_METRICS__ENABLED=false", "HERALD_METRICS__TOKEN=scrape"}
	if c, err = load(t, "", env); err != nil {
		t.Fatal(err)
	}
	want := config.Telemetry{OTLPEndpoint: "http://collector:4318", ServiceName: "herald-eu", SampleRatio: 0.25}
	if c.Telemetry != want || c.Metrics.Enabled || c.Metrics.Token != "scrape" {
		t.Errorf("telemetry %+v metrics %+v, want %+v and metrics off with a token", c.Telemetry, c.Metrics, want)
	}
	if out, _ := c.Redacted().YAML(); strings.Contains(string(out), "scrape") {
		t.Errorf("the metrics token is printed:\n%s", out)
	}
}

func TestServicesFromEnvAndFlag(t *testing.T) {
	t.Parallel()
	env := []string{"HERALD_SERVICES__RUN=trigger,publisher", "HERALD_SERVICES__PORTAL__TRANSPORT=grpc",
		"HERALD_SERVICES__PORTAL__URL=http://10.0.0.1:8080", "HERALD_SERVICES__NOTIFICATION__TRANSPORT=connect",
		"HERALD_SERVICES__NOTIFICATION__URL=http://10.0.0.2:8080", "HERALD_INTERNAL_TOKEN=s3cret"}
	c, err := load(t, "", env)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Services.Run, ","); got != "trigger,publisher" {
		t.Errorf("services.run = %q", got)
	}
	c, err = load(t, "", env, "--services", "trigger,publisher,notification")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Services.Run, ","); got != "trigger,publisher,notification" {
		t.Errorf("flag services.run = %q", got)
	}
}

func TestBadConfigurationNamesTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		env        []string
		key, want  string
	}{
		{name: "unknown key", yaml: "listne: \":1\"\n", key: "listne", want: "did you mean listen"},
		{name: "unknown nested key", yaml: "store:\n  uri: x\n", key: "store.uri", want: "unknown key"},
		{name: "unknown env key", env: []string{"HERALD_BOGUS=1", "HERALD_TEST_POSTGRES_URL=ignored"}, key: "bogus", want: "unknown key"},
		{name: "bad store scheme", yaml: "store:\n  url: mysql://x\n", key: "store.url", want: "not supported"},
		{name: "bad bus scheme", yaml: "bus:\n  url: kafka://x\n", key: "bus.url", want: "not supported"},
		{name: "bad listen", yaml: "listen: nonsense\n", key: "listen", want: "host:port"},
		{name: "bad transport", yaml: "services:\n  trigger:\n    transport: pigeon\n", key: "services.trigger.transport", want: "not one of"},
		{name: "remote without url", yaml: "services:\n  run: [portal]\n  trigger:\n    transport: grpc\n", key: "services.trigger.url", want: "URL"},
		{name: "local but not run", yaml: "services:\n  run: [portal]\n", key: "services.trigger.transport", want: "does not run"},
		{name: "unknown service", yaml: "services:\n  run: [portal, mailer]\n", key: "services.run", want: "unknown service"},
		{name: "bad url in a list", yaml: "services:\n  run: [portal]\n  trigger:\n    transport: grpc\n    url: http://a:8080,b:8080\n", key: "services.trigger.url", want: "\"b:8080\""},
		{name: "discover with url", yaml: "advertise: http://a:1\nservices:\n  run: [portal]\n  trigger:\n    transport: grpc\n    discover: true\n    url: http://a:8080\n", key: "services.trigger.url", want: "must be empty"},
		{name: "discover a local service", yaml: "services:\n  trigger:\n    discover: true\n", key: "services.trigger.discover", want: "grpc or connect"},
		{name: "discover without advertise", yaml: "services:\n  run: [portal]\n  trigger:\n    transport: grpc\n    discover: true\n", key: "advertise", want: "names no host"},
		{name: "bad advertise", yaml: "advertise: 10.0.0.5:8080\n", key: "advertise", want: "http(s) URL"},
		{name: "bad secret key", yaml: "secret_key: abc\n", key: "secret_key", want: "64 hexadecimal"},
		{name: "bad log level", yaml: "log:\n  level: loud\n", key: "log.level", want: "not one of"},
		{name: "bad duration", yaml: "shutdown_timeout: soon\n", key: "shutdown_timeout", want: ""},
		{name: "bad smtp", yaml: "smtp:\n  url: http://mail\n", key: "smtp.url", want: "not supported"},
		{name: "no publish concurrency", yaml: "limits:\n  publish_concurrency: 0\n", key: "limits.publish_concurrency", want: "from 1 to 4096"},
		{name: "max below min concurrency", env: []string{"HERALD_LIMITS__MIN_CONCURRENCY=8", "HERALD_LIMITS__MAX_CONCURRENCY=4"}, key: "limits.max_concurrency", want: "from limits.min_concurrency (8)"},
		{name: "no queue timeout", yaml: "limits:\n  queue_timeout: 0s\n", key: "limits.queue_timeout", want: "more than 0"},
		{name: "negative queue", yaml: "limits:\n  queue_size: -1\n", key: "limits.queue_size", want: "from 0"},
		{name: "no consumer concurrency", yaml: "limits:\n  consumer_concurrency: 0\n", key: "limits.consumer_concurrency", want: "from 1 to 4096"},
		{name: "bad otlp endpoint", env: []string{"HERALD_TELEMETRY__OTLP_ENDPOINT=collector:4318"}, key: "telemetry.otlp_endpoint", want: "http(s) URL"},
		{name: "bad sample ratio", yaml: "telemetry:\n  sample_ratio: 2\n", key: "telemetry.sample_ratio", want: "at most 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.yaml, tt.env)
			if err == nil {
				t.Fatal("want an error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %q does not name a key", err)
			}
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q should name %q and say %q", err, tt.key, tt.want)
			}
		})
	}
}

func TestAdmissionKeys(t *testing.T) {
	t.Parallel()
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if !l.Admission || l.MinConcurrency != 16 || l.MaxConcurrency != 256 || l.QueueSize != 32 || l.QueueTimeout != 25*time.Millisecond || l.ConsumerConcurrency != 64 {
		t.Fatalf("admission defaults: %+v", l)
	}
	c, err = load(t, "", []string{"HERALD_LIMITS__ADMISSION=false", "HERALD_LIMITS__QUEUE_TIMEOUT=100ms", "HERALD_LIMITS__MAX_CONCURRENCY=32"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.Admission || c.Limits.QueueTimeout != 100*time.Millisecond || c.Limits.MaxConcurrency != 32 {
		t.Fatalf("admission keys from the environment: %+v", c.Limits)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	c, err := load(t, "secret_key: \""+strings.Repeat("ab", 32)+"\"\ninternal_token: hush\nsmtp:\n  url: smtp://bob:pa55word@mail:25\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted().YAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, secret := range []string{"abab", "hush", "pa55word"} {
		if strings.Contains(s, secret) {
			t.Errorf("printed configuration leaks %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{"listen:", "smtp://bob:REDACTED@mail:25", "run: [notification, publisher, trigger, portal]", "url: mem://"} {
		if !strings.Contains(s, want) {
			t.Errorf("printed configuration lacks %q:\n%s", want, s)
		}
	}
}

func TestSecretKeyIsCreatedOnceAndKept(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.DataDir = t.TempDir()
	k1, err := c.LoadSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.LoadSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatalf("key not kept: %x then %x", k1, k2)
	}
}

func TestNetworkApps(t *testing.T) {
	t.Parallel()
	c, err := load(t, "networks:\n  x:\n    client_id: herald-x\n    client_secret: xsecret\n  meta:\n    app_id: \"123\"\n    app_secret: metasecret\n",
		[]string{"HERALD_NETWORKS__THREADS__APP_ID=456", "HERALD_NETWORKS__THREADS__APP_SECRET=thsecret",
			"HERALD_NETWORKS__LINKEDIN__CLIENT_ID=li", "HERALD_NETWORKS__LINKEDIN__CLIENT_SECRET=lisecret"})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Networks
	if n.X.ClientID != "herald-x" || n.X.ClientSecret != "xsecret" || n.Meta.AppID != "123" || n.Meta.AppSecret != "metasecret" ||
		n.Threads.AppID != "456" || n.Threads.AppSecret != "thsecret" || n.LinkedIn.ClientID != "li" || n.LinkedIn.ClientSecret != "lisecret" {
		t.Fatalf("networks = %+v", n)
	}
	out, err := c.Redacted().YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"xsecret", "metasecret", "thsecret", "lisecret"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("printed configuration leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "herald-x") {
		t.Errorf("printed configuration lacks the X client id:\n%s", out)
	}

	// An id without its secret (or the other way round) is a mistake.
	for env, key := range map[string]string{
		"HERALD_NETWORKS__META__APP_ID=1":               "networks.meta",
		"HERALD_NETWORKS__THREADS__APP_SECRET=s":        "networks.threads",
		"HERALD_NETWORKS__LINKEDIN__CLIENT_ID=li":       "networks.linkedin",
		"HERALD_NETWORKS__X__CLIENT_SECRET=s":           "networks.x.client_id",
		"HERALD_NETWORKS__SIMNET_URL=ftp://sim.example": "networks.simnet_url",
	} {
		_, err := load(t, "", []string{env})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != key {
			t.Errorf("%s: %v, want a problem with %s", env, err, key)
		}
	}
	// An X app may be a public client, without a secret.
	if _, err := load(t, "", []string{"HERALD_NETWORKS__X__CLIENT_ID=public"}); err != nil {
		t.Errorf("public X client: %v", err)
	}
}

func TestSeveralURLsAndDiscovery(t *testing.T) {
	t.Parallel()
	c, err := load(t, "internal_token: x\nlisten: 10.0.0.5:8080\nservices:\n  run: [portal]\n  trigger:\n    transport: grpc\n    url: \"http://a:8080, http://b:8080\"\n  publisher:\n    transport: connect\n    discover: true\n  notification:\n    transport: connect\n    discover: true\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services.Trigger.URLs(); !slices.Equal(got, []string{"http://a:8080", "http://b:8080"}) {
		t.Errorf("trigger URLs = %q", got)
	}
	if !c.Services.Publisher.Discover {
		t.Error("services.publisher.discover not read")
	}
	if got := c.DefaultAdvertise(); got != "http://10.0.0.5:8080" {
		t.Errorf("advertise from listen = %q", got)
	}
	for listen, want := range map[string]string{":8080": "", "0.0.0.0:8080": "", "[::]:8080": "", "127.0.0.1:0": "", "[fd00::1]:80": "http://[fd00::1]:80"} {
		if got := (config.Config{Listen: listen}).DefaultAdvertise(); got != want {
			t.Errorf("DefaultAdvertise(listen %q) = %q, want %q", listen, got, want)
		}
	}
}
