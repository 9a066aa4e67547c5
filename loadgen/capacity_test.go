package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestParseRampNamesTheBadPart(t *testing.T) {
	r, err := ParseRamp("10:30:10:2s")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Rates(); len(got) != 3 || got[0] != 10 || got[2] != 30 || r.Hold != 2*time.Second {
		t.Fatalf("ramp %+v rates %v", r, got)
	}
	for in, want := range map[string]string{"10:30:10": "from:to:step:duration", "x:30:10:2s": "ramp from", "10:5:1:2s": "must not be below", "1:2:1:soon": "ramp duration"} {
		if _, err := ParseRamp(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRamp(%q) = %v, want an error naming %q", in, err, want)
		}
	}
}

func TestJudgeCountsShedApartFromErrors(t *testing.T) {
	ok := StepResult{Rate: 10, Achieved: 10, P99: 5 * time.Millisecond}
	if v := DefaultSLO.Judge(ok); v != "" {
		t.Fatalf("a good step missed: %s", v)
	}
	shed := ok
	shed.Shed = 3
	if v := DefaultSLO.Judge(shed); !strings.Contains(v, "3 shed (503)") || strings.Contains(v, "errors") {
		t.Errorf("shed step verdict %q", v)
	}
	slow := ok
	slow.P99, slow.Lateness = 200*time.Millisecond, 2*time.Second
	if v := DefaultSLO.Judge(slow); !strings.Contains(v, "API p99") || !strings.Contains(v, "lateness p99") {
		t.Errorf("slow step verdict %q", v)
	}
}

// The rule table names the bottleneck of the first failed step above the
// capacity, from its evidence.
func TestBottleneckRules(t *testing.T) {
	step := func(rate int, verdict string, e Evidence, mod func(*StepResult)) StepResult {
		s := StepResult{Rate: rate, Achieved: float64(rate), Verdict: verdict, Evidence: e}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	busy := Evidence{CPU: 1.9, Cores: 2, Services: map[string][]string{"n": {"api", "publisher"}}}
	idle := Evidence{CPU: 0.3, Cores: 2}
	cases := []struct {
		wc         WorkloadCapacity
		what, todo string
	}{
		{WorkloadCapacity{Workload: "burst", Capacity: 10, Steps: []StepResult{step(10, "", idle, nil), step(20, "x", busy, nil)}}, "CPU on the node running api, publisher", "move Publisher"},
		{WorkloadCapacity{Workload: "browse", Capacity: 10, Steps: []StepResult{step(10, "", idle, nil), step(20, "x", idle, nil)}}, "store", "PostgreSQL"},
		{WorkloadCapacity{Workload: "browse", Capacity: 10, Steps: []StepResult{step(20, "x", busy, func(s *StepResult) { s.Shed = 4 })}}, "admission control", "add a node"},
		{WorkloadCapacity{Workload: "burst", Capacity: 0, Steps: []StepResult{step(20, "x", Evidence{Cores: 2, ProviderRateLimited: 7}, nil)}}, "provider rate limit", "more accounts"},
		{WorkloadCapacity{Workload: "browse", Target: "http://127.0.0.1:8080", Capacity: 10, Steps: []StepResult{step(20, "x", Evidence{CPU: 0.4, HostCPU: 0.97, Cores: 2}, nil)}}, "CPU of the machine", "cores of its own"},
		{WorkloadCapacity{Workload: "browse", Target: "http://herald.example:8080", Capacity: 10, Steps: []StepResult{step(20, "x", Evidence{CPU: 0.4, HostCPU: 0.97, Cores: 2}, nil)}}, "store", "PostgreSQL"},
		{WorkloadCapacity{Workload: "browse", Capacity: 20, Steps: []StepResult{step(20, "", idle, nil)}}, "", ""},
	}
	for _, c := range cases {
		what, _, todo := bottleneck(c.wc)
		if !strings.HasPrefix(what, c.what) || !strings.Contains(todo, c.todo) {
			t.Errorf("%s capacity %d: bottleneck %q advice %q, want %q / %q", c.wc.Workload, c.wc.Capacity, what, todo, c.what, c.todo)
		}
	}
}
