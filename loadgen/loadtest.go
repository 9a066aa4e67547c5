package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Workloads are the kinds of agency work a load test can drive.
var Workloads = []string{"browse", "compose", "burst", "webhooks", "mixed"}

// StepResult is what one step (one workload at one constant rate) measured.
type StepResult struct {
	Workload string
	Rate     int // requests per second asked for
	Duration time.Duration
	Requests int
	// Achieved is requests per second actually sent.
	Achieved float64
	P50, P99 time.Duration
	// Errors counts answers that were neither 2xx nor 503 (and transport
	// errors); Shed counts 503s (admission control turning work away).
	Errors, Shed int
	// RateLimited counts 429s (part of Errors): Herald's per-caller limit.
	RateLimited int
	// Lateness is the workload's own latency, when it has one: for burst
	// Trigger's fire lateness p99, for webhooks the delivery latency p99.
	Lateness time.Duration
	// Completion is, for burst, the last publish seen at the simulated
	// network minus the due instant; for webhooks the last delivery minus
	// the end of the step.
	Completion time.Duration
	// Unfinished counts posts or deliveries that had not arrived when the
	// step gave up waiting.
	Unfinished int
	// Evidence is what the nodes' /metrics said over the step.
	Evidence Evidence
	// Verdict is empty when the step held the service level, else why not.
	Verdict string
}

// Evidence is the difference between the scrapes before and after a step.
type Evidence struct {
	// CPU is process CPU seconds per second of the step, summed over the
	// scraped nodes (1.0 = one core busy).
	CPU float64
	// Cores is what CPU is compared with.
	Cores int
	// OutboxBefore and OutboxAfter are the outboxes' pending rows.
	OutboxBefore, OutboxAfter float64
	// BusConsume is the mean time a bus message took to handle.
	BusConsume time.Duration
	// ProviderRateLimited is the simulated network's 429s during the step.
	ProviderRateLimited int64
	// HostCPU is the share (0..1) of this machine's cores busy over the
	// step, every process counted: with a target on this machine, whether
	// the node could have had more.
	HostCPU float64
	// Services maps each scraped node to the services it runs.
	Services map[string][]string
}

// StepOptions describe one step.
type StepOptions struct {
	Workload string
	Rate     int
	Duration time.Duration
	// Cores is the target's core count (for the CPU evidence).
	Cores int
	// Progress receives a refreshing line (carriage return) once a second.
	Progress io.Writer
}

// RunStep drives t with one workload at a constant rate for a duration
// with vegeta's attacker, then waits for the workload's asynchronous work
// (publishes, deliveries) and reports.
func (t *Target) RunStep(ctx context.Context, o StepOptions) (StepResult, error) {
	if !slices.Contains(Workloads, o.Workload) {
		return StepResult{}, fmt.Errorf("loadgen: workload %q is not one of %v", o.Workload, Workloads)
	}
	if o.Rate <= 0 || o.Duration <= 0 {
		return StepResult{}, fmt.Errorf("loadgen: rate and duration must be positive")
	}
	r := StepResult{Workload: o.Workload, Rate: o.Rate, Duration: o.Duration}
	var hooks *receiver
	if o.Workload == "webhooks" {
		var err error
		if hooks, err = t.webhookReceiver(ctx); err != nil {
			return r, err
		}
		defer hooks.close(ctx, t)
	}
	simBefore, _ := t.simStats(ctx)
	before := t.scrape(ctx)
	// The burst's posts all fall due at one whole second after the step.
	due := time.Now().Add(o.Duration + 2*time.Second).Truncate(time.Second).Add(time.Second)
	targeter := t.targeter(o.Workload, due)

	atk := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true), vegeta.MaxBody(1<<10),
		vegeta.Workers(8), vegeta.MaxWorkers(256))
	var m vegeta.Metrics
	created := 0
	last := time.Now()
	for res := range atk.Attack(targeter, vegeta.Rate{Freq: o.Rate, Per: time.Second}, o.Duration, o.Workload) {
		m.Add(res)
		switch {
		case res.Code >= 200 && res.Code < 300:
			if res.Method == "POST" {
				created++
			}
		case res.Code == http.StatusServiceUnavailable:
			r.Shed++
		case res.Code == http.StatusTooManyRequests:
			r.RateLimited++
			r.Errors++
		default:
			r.Errors++
		}
		if o.Progress != nil && time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(o.Progress, "\r%-8s %5d/s  sent %6d  p50 %-9s p99 %-9s errors %d  shed(503) %d   ",
				o.Workload, o.Rate, m.Requests, round(m.Latencies.Quantile(0.5)), round(m.Latencies.Quantile(0.99)), r.Errors, r.Shed)
		}
		if ctx.Err() != nil {
			atk.Stop()
		}
	}
	m.Close()
	r.Requests = int(m.Requests)
	r.Achieved = m.Rate
	r.P50, r.P99 = m.Latencies.P50, m.Latencies.P99

	switch o.Workload {
	case "burst":
		t.waitBurst(ctx, &r, simBefore.Statuses, int64(created), due)
	case "webhooks":
		t.waitHooks(ctx, &r, hooks, created)
	}
	after := t.scrape(ctx)
	if o.Workload == "burst" {
		if p99 := after.get("herald_trigger_lateness_seconds", `quantile="0.99"`); p99 > 0 {
			r.Lateness = time.Duration(p99 * float64(time.Second))
		} else {
			r.Lateness = r.Completion
		}
	}
	simAfter, _ := t.simStats(ctx)
	r.Evidence = evidence(before, after, o.Cores)
	r.Evidence.ProviderRateLimited = simAfter.RateLimited - simBefore.RateLimited
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r%-8s %5d/s  sent %6d  p50 %-9s p99 %-9s errors %d  shed(503) %d   \n",
			o.Workload, o.Rate, r.Requests, round(r.P50), round(r.P99), r.Errors, r.Shed)
	}
	return r, ctx.Err()
}

func evidence(before, after Sample, cores int) Evidence {
	e := Evidence{Cores: cores, Services: after.Services}
	if secs := after.At.Sub(before.At).Seconds(); secs > 0 {
		e.CPU = (after.get("process_cpu_seconds_total") - before.get("process_cpu_seconds_total")) / secs
	}
	if d := after.HostTotal - before.HostTotal; d > 0 {
		e.HostCPU = (after.HostBusy - before.HostBusy) / d
	}
	e.OutboxBefore, e.OutboxAfter = before.get("herald_outbox_pending"), after.get("herald_outbox_pending")
	if n := after.get("herald_bus_consume_duration_seconds_count") - before.get("herald_bus_consume_duration_seconds_count"); n > 0 {
		sum := after.get("herald_bus_consume_duration_seconds_sum") - before.get("herald_bus_consume_duration_seconds_sum")
		e.BusConsume = time.Duration(sum / n * float64(time.Second))
	}
	return e
}

// targeter makes the workload's requests, each with the load's token.
func (t *Target) targeter(workload string, due time.Time) vegeta.Targeter {
	hdr := http.Header{"Authorization": {"Bearer " + t.Token}, "Content-Type": {"application/json"}}
	ws := t.Base + "/api/v1/workspaces/" + t.WorkspaceID
	// The calendar a team keeps open: this month and the next, in the
	// workspace's zone.
	day := time.Now().UTC().Format(time.DateOnly)
	month := time.Now().UTC().AddDate(0, 0, 31).Format(time.DateOnly)
	browse := []string{ws + "/calendar?from=" + day + "&to=" + month, ws + "/posts", ws + "/accounts",
		t.Base + "/api/v1/notifications", ws, ws + "/posts?status=scheduled"}
	var n atomic.Int64
	post := func(tgt *vegeta.Target, i int64, when string) {
		tgt.Method, tgt.URL, tgt.Header = "POST", ws+"/posts", hdr
		tgt.Body = fmt.Appendf(nil, `{"text":"load %s %d %d","account_ids":[%q],%s}`, workload, due.Unix(), i, t.AccountID, when)
	}
	// Composed posts fall due a day ahead, a second apart, so they stay
	// out of the measured publishing.
	later := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	scheduled := func(at time.Time) string {
		return `"scheduled_at":"` + at.UTC().Format("2006-01-02T15:04:05") + `"`
	}
	return func(tgt *vegeta.Target) error {
		i := n.Add(1)
		switch workload {
		case "browse":
			tgt.Method, tgt.URL, tgt.Header, tgt.Body = "GET", browse[i%int64(len(browse))], hdr, nil
		case "compose":
			post(tgt, i, scheduled(later.Add(time.Duration(i)*time.Second)))
		case "burst":
			post(tgt, i, scheduled(due))
		case "webhooks":
			post(tgt, i, `"publish_now":true`)
		case "mixed":
			// An agency's day: mostly reading calendars, some composing.
			if i%5 == 0 {
				post(tgt, i, scheduled(later.Add(time.Duration(i)*time.Second)))
			} else {
				tgt.Method, tgt.URL, tgt.Header, tgt.Body = "GET", browse[i%int64(len(browse))], hdr, nil
			}
		}
		return nil
	}
}

// waitBurst waits until the simulated network received every created post
// (or a deadline), and records when the last arrived after the due instant.
func (t *Target) waitBurst(ctx context.Context, r *StepResult, base, want int64, due time.Time) {
	deadline := due.Add(30*time.Second + time.Duration(want)*time.Millisecond)
	var got int64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s, err := t.simStats(ctx)
		if err == nil {
			got = s.Statuses - base
			if got >= want {
				r.Completion = max(0, time.Since(due))
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Completion = time.Since(due)
	r.Unfinished = int(want - got)
}

// receiver is a local endpoint Herald's signed webhook posts to; it
// records how long each event took from its timestamp to arrival.
type receiver struct {
	srv  *http.Server
	url  string
	id   string
	mu   sync.Mutex
	late []time.Duration
	last time.Time
}

func (t *Target) webhookReceiver(ctx context.Context) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &receiver{url: "http://" + ln.Addr().String() + "/hook"}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		var ev struct {
			Type      string `json:"type"`
			Timestamp string `json:"timestamp"`
		}
		if decodeJSON(req.Body, &ev) == nil && ev.Type == "post.published" {
			if at, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err == nil {
				h.mu.Lock()
				h.late = append(h.late, now.Sub(at))
				h.last = now
				h.mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 5 * time.Second}
	go h.srv.Serve(ln)
	var ep struct {
		ID string `json:"id"`
	}
	if err := t.api(ctx, "POST", "/api/v1/workspaces/"+t.WorkspaceID+"/webhooks",
		map[string]any{"kind": "webhook", "url": h.url, "description": "load test", "topics": []string{"post.published"}}, &ep); err != nil {
		h.srv.Close()
		return nil, fmt.Errorf("loadgen: registering the webhook receiver: %w", err)
	}
	h.id = ep.ID
	return h, nil
}

func (h *receiver) close(ctx context.Context, t *Target) {
	_ = t.api(ctx, "DELETE", "/api/v1/workspaces/"+t.WorkspaceID+"/webhooks/"+h.id, nil, nil)
	h.srv.Close()
}

// waitHooks waits for a delivery per created post (or a deadline).
func (t *Target) waitHooks(ctx context.Context, r *StepResult, h *receiver, want int) {
	end := time.Now()
	deadline := end.Add(30*time.Second + time.Duration(want)*time.Millisecond)
	count := func() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.late) }
	for count() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Unfinished = max(0, want-len(h.late))
	p := percentiles(slices.Clone(h.late))
	r.Lateness = p.P99
	if r.Unfinished > 0 {
		r.Completion = time.Since(end)
	} else if !h.last.IsZero() {
		r.Completion = max(0, h.last.Sub(end))
	}
}

// parseInt reads a positive integer flag part.
func parseInt(s, what string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q must be a positive whole number", what, s)
	}
	return n, nil
}
