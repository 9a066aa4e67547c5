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
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store"
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
	// Latency delays every request the simulated network answers (its
	// Faults.Latency): a real network's round trip.
	Latency time.Duration
	// Backlog is how many posts, due days ahead, are stored before the
	// measured ones are created: the backlog whose cost is measured. They
	// are created through Portal's Go API (the REST layer would make
	// 1,000,000 take long); on a data directory that already holds some,
	// only those missing are created, so a backlog made once is measured
	// by every run after it.
	Backlog int
	// DataDir holds the node's data (a temporary directory when empty).
	DataDir string
	// Environ adds HERALD_* settings over the embedded defaults (to measure
	// another topology).
	Environ []string
	// Log receives progress lines.
	Log io.Writer
	// CPUProfile, when set, receives a CPU profile of the process from
	// the end of the posts' creation until the last is published.
	CPUProfile io.Writer
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
	// FireToPublished is the network's receipt time minus the instant
	// Trigger fired the post: the Publisher path, the network's latency
	// included.
	FireToPublished Percentiles
	// Throughput is posts published per second, from the first due time to
	// the last receipt.
	Throughput float64
	// Latency is the simulated network's delay per request.
	Latency time.Duration
	// Backlog is how many future posts were stored during the run.
	Backlog int
	// RSS is the process's resident memory once the node was running with
	// the backlog stored (before the measured posts were created), and its
	// highest sample (every 100 ms) from then to the end. The process
	// holds the node, the simulated network and the load's clients.
	RSSBefore, RSSPeak int64
}

func (r ScheduleReport) String() string {
	return fmt.Sprintf("posts=%d created_in=%s network_latency=%s backlog=%d\n"+
		"fire lateness (fired - due):         %s\n"+
		"publish lateness (received - due):   %s\n"+
		"fire to published (received - fired): %s\n"+
		"throughput (first due to last received): %.0f posts/s\n"+
		"rss: %.1f MiB before the posts were created, peak %.1f MiB\n"+
		"early=%d duplicates=%d",
		r.Posts, round(r.Create), r.Latency, r.Backlog, r.FireLateness, r.PublishLateness, r.FireToPublished,
		r.Throughput, mib(r.RSSBefore), mib(r.RSSPeak), r.Early, r.Duplicates)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// rss reads the process's resident memory (Linux; 0 elsewhere).
func rss() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
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
	if opts.Latency > 0 {
		if err := sim.SetFaults(simnet.Faults{Latency: opts.Latency}); err != nil {
			return ScheduleReport{}, err
		}
	}

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

	// The measurements read the store the node writes.
	db, err := store.Open(ctx, cfg.Store.URL)
	if err != nil {
		return ScheduleReport{}, err
	}
	defer db.Close()

	// An agency (made once per data directory), a workspace in UTC, and
	// one Mastodon account.
	const password = "load generator password"
	if _, _, err := n.Portal.CreateAgency(ctx, portal.AgencyInput{AgencyName: "Load", Name: "Load", Email: "load@herald.test", Password: password}); err != nil {
		if opts.DataDir == "" {
			return ScheduleReport{}, err
		}
		progress("agency not created (%v): using the one in %s", err, opts.DataDir)
	}
	c := newClient(base)
	var login struct {
		CSRF string `json:"csrf_token"`
		User struct {
			ID       string `json:"id"`
			AgencyID string `json:"agency_id"`
		} `json:"user"`
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

	backlog, err := fillBacklog(ctx, db, n.Portal, &portal.Principal{AgencyID: login.User.AgencyID, UserID: login.User.ID, Owner: true},
		ws.ID, acct.ID, opts.Backlog, max(opts.Creators, 16), progress)
	if err != nil {
		return ScheduleReport{}, err
	}
	runtime.GC()
	rssBefore := rss()
	var rssPeak atomic.Int64
	rssPeak.Store(rssBefore)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
			if r := rss(); r > rssPeak.Load() {
				rssPeak.Store(r)
			}
		}
	}()

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
	ids := make([]string, opts.Posts)
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
				var post struct {
					ID string `json:"id"`
				}
				if err := c.do(ctx, "POST", "/api/v1/workspaces/"+ws.ID+"/posts", body, &post); err != nil {
					errc <- fmt.Errorf("post %d: %w", i, err)
					return
				}
				ids[i] = post.ID
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
	if opts.CPUProfile != nil {
		if err := pprof.StartCPUProfile(opts.CPUProfile); err != nil {
			return ScheduleReport{}, err
		}
	}

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

	stopSampling()
	if opts.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	rep := ScheduleReport{Posts: opts.Posts, Create: created, Latency: opts.Latency, Backlog: backlog,
		RSSBefore: rssBefore, RSSPeak: max(rssPeak.Load(), rss())}
	st := n.Trigger.Stats().Lateness
	rep.FireLateness = Percentiles{Count: int(st.Count), P50: st.P50, P99: st.P99, Max: st.Max}
	fired, err := firedAt(ctx, db, start, dues[len(dues)-1])
	if err != nil {
		return ScheduleReport{}, err
	}
	seen := map[int]bool{}
	var publish, fireToPublished []time.Duration
	var lastReceived time.Time
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
		if f, ok := fired[ids[i]]; ok {
			fireToPublished = append(fireToPublished, s.CreatedAt.Sub(f))
		}
		if s.CreatedAt.After(lastReceived) {
			lastReceived = s.CreatedAt
		}
	}
	rep.PublishLateness = percentiles(publish)
	rep.FireToPublished = percentiles(fireToPublished)
	if span := lastReceived.Sub(start); span > 0 {
		rep.Throughput = float64(len(publish)) / span.Seconds()
	}
	return rep, nil
}

// backlogFrom is how far ahead the backlog's posts are due: far beyond
// any measurement.
const backlogFrom = 48 * time.Hour

// fillBacklog makes sure want posts are pending beyond backlogFrom,
// creating those missing (one a second from then on) through Portal's Go
// API with workers at once, and returns how many are pending.
func fillBacklog(ctx context.Context, db *store.DB, p *portal.Service, who *portal.Principal, wsID, acctID string,
	want, workers int, progress func(string, ...any)) (int, error) {
	if want <= 0 {
		return 0, nil
	}
	from := time.Now().Add(backlogFrom).Truncate(time.Second)
	var have int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending' AND due_at >= ?`,
		store.ToMicros(from.Add(-time.Hour))).Scan(&have); err != nil {
		return 0, fmt.Errorf("loadgen: counting the backlog: %w", err)
	}
	missing := want - have
	if missing <= 0 {
		progress("backlog: %d future posts already stored", have)
		return have, nil
	}
	progress("backlog: %d future posts stored, creating %d more", have, missing)
	begin := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= missing {
					return
				}
				at := from.Add(time.Duration(have+i) * time.Second)
				_, err := p.CreatePost(ctx, who, wsID, portal.PostInput{
					Text: fmt.Sprintf("backlog post %d", have+i), AccountIDs: []string{acctID},
					ScheduledAt: at.UTC().Format("2006-01-02T15:04:05"),
				})
				if err != nil {
					errc <- fmt.Errorf("loadgen: backlog post %d: %w", have+i, err)
					return
				}
				if d := done.Add(1); d%50000 == 0 {
					progress("backlog: %d of %d created (%.0f/s)", d, missing, float64(d)/time.Since(begin).Seconds())
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	progress("backlog: %d created in %s", missing, time.Since(begin).Round(time.Second))
	return want, nil
}

// firedAt returns when Trigger fired each post due within [from, to], by
// post id.
func firedAt(ctx context.Context, db *store.DB, from, to time.Time) (map[string]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT post_id, fired_at FROM trigger_schedules
		WHERE state = 'fired' AND due_at >= ? AND due_at <= ?`, store.ToMicros(from), store.ToMicros(to))
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading fire times: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var us int64
		if err := rows.Scan(&id, &us); err != nil {
			return nil, err
		}
		out[id] = store.FromMicros(us)
	}
	return out, rows.Err()
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
	req, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	return c.send(req, method, path, out)
}

// request builds a JSON request (no body when in is nil).
func (c *client) request(ctx context.Context, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.base)
	return req, nil
}

// send runs req and decodes a 2xx answer into out.
func (c *client) send(req *http.Request, method, path string, out any) error {
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
