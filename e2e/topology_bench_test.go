package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/store"
)

// BenchmarkTopology publishes one burst (topologyBenchPosts posts due at
// one instant, to a simulated network answering 50 ms late) on one
// embedded process, on topology 3 (seven processes, gRPC on PostgreSQL +
// NATS + etcd + Redis), and on topology 3 with 1, 2 and 4 Publishers. It
// runs only when asked, one burst per case (a few minutes in all):
//
//	HERALD_TEST_TOPOLOGY_BENCH=1 go test -run '^$' -bench BenchmarkTopology -benchtime 1x -timeout 30m ./e2e/
//
// HERALD_TEST_TOPOLOGY_BENCH_POSTS sets another burst size. The processes
// are started by the test helpers, which need a *testing.T, so each case
// runs as TestTopologyBenchCase in a child of this test binary and hands
// its figures back in a file.
func BenchmarkTopology(b *testing.B) {
	if os.Getenv(topologyBenchEnv) != "1" {
		b.Skip(topologyBenchEnv + "=1 runs the split topology benchmark (minutes of the machine)")
	}
	for _, name := range topologyBenchCases {
		b.Run(name, func(b *testing.B) {
			var sum topologyBenchResult
			for range b.N {
				r := runTopologyBenchCase(b, name)
				sum.Throughput += r.Throughput
				sum.P50 += r.P50
				sum.P99 += r.P99
				sum.Posts = r.Posts
			}
			k := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(sum.Throughput/k, "posts/s")
			b.ReportMetric(sum.P50/k, "p50-fire-to-published-s")
			b.ReportMetric(sum.P99/k, "p99-fire-to-published-s")
		})
	}
}

const (
	topologyBenchEnv      = "HERALD_TEST_TOPOLOGY_BENCH"
	topologyBenchPostsEnv = "HERALD_TEST_TOPOLOGY_BENCH_POSTS"
	topologyBenchPosts    = 2000
	// Set by BenchmarkTopology for its child only.
	topologyBenchCaseEnv = "HERALD_TEST_TOPOLOGY_BENCH_CASE"
	topologyBenchOutEnv  = "HERALD_TEST_TOPOLOGY_BENCH_OUT"
)

// topologyBenchCases: one embedded process, topology 3, and topology 3
// with 1, 2 and 4 Publishers (topology 3 itself has 2).
var topologyBenchCases = []string{"embedded", "topology-3", "publishers-1", "publishers-2", "publishers-4"}

// topologyBenchResult is what one burst measured: throughput from the
// first fire to the last status received, and the time from each post's
// due instant to the network receiving it.
type topologyBenchResult struct {
	Posts      int     `json:"posts"`
	Throughput float64 `json:"posts_per_s"`
	P50        float64 `json:"p50_s"`
	P99        float64 `json:"p99_s"`
}

// runTopologyBenchCase runs one case in a child of this test binary.
func runTopologyBenchCase(b *testing.B, name string) topologyBenchResult {
	b.Helper()
	out := filepath.Join(b.TempDir(), "result.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTopologyBenchCase$", "-test.v", "-test.count=1", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), topologyBenchCaseEnv+"="+name, topologyBenchOutEnv+"="+out)
	log, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v\n%s", name, err, log)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("%s: no result (%v)\n%s", name, err, log)
	}
	var r topologyBenchResult
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %d posts, %.0f posts/s, due → published p50 %.2f s, p99 %.2f s", name, r.Posts, r.Throughput, r.P50, r.P99)
	return r
}

// TestTopologyBenchCase is one case of BenchmarkTopology; it runs only in
// the benchmark's child process.
func TestTopologyBenchCase(t *testing.T) {
	name := os.Getenv(topologyBenchCaseEnv)
	if name == "" {
		t.Skip("run by BenchmarkTopology only")
	}
	n := topologyBenchPosts
	if v := os.Getenv(topologyBenchPostsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("%s=%q: want a number of posts, at least 100", topologyBenchPostsEnv, v)
		}
	}
	bin := buildHeraldBinary(t)
	var c *cluster
	switch name {
	case "embedded":
		dataDir := t.TempDir()
		_, base := startServe(t, bin, dataDir)
		c = &cluster{t: t, bin: bin, URL: base, storeURL: "sqlite://" + filepath.ToSlash(filepath.Join(dataDir, "herald.db"))}
	case "topology-3":
		c = startCluster(t, bin, splitTopologies[0])
	case "publishers-1", "publishers-2", "publishers-4":
		k, _ := strconv.Atoi(name[len("publishers-"):])
		c = startClusterShaped(t, bin, splitTopologies[0], []serviceCount{
			{config.Notification, 1}, {config.Publisher, k}, {config.Trigger, 2}, {config.Portal, 2},
		})
	default:
		t.Fatalf("%s=%q: no such case (%v)", topologyBenchCaseEnv, name, topologyBenchCases)
	}
	f := newFaultRun(t, c, bin, "bench #%d")
	f.sim.post("/_simnet/faults", `{"latency": "50ms"}`)
	f.create(n, time.Second) // all due at one instant, but those the creation ran late for
	f.settle()
	f.check()

	r := topologyBenchResult{Posts: n}
	var firstFire int64
	if err := f.db.QueryRow(context.Background(), `SELECT MIN(fired_at) FROM trigger_schedules`).Scan(&firstFire); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	lat := make([]float64, 0, n)
	for _, s := range f.sim.statuses() {
		var i int
		if _, err := fmt.Sscanf(s.Text, f.format, &i); err != nil || i < 0 || i >= n {
			continue // check above already failed the test
		}
		last = maxTime(last, s.CreatedAt)
		lat = append(lat, s.CreatedAt.Sub(f.dues[i]).Seconds())
	}
	slices.Sort(lat)
	r.P50, r.P99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	r.Throughput = float64(n) / last.Sub(store.FromMicros(firstFire)).Seconds()
	t.Logf("%s: %d posts, %.0f posts/s from the first fire to the last status, due → published p50 %.2f s, p99 %.2f s", name, n, r.Throughput, r.P50, r.P99)
	raw, _ := json.Marshal(r)
	if err := os.WriteFile(os.Getenv(topologyBenchOutEnv), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
