package loadgen

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Ramp is a series of constant-rate steps: From, From+Step, ... up to To,
// each held for Hold.
type Ramp struct {
	From, To, Step int
	Hold           time.Duration
}

// ParseRamp reads "from:to:step:duration", e.g. "10:200:10:30s".
func ParseRamp(s string) (Ramp, error) {
	p := strings.Split(s, ":")
	if len(p) != 4 {
		return Ramp{}, fmt.Errorf("ramp %q: want from:to:step:duration, e.g. 10:200:10:30s", s)
	}
	var r Ramp
	var err error
	if r.From, err = parseInt(p[0], "ramp from"); err != nil {
		return r, err
	}
	if r.To, err = parseInt(p[1], "ramp to"); err != nil {
		return r, err
	}
	if r.Step, err = parseInt(p[2], "ramp step"); err != nil {
		return r, err
	}
	if r.Hold, err = time.ParseDuration(p[3]); err != nil || r.Hold <= 0 {
		return r, fmt.Errorf("ramp duration %q must be a positive duration such as 30s", p[3])
	}
	if r.To < r.From {
		return r, fmt.Errorf("ramp to (%d) must not be below from (%d)", r.To, r.From)
	}
	return r, nil
}

// Rates lists the ramp's steps.
func (r Ramp) Rates() []int {
	var out []int
	for v := r.From; v <= r.To; v += r.Step {
		out = append(out, v)
	}
	return out
}

// SLO is the service level a step must hold.
type SLO struct {
	// APIP99 bounds the API requests' p99 latency.
	APIP99 time.Duration
	// LatenessP99 bounds the workload's own lateness (burst: fire
	// lateness; webhooks: delivery latency).
	LatenessP99 time.Duration
	// MaxErrors and MaxShed are the most errors and 503s allowed.
	MaxErrors, MaxShed int
}

// DefaultSLO is the service level: API p99 <= 100 ms, fire
// lateness p99 <= 1 s, no errors, nothing shed.
var DefaultSLO = SLO{APIP99: 100 * time.Millisecond, LatenessP99: time.Second}

// Judge says why r missed the service level, or "" when it held.
func (s SLO) Judge(r StepResult) string {
	var why []string
	if r.P99 > s.APIP99 {
		why = append(why, fmt.Sprintf("API p99 %s > %s", round(r.P99), s.APIP99))
	}
	if r.Lateness > s.LatenessP99 {
		why = append(why, fmt.Sprintf("lateness p99 %s > %s", round(r.Lateness), s.LatenessP99))
	}
	if r.Errors > s.MaxErrors {
		why = append(why, fmt.Sprintf("%d errors", r.Errors))
	}
	if r.Shed > s.MaxShed {
		why = append(why, fmt.Sprintf("%d shed (503)", r.Shed))
	}
	if r.Unfinished > 0 {
		why = append(why, fmt.Sprintf("%d not published/delivered in time", r.Unfinished))
	}
	// A generator that could not send at the asked rate did not test it.
	if r.Achieved > 0 && r.Achieved < 0.9*float64(r.Rate) {
		why = append(why, fmt.Sprintf("sent only %.0f/s", r.Achieved))
	}
	return strings.Join(why, "; ")
}

// WorkloadCapacity is one workload's ramp and what it found.
type WorkloadCapacity struct {
	Workload string
	// Target is the URL measured (the host CPU evidence counts only when
	// it is on this machine).
	Target string
	Steps  []StepResult
	// Capacity is the highest rate whose step held the service level (0:
	// none held).
	Capacity int
	// Bottleneck names what broke first, Evidence says why, Advice what
	// to change first. Empty when every step held.
	Bottleneck, Evidence, Advice string
}

// CapacityReport is a capacity run.
type CapacityReport struct {
	Target    string
	Started   time.Time
	SLO       SLO
	Ramp      Ramp
	Cores     int
	Workloads []WorkloadCapacity
}

// CapacityOptions describe a capacity run.
type CapacityOptions struct {
	Workloads []string
	Ramp      Ramp
	SLO       SLO
	Cores     int
	Progress  io.Writer
	// Warmup, when positive, drives each workload at the ramp's first rate
	// for this long before its first step, unrecorded: the first webhook
	// delivery or the first posts of a fresh node pay for connections and
	// caches, which is not the rate being measured.
	Warmup time.Duration
	// StopAfterFailures ends a workload's ramp after this many steps in a
	// row missed the service level (default 2): past the knee the steps
	// only cost time.
	StopAfterFailures int
}

// Capacity runs the ramp for each workload against t.
func (t *Target) Capacity(ctx context.Context, o CapacityOptions) (CapacityReport, error) {
	if o.StopAfterFailures <= 0 {
		o.StopAfterFailures = 2
	}
	rep := CapacityReport{Target: t.Base, Started: time.Now().UTC(), SLO: o.SLO, Ramp: o.Ramp, Cores: o.Cores}
	for _, w := range o.Workloads {
		wc := WorkloadCapacity{Workload: w, Target: t.Base}
		if o.Warmup > 0 {
			if _, err := t.RunStep(ctx, StepOptions{Workload: w, Rate: o.Ramp.From, Duration: o.Warmup, Cores: o.Cores}); err != nil {
				return rep, fmt.Errorf("loadgen: warming up %s: %w", w, err)
			}
		}
		failed := 0
		for _, rate := range o.Ramp.Rates() {
			r, err := t.RunStep(ctx, StepOptions{Workload: w, Rate: rate, Duration: o.Ramp.Hold, Cores: o.Cores, Progress: o.Progress})
			if err != nil {
				return rep, err
			}
			r.Verdict = o.SLO.Judge(r)
			wc.Steps = append(wc.Steps, r)
			if r.Verdict == "" {
				wc.Capacity, failed = rate, 0
				continue
			}
			if failed++; failed >= o.StopAfterFailures {
				break
			}
		}
		wc.Bottleneck, wc.Evidence, wc.Advice = bottleneck(wc)
		rep.Workloads = append(rep.Workloads, wc)
	}
	return rep, nil
}

// bottleneck names what broke at the first failed step above the
// capacity, from a small rule table read in order: the first rule whose
// evidence holds wins.
func bottleneck(wc WorkloadCapacity) (what, evidence, advice string) {
	var r *StepResult
	for i := range wc.Steps {
		if wc.Steps[i].Verdict != "" && wc.Steps[i].Rate > wc.Capacity {
			r = &wc.Steps[i]
			break
		}
	}
	if r == nil {
		return "", "", ""
	}
	e := r.Evidence
	publishing := wc.Workload == "burst" || wc.Workload == "webhooks"
	where := "the node"
	if len(e.Services) == 1 {
		for _, svcs := range e.Services {
			where = "the node running " + strings.Join(svcs, ", ")
		}
	}
	cpuShare := 0.0
	if e.Cores > 0 {
		cpuShare = e.CPU / float64(e.Cores)
	}
	switch {
	case r.Achieved > 0 && r.Achieved < 0.9*float64(r.Rate) && cpuShare < 0.5:
		return "load generator", fmt.Sprintf("asked %d/s, sent %.0f/s", r.Rate, r.Achieved),
			"run the load generator on another machine, or with more cores"
	case e.ProviderRateLimited > 0:
		return "provider rate limit", fmt.Sprintf("the simulated network answered %d requests with 429", e.ProviderRateLimited),
			"spread the posts over more accounts or time: the network's budget, not Herald, is the limit"
	case r.RateLimited > 0:
		return "Herald's API rate limit", fmt.Sprintf("%d answers were 429 (limits.api_rate per token)", r.RateLimited),
			"raise limits.api_rate / limits.api_burst for this caller, or spread the load over tokens"
	case r.Shed > 0:
		return "admission control on " + where, fmt.Sprintf("%d requests shed with 503 at %d/s (CPU %.0f%% of %d cores)", r.Shed, r.Rate, 100*cpuShare, e.Cores),
			"add a node behind the load balancer; the shed limit is protecting it"
	case e.HostCPU >= 0.9 && cpuShare < 0.8 && local(wc.Target):
		return "CPU of the machine, shared", fmt.Sprintf("this machine's cores were %.0f%% busy, Herald's process only %.0f%% of %d: other processes held the rest", 100*e.HostCPU, 100*cpuShare, e.Cores),
			"give Herald cores of its own (a machine or CPU quota not shared with other work), then measure again"
	case cpuShare >= 0.8 && publishing:
		return "CPU on " + where, fmt.Sprintf("process CPU %.2f of %d cores (%.0f%%) at %d/s", e.CPU, e.Cores, 100*cpuShare, r.Rate),
			"move Publisher (and Trigger) to their own node so publishing does not share cores with the API"
	case cpuShare >= 0.8:
		return "CPU on " + where, fmt.Sprintf("process CPU %.2f of %d cores (%.0f%%) at %d/s", e.CPU, e.Cores, 100*cpuShare, r.Rate),
			"add an API node behind a load balancer (or give this one more cores)"
	case e.OutboxAfter > e.OutboxBefore+float64(r.Rate):
		return "bus / outbox", fmt.Sprintf("outbox pending grew %.0f -> %.0f over the step (bus handling %s a message)", e.OutboxBefore, e.OutboxAfter, round(e.BusConsume)),
			"move the bus to NATS and Publisher to its own node"
	case r.Unfinished > 0 || r.Lateness > 0 && publishing:
		return "publishing path", fmt.Sprintf("lateness p99 %s, %d unfinished, CPU %.0f%%", round(r.Lateness), r.Unfinished, 100*cpuShare),
			"raise limits.publish_concurrency, or move Publisher to its own node"
	default:
		return "store", fmt.Sprintf("API p99 %s at %d/s with CPU only %.0f%% of %d cores: requests wait, not compute", round(r.P99), r.Rate, 100*cpuShare, e.Cores),
			"put the store on PostgreSQL (SQLite takes one writer at a time)"
	}
}

// local says whether target runs on this machine (loopback).
func local(target string) bool {
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Text is the report's summary for a terminal.
func (r CapacityReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Herald capacity of %s (%d cores), %s\n", r.Target, r.Cores, r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "service level: API p99 <= %s, lateness p99 <= %s, errors <= %d, shed <= %d; steps of %s\n",
		r.SLO.APIP99, r.SLO.LatenessP99, r.SLO.MaxErrors, r.SLO.MaxShed, r.Ramp.Hold)
	for _, w := range r.Workloads {
		fmt.Fprintf(&b, "\n%s: capacity %d/s\n", w.Workload, w.Capacity)
		for _, s := range w.Steps {
			v := "held"
			if s.Verdict != "" {
				v = "missed: " + s.Verdict
			}
			fmt.Fprintf(&b, "  %5d/s sent=%d p50=%s p99=%s lateness=%s errors=%d shed=%d cpu=%.2f host=%.0f%%  %s\n",
				s.Rate, s.Requests, round(s.P50), round(s.P99), round(s.Lateness), s.Errors, s.Shed, s.Evidence.CPU, 100*s.Evidence.HostCPU, v)
		}
		if w.Bottleneck != "" {
			fmt.Fprintf(&b, "  first bottleneck: %s (%s)\n  change first: %s\n", w.Bottleneck, w.Evidence, w.Advice)
		} else {
			fmt.Fprintf(&b, "  no step above the capacity missed: raise the ramp to find the limit\n")
		}
	}
	return b.String()
}

// HTML writes the report as one page with inline SVG charts.
func (r CapacityReport) HTML(w io.Writer) error {
	return reportPage.Execute(w, r)
}

// chart draws p99 latency (ms) by rate as an SVG polyline, with the SLO
// as a dashed line and each step's dot green (held) or red (missed).
func (w WorkloadCapacity) Chart(slo SLO) template.HTML {
	const W, H, pad = 480.0, 200.0, 36.0
	if len(w.Steps) == 0 {
		return ""
	}
	maxRate, maxMs := 1.0, float64(slo.APIP99.Milliseconds())
	for _, s := range w.Steps {
		maxRate = max(maxRate, float64(s.Rate))
		maxMs = max(maxMs, float64(s.P99.Microseconds())/1000)
	}
	x := func(rate int) float64 { return pad + (W-2*pad)*float64(rate)/maxRate }
	y := func(ms float64) float64 { return H - pad - (H-2*pad)*ms/maxMs }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="API p99 by rate">`, W, H)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`, pad, H-pad, W-pad, H-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`, pad, pad, pad, H-pad)
	sloY := y(float64(slo.APIP99.Milliseconds()))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#c60" stroke-dasharray="4 3"/><text x="%.0f" y="%.1f" font-size="10" fill="#c60">SLO %s</text>`,
		pad, sloY, W-pad, sloY, W-pad-50, sloY-3, slo.APIP99)
	var pts []string
	for _, s := range w.Steps {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.Rate), y(float64(s.P99.Microseconds())/1000)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#36c" stroke-width="2" points="%s"/>`, strings.Join(pts, " "))
	for _, s := range w.Steps {
		color := "#2a2"
		if s.Verdict != "" {
			color = "#c22"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%d/s: p99 %s</title></circle>`,
			x(s.Rate), y(float64(s.P99.Microseconds())/1000), color, s.Rate, round(s.P99))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%d</text>`, x(s.Rate), H-pad+14, s.Rate)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="middle">requests/s</text>`, W/2, H-4)
	fmt.Fprintf(&b, `<text x="4" y="%.0f" font-size="10">p99 ms (max %.0f)</text>`, pad-8, maxMs)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (s StepResult) Held() bool { return s.Verdict == "" }

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"round": round,
	"pct":   func(f float64) float64 { return 100 * f },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald capacity</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.held{color:#2a2}.missed{color:#c22;text-align:left}</style>
</head><body>
<h1>Herald capacity</h1>
<p>Target {{.Target}} ({{.Cores}} cores), {{.Started.Format "2006-01-02 15:04 MST"}}.
Service level: API p99 &le; {{.SLO.APIP99}}, lateness p99 &le; {{.SLO.LatenessP99}}, errors &le; {{.SLO.MaxErrors}}, shed (503) &le; {{.SLO.MaxShed}}; each step held {{.Ramp.Hold}}.
CPU is the scraped nodes' process CPU in cores (an embedded node shares its process with the load generator); "machine busy" is every process on the machine running the load generator.</p>
{{$slo := .SLO}}
{{range .Workloads}}
<h2>{{.Workload}}: <span class="capacity">{{.Capacity}}</span>/s</h2>
{{.Chart $slo}}
<table><tr><th>rate/s</th><th>sent</th><th>achieved/s</th><th>p50</th><th>p99</th><th>lateness p99</th><th>completion</th><th>errors</th><th>shed</th><th>CPU (cores)</th><th>machine busy</th><th>outbox</th><th>verdict</th></tr>
{{range .Steps}}<tr><td>{{.Rate}}</td><td>{{.Requests}}</td><td>{{printf "%.1f" .Achieved}}</td><td>{{round .P50}}</td><td>{{round .P99}}</td><td>{{round .Lateness}}</td><td>{{round .Completion}}</td><td>{{.Errors}}</td><td>{{.Shed}}</td><td>{{printf "%.2f" .Evidence.CPU}}</td><td>{{printf "%.0f%%" (pct .Evidence.HostCPU)}}</td><td>{{printf "%.0f" .Evidence.OutboxBefore}} &rarr; {{printf "%.0f" .Evidence.OutboxAfter}}</td>
<td class="{{if .Held}}held">held{{else}}missed">{{.Verdict}}{{end}}</td></tr>
{{end}}</table>
{{if .Bottleneck}}<p><b>First bottleneck:</b> {{.Bottleneck}} &mdash; {{.Evidence}}.<br><b>Change first:</b> {{.Advice}}.</p>
{{else}}<p>No step above the capacity missed the service level: raise the ramp to find the limit.</p>{{end}}
{{end}}
</body></html>
`))
