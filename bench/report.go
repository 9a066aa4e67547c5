package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// figures sums up one result.
type figures struct {
	fired, missing, dups, stray, early int
	p50, p99, max                      time.Duration
	// drain is from the first due instant until the last firing ran.
	drain time.Duration
	// rate is firings per second over drain.
	rate float64
}

// figuresOf measures lateness as at(f) - due; at is when the firing ran
// (or, for the Trigger's second row, the fired_at it stamped).
func figuresOf(r result, at func(firing) time.Time) figures {
	fg := figures{fired: len(r.firings), missing: r.sp.expected() - len(r.firings), dups: r.dups, stray: r.stray}
	if len(r.firings) == 0 {
		return fg
	}
	late := make([]time.Duration, len(r.firings))
	var last time.Time
	for i, f := range r.firings {
		t := at(f)
		late[i] = t.Sub(f.due)
		if late[i] < 0 {
			fg.early++
		}
		if t.After(last) {
			last = t
		}
	}
	slices.Sort(late)
	fg.p50, fg.p99, fg.max = quantile(late, 0.50), quantile(late, 0.99), late[len(late)-1]
	fg.drain = last.Sub(r.sp.First)
	if fg.drain > 0 {
		fg.rate = float64(len(r.firings)) / fg.drain.Seconds()
	}
	return fg
}

func ran(f firing) time.Time     { return f.ran }
func firedAt(f firing) time.Time { return f.firedAt }

// quantile is the nearest-rank q-quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// writeTable prints one workload's results as a markdown table.
func writeTable(w io.Writer, title string, results []result) {
	fmt.Fprintf(w, "\n### %s\n\n", title)
	fmt.Fprintln(w, "| system | backlog | fired | missing | dup | early | p50 | p99 | max | drain | fires/s | enqueue | RSS | peak RSS |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "| %s | %s | failed: %s |||||||||||\n", r.system, count(r.backlog), strings.ReplaceAll(r.err.Error(), "|", "/"))
			continue
		}
		row := func(name string, fg figures) {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %s | %s | %s | %s | %.0f | %s | %s | %s |\n",
				name, count(r.backlog), fg.fired, fg.missing, fg.dups+fg.stray, fg.early,
				ms(fg.p50), ms(fg.p99), ms(fg.max), secs(fg.drain), fg.rate, secs(r.enqueued), mib(r.rss), mib(r.hwm))
		}
		row(r.system, figuresOf(r, ran))
		if systems[r.system].firedAt {
			row(r.system+" (fired_at)", figuresOf(r, firedAt))
		}
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(kib int64) string {
	if kib == 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(kib)/1024)
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
