// Package loadgen is Herald's built-in load generator: it runs a node and a
// simulated network in this process, drives the node through its public
// REST API the way agencies would, and reports what it measured.
//
// It must only ever talk to the node it started and the simulated network:
// it is a measuring instrument, not a client of someone's installation.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/simnet"
)

// ScheduleOptions describe a burst of one-shot posts.
type ScheduleOptions struct {
	// Posts is how many posts to schedule.
	Posts int
	// Window is the span their due times are spread over.
	Window time.Duration
	// Lead is how far ahead of now the window starts: enough to create
	// every post before the first falls due.
	Lead time.Duration
	// Creators is how many clients create posts at once.
	Creators int
	// DataDir holds the node's data (a temporary directory when empty).
	DataDir string
	// Environ adds HERALD_* settings over the embedded defaults (to measure
	// another topology).
	Environ []string
	// Log receives progress lines.
	Log io.Writer
}

// Percentiles summarise a distribution of durations.
type Percentiles struct {
	Count         int
	P50, P99, Max time.Duration
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Percentiles{Count: len(d), P50: at(0.50), P99: at(0.99), Max: d[len(d)-1]}
}

func (p Percentiles) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", p.Count, round(p.P50), round(p.P99), round(p.Max))
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// ScheduleReport is what a schedule burst measured.
type ScheduleReport struct {
	Posts int
	// Create is how long creating every post through the API took.
	Create time.Duration
	// FireLateness is Trigger's fire time minus due time.
	FireLateness Percentiles
	// PublishLateness is the network's receipt time minus due time.
	PublishLateness Percentiles
	// Early counts posts the network received before their due time
	// (must be 0).
	Early int
	// Duplicates counts posts the network received more than once.
	Duplicates int
}

func (r ScheduleReport) String() string {
	return fmt.Sprintf("posts=%d created_in=%s\nfire lateness (fired - due):      %s\npublish lateness (received - due): %s\nearly=%d duplicates=%d",
		r.Posts, round(r.Create), r.FireLateness, r.PublishLateness, r.Early, r.Duplicates)
}

// Schedule runs a node with embedded defaults publishing to a simulated
// Mastodon server, schedules opts.Posts posts due within opts.Window
// through the REST API, waits until every one is published, and reports
// the lateness.
func Schedule(ctx context.Context, opts ScheduleOptions) (ScheduleReport, error) {
	if opts.Posts <= 0 || opts.Window <= 0 {
		return ScheduleReport{}, fmt.Errorf("loadgen: posts and window must be positive")
	}
	if opts.Creators <= 0 {
		opts.Creators = 8
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	progress := func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }

	// The simulated network, without Mastodon's per-account rate limit:
	// this measures Herald, not a network's budget.
	sim := simnet.New(simnet.Options{RateLimit: -1})
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ScheduleReport{}, err
	}
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	go sim.Serve(simCtx, simLn)
	simURL := "http://" + simLn.Addr().String()

	dataDir := opts.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "herald-load-"); err != nil {
			return ScheduleReport{}, err
		}
		defer os.RemoveAll(dataDir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ScheduleReport{}, err
	}
	environ := append([]string{
		"HERALD_DATA_DIR=" + dataDir,
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LOG__LEVEL=warn",
		// One user creates every post: lift the per-user API limit.
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}, opts.Environ...)
	cfg, err := config.Load(nil, environ)
	if err != nil {
		return ScheduleReport{}, err
	}
	n, err := node.New(ctx, cfg, slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})), node.WithListener(ln))
	if err != nil {
		return ScheduleReport{}, err
	}
	if err := n.Start(ctx); err != nil {
		return ScheduleReport{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Stop(sctx)
	}()
	base := "http://" + ln.Addr().String()

	// An agency, a workspace in UTC, and one Mastodon account.
	const password = "load generator password"
	if _, _, err := n.Portal.CreateAgency(ctx, portal.AgencyInput{AgencyName: "Load", Name: "Load", Email: "load@herald.test", Password: password}); err != nil {
		return ScheduleReport{}, err
	}
	c := newClient(base)
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	if err := c.do(ctx, "POST", "/api/v1/login", map[string]any{"email": "load@herald.test", "password": password}, &login); err != nil {
		return ScheduleReport{}, err
	}
	c.csrf = login.CSRF
	var ws, acct struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "POST", "/api/v1/workspaces", map[string]any{"name": "Load", "timezone": "UTC"}, &ws); err != nil {
		return ScheduleReport{}, err
	}
	token := sim.CreateAccount("load")
	if err := c.do(ctx, "POST", "/api/v1/workspaces/"+ws.ID+"/accounts", map[string]any{"network": "mastodon", "instance_url": simURL, "access_token": token}, &acct); err != nil {
		return ScheduleReport{}, err
	}

	// Due times: whole seconds (the API takes local wall time to the
	// second), spread evenly over the window.
	start := time.Now().Add(opts.Lead).Truncate(time.Second).Add(time.Second)
	dues := make([]time.Time, opts.Posts)
	secs := max(1, int(opts.Window/time.Second))
	for i := range dues {
		dues[i] = start.Add(time.Duration(i%secs) * time.Second)
	}
	progress("creating %d posts due between %s and %s", opts.Posts, start.Format(time.TimeOnly), start.Add(time.Duration(secs-1)*time.Second).Format(time.TimeOnly))
	begin := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, opts.Creators)
	for range opts.Creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= opts.Posts {
					return
				}
				body := map[string]any{
					"text":         fmt.Sprintf("load post %d", i),
					"account_ids":  []string{acct.ID},
					"scheduled_at": dues[i].UTC().Format("2006-01-02T15:04:05"),
				}
				if err := c.do(ctx, "POST", "/api/v1/workspaces/"+ws.ID+"/posts", body, nil); err != nil {
					errc <- fmt.Errorf("post %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return ScheduleReport{}, err
	}
	created := time.Since(begin)
	if last := time.Now(); last.After(start) {
		return ScheduleReport{}, fmt.Errorf("creating the posts took %s, past the first due time: raise the lead", created.Round(time.Millisecond))
	}
	progress("created in %s; waiting for them to be published", created.Round(time.Millisecond))

	deadline := time.Now().Add(opts.Lead + opts.Window + 2*time.Minute)
	for sim.Stats().Statuses < int64(opts.Posts) {
		if time.Now().After(deadline) {
			return ScheduleReport{}, fmt.Errorf("only %d of %d posts published in time", sim.Stats().Statuses, opts.Posts)
		}
		select {
		case <-ctx.Done():
			return ScheduleReport{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	rep := ScheduleReport{Posts: opts.Posts, Create: created}
	st := n.Trigger.Stats().Lateness
	rep.FireLateness = Percentiles{Count: int(st.Count), P50: st.P50, P99: st.P99, Max: st.Max}
	seen := map[int]bool{}
	var publish []time.Duration
	for _, s := range sim.Statuses() {
		var i int
		if _, err := fmt.Sscanf(s.Text, "load post %d", &i); err != nil || i < 0 || i >= opts.Posts {
			continue
		}
		if seen[i] {
			rep.Duplicates++
			continue
		}
		seen[i] = true
		late := s.CreatedAt.Sub(dues[i])
		if late < 0 {
			rep.Early++
		}
		publish = append(publish, late)
	}
	rep.PublishLateness = percentiles(publish)
	return rep, nil
}

// client is a small REST API client with a session cookie.
type client struct {
	base string
	http *http.Client
	csrf string
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &client{base: base, http: &http.Client{Jar: jar, Transport: t, Timeout: time.Minute}}
}

func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	buf, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(buf))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.base)
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
