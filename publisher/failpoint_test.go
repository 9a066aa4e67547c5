package publisher

import (
	"strings"
	"testing"
)

func TestParseFailpoints(t *testing.T) {
	set, err := parseFailpoints(" publisher.after_call:0.001, publisher.before_call:1 ")
	if err != nil {
		t.Fatal(err)
	}
	if set.prob[FailAfterCall] != 0.001 || set.prob[FailBeforeCall] != 1 {
		t.Errorf("parsed %v", set.prob)
	}
	if set, err := parseFailpoints("  "); set != nil || err != nil {
		t.Errorf("empty spec: %v, %v; want nothing armed", set, err)
	}
	for spec, want := range map[string]string{
		"publisher.after_cal:0.1":  "unknown failpoint",
		"publisher.after_call":     "name:probability",
		"publisher.after_call:2":   "from 0 to 1",
		"publisher.after_call:abc": "from 0 to 1",
	} {
		if _, err := parseFailpoints(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", spec, err, want)
		}
	}
}

// TestFailpointHits checks that an armed point fires at its probability
// and an unarmed one never does (the crash test in e2e relies on both).
func TestFailpointHits(t *testing.T) {
	// Not parallel: failpoints are process-wide.
	hits := map[string]int{}
	set, err := parseFailpoints("publisher.after_call:1,publisher.before_call:0")
	if err != nil {
		t.Fatal(err)
	}
	set.hit = func(name string) { hits[name]++ }
	failpoints.Store(set)
	defer failpoints.Store(nil)
	for range 100 {
		failpoint(FailAfterCall)
		failpoint(FailBeforeCall)
	}
	if hits[FailAfterCall] != 100 || hits[FailBeforeCall] != 0 {
		t.Errorf("hits %v, want 100 after_call and no before_call", hits)
	}
	failpoints.Store(nil)
	failpoint(FailAfterCall)
	if hits[FailAfterCall] != 100 {
		t.Errorf("a disarmed failpoint fired")
	}
	if err := EnableFailpoints(""); err != nil || failpoints.Load() != nil {
		t.Errorf("EnableFailpoints(\"\") = %v, left %v armed", err, failpoints.Load())
	}
}
