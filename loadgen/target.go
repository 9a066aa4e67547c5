package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/simnet"
)

// TargetOptions say which running Herald to drive and how to sign in.
type TargetOptions struct {
	// URL is the node (or load balancer) the API requests go to.
	URL string
	// Email and Password sign in; on a Herald without an agency yet they
	// create one through /api/v1/setup.
	Email, Password string
	// SimnetURL is a running `herald simnet` the account publishes to;
	// empty starts one in this process (the target must reach loopback).
	SimnetURL string
	// MetricsURLs are the nodes whose /metrics are scraped for evidence
	// (default: URL's own).
	MetricsURLs []string
}

// Target is a Herald the load generator has set itself up on: an API
// token, a workspace in UTC and a simulated Mastodon account.
type Target struct {
	Base        string
	Token       string
	WorkspaceID string
	AccountID   string
	SimURL      string
	MetricsURLs []string
	http        *http.Client
	stopSim     func()
}

// Close stops what Connect started.
func (t *Target) Close() {
	if t.stopSim != nil {
		t.stopSim()
	}
}

// Connect signs in to a running Herald (creating its agency when it has
// none) and makes what the workloads need.
func Connect(ctx context.Context, o TargetOptions) (*Target, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("loadgen: a target URL is needed")
	}
	if o.Email == "" {
		o.Email = "load@herald.test"
	}
	if o.Password == "" {
		o.Password = "load generator password"
	}
	t := &Target{Base: strings.TrimRight(o.URL, "/"), MetricsURLs: o.MetricsURLs, http: &http.Client{Timeout: 30 * time.Second}}
	if len(t.MetricsURLs) == 0 {
		t.MetricsURLs = []string{t.Base}
	}
	c := newClient(t.Base)
	var setup struct {
		Needed bool `json:"needed"`
	}
	if err := c.do(ctx, "GET", "/api/v1/setup", nil, &setup); err != nil {
		return nil, fmt.Errorf("loadgen: is %s a Herald? %w", t.Base, err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	path := "/api/v1/login"
	body := map[string]any{"email": o.Email, "password": o.Password}
	if setup.Needed {
		path = "/api/v1/setup"
		body["agency_name"], body["name"] = "Load", "Load"
	}
	if err := c.do(ctx, "POST", path, body, &login); err != nil {
		return nil, err
	}
	c.csrf = login.CSRF
	var tok struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, "POST", "/api/v1/tokens", map[string]any{"name": "loadtest " + time.Now().UTC().Format(time.RFC3339)}, &tok); err != nil {
		return nil, err
	}
	t.Token = tok.Token
	var ws, acct struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "POST", "/api/v1/workspaces", map[string]any{"name": "Load " + time.Now().UTC().Format("15:04:05.000"), "timezone": "UTC"}, &ws); err != nil {
		return nil, err
	}
	t.WorkspaceID = ws.ID
	t.SimURL = strings.TrimRight(o.SimnetURL, "/")
	if t.SimURL == "" {
		// Without Mastodon's per-account limit: this measures Herald, not
		// a network's budget.
		sim := simnet.New(simnet.Options{RateLimit: -1})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		sctx, stop := context.WithCancel(context.Background())
		go sim.Serve(sctx, ln)
		t.stopSim, t.SimURL = stop, "http://"+ln.Addr().String()
	}
	var simAcct struct {
		Token string `json:"access_token"`
	}
	if err := newClient(t.SimURL).do(ctx, "POST", "/_simnet/accounts", map[string]any{"username": fmt.Sprintf("load%d", time.Now().UnixNano()%1e9)}, &simAcct); err != nil {
		t.Close()
		return nil, fmt.Errorf("loadgen: simnet account: %w", err)
	}
	if err := c.do(ctx, "POST", "/api/v1/workspaces/"+ws.ID+"/accounts",
		map[string]any{"network": "mastodon", "instance_url": t.SimURL, "access_token": simAcct.Token}, &acct); err != nil {
		t.Close()
		return nil, err
	}
	t.AccountID = acct.ID
	return t, nil
}

// api calls the target with the load's token.
func (t *Target) api(ctx context.Context, method, path string, in, out any) error {
	c := &client{base: t.Base, http: t.http}
	return c.doAuth(ctx, method, path, "Bearer "+t.Token, in, out)
}

func (c *client) doAuth(ctx context.Context, method, path, auth string, in, out any) error {
	req, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	return c.send(req, method, path, out)
}

// simStats reads the simulated network's counters.
func (t *Target) simStats(ctx context.Context) (simnet.Stats, error) {
	var s simnet.Stats
	err := newClient(t.SimURL).do(ctx, "GET", "/_simnet/stats", nil, &s)
	return s, err
}

// Embedded starts a node with embedded defaults in this process, on a
// temporary data directory, for a capacity run with no target (CI). It
// returns the node's URL and how to stop it.
func Embedded(ctx context.Context, logw io.Writer, environ ...string) (string, func(), error) {
	if logw == nil {
		logw = io.Discard
	}
	dir, err := os.MkdirTemp("", "herald-capacity-")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	env := append([]string{
		"HERALD_DATA_DIR=" + dir,
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LOG__LEVEL=warn",
		// One token makes every request: lift the per-token API limit so
		// the measure is the node, not its politeness to one caller.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}, environ...)
	cfg, err := config.Load(nil, env)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	n, err := node.New(ctx, cfg, slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})), node.WithListener(ln))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err := n.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = n.Stop(sctx)
			os.RemoveAll(dir)
		})
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// Sample is one scrape of every node's /metrics: series summed over the
// nodes, keyed by name and labels as exposed (`name{a="b"}`), plus the
// services each node runs.
type Sample struct {
	At time.Time
	// HostBusy and HostTotal are this machine's busy and total CPU ticks
	// (/proc/stat): whether the cores were free for the measured node
	// when it runs here.
	HostBusy, HostTotal float64
	Series              map[string]float64
	Services            map[string][]string // by metrics URL
}

// get sums every series of name whose labels include all of want.
func (s Sample) get(name string, want ...string) float64 {
	var sum float64
	for k, v := range s.Series {
		n, labels, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				ok = false
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// scrape reads the targets' /metrics (Prometheus text format). A node
// that cannot be read is left out: evidence is best effort.
func (t *Target) scrape(ctx context.Context) Sample {
	s := Sample{At: time.Now(), Series: map[string]float64{}, Services: map[string][]string{}}
	s.HostBusy, s.HostTotal = hostCPU()
	for _, u := range t.MetricsURLs {
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(u, "/")+"/metrics", nil)
		if err != nil {
			continue
		}
		res, err := t.http.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				continue
			}
			key := line[:i]
			s.Series[key] += v
			if strings.HasPrefix(key, "herald_node_info{") {
				if _, rest, ok := strings.Cut(key, `service="`); ok {
					svc, _, _ := strings.Cut(rest, `"`)
					s.Services[u] = append(s.Services[u], svc)
				}
			}
		}
		res.Body.Close()
	}
	return s
}

// decodeJSON reads one JSON value (helper for the webhook receiver).
func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v) }

// hostCPU reads the machine's CPU ticks: busy (all but idle and iowait)
// and total. Zero where /proc/stat is missing.
func hostCPU() (busy, total float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}
