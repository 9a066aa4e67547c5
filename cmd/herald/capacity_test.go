package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/loadgen"
)

// TestCapacityReportIsConsistentWithItsSteps runs a tiny ramp against an
// embedded node and checks the report against the recorded steps: the
// capacity is a rate that actually held, every step above it missed the
// service level for a reason the SLO names, and both report files carry
// the numbers. It asserts no timing: a busy machine may lower the
// capacity, never make the report disagree with itself.
func TestCapacityReportIsConsistentWithItsSteps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, stop, err := loadgen.Embedded(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tgt, err := loadgen.Connect(ctx, loadgen.TargetOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	ramp, err := loadgen.ParseRamp("10:30:10:1s")
	if err != nil {
		t.Fatal(err)
	}
	slo := loadgen.DefaultSLO
	rep, err := tgt.Capacity(ctx, loadgen.CapacityOptions{Workloads: []string{"browse"}, Ramp: ramp, SLO: slo, Cores: 2, StopAfterFailures: 99})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != 1 {
		t.Fatalf("workloads %d, want 1", len(rep.Workloads))
	}
	w := rep.Workloads[0]
	if len(w.Steps) != 3 {
		t.Fatalf("steps %d, want 3 (10, 20, 30/s)", len(w.Steps))
	}
	held := map[int]bool{0: true} // 0: no step held
	for _, s := range w.Steps {
		if s.Requests == 0 {
			t.Errorf("step %d/s sent nothing", s.Rate)
		}
		if got := slo.Judge(s); got != s.Verdict {
			t.Errorf("step %d/s verdict %q, the SLO says %q", s.Rate, s.Verdict, got)
		}
		if s.Verdict == "" {
			held[s.Rate] = true
		}
		if s.Rate > w.Capacity && s.Verdict == "" {
			t.Errorf("step %d/s held above the reported capacity %d/s", s.Rate, w.Capacity)
		}
	}
	if !held[w.Capacity] {
		t.Errorf("capacity %d/s is not a step that held: %+v", w.Capacity, w.Steps)
	}
	if (w.Bottleneck != "") != (w.Capacity < w.Steps[len(w.Steps)-1].Rate) {
		t.Errorf("bottleneck %q with capacity %d/s of a ramp to %d/s", w.Bottleneck, w.Capacity, ramp.To)
	}

	out := filepath.Join(t.TempDir(), "capacity.html")
	if err := writeReport(out, rep); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(textPath(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf(`<span class="capacity">%d</span>/s`, w.Capacity), "<svg", "<td>30</td>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, external := range []string{"src=", "href=", "<link", "@import"} {
		if strings.Contains(string(html), external) {
			t.Errorf("HTML report loads an external asset (%q)", external)
		}
	}
	if want := fmt.Sprintf("browse: capacity %d/s", w.Capacity); !strings.Contains(string(text), want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
	t.Logf("\n%s", text)
}
