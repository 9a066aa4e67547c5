package trigger

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestTimersPopInDueOrder(t *testing.T) {
	t.Parallel()
	var tm timers
	rng := rand.New(rand.NewPCG(1, 2))
	var want []int64
	for i := range 500 {
		due := rng.Int64N(1000)
		want = append(want, due)
		tm.Push(&entry{key: sid(i), due: due})
	}
	slices.Sort(want)
	for i, w := range want {
		if got := tm.Pop().due; got != w {
			t.Fatalf("pop %d: due %d, want %d", i, got, w)
		}
	}
	if tm.Len() != 0 || tm.Peek() != nil {
		t.Fatalf("heap not empty after popping everything")
	}
}

func TestTimersRemove(t *testing.T) {
	t.Parallel()
	var tm timers
	entries := make([]*entry, 10)
	for i := range entries {
		entries[i] = &entry{key: sid(i), due: int64(i), shard: i % 3}
		tm.Push(entries[i])
	}
	tm.Remove(entries[0])
	tm.Remove(entries[0]) // not in the heap any more: no effect
	if got := tm.Peek(); got != entries[1] {
		t.Fatalf("after removing the earliest, peek = %v, want due 1", got.due)
	}
	removed := tm.RemoveIf(func(e *entry) bool { return e.shard == 1 })
	if len(removed) != 3 {
		t.Fatalf("RemoveIf removed %d, want 3 (dues 1, 4, 7)", len(removed))
	}
	var got []int64
	for tm.Len() > 0 {
		got = append(got, tm.Pop().due)
	}
	if want := []int64{2, 3, 5, 6, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	for _, e := range removed {
		if e.index != -1 {
			t.Errorf("removed entry keeps heap index %d", e.index)
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var l latencies
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	got := l.summary()
	want := Lateness{Count: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Fatalf("summary = %+v, want %+v", got, want)
	}
	if (&latencies{}).summary() != (Lateness{}) {
		t.Fatal("summary of nothing is not zero")
	}
}

func TestLatenessWindowIsBounded(t *testing.T) {
	t.Parallel()
	var l latencies
	for range latenessWindow + 10 {
		l.add(time.Second)
	}
	l.add(time.Hour)
	if len(l.samples) != latenessWindow {
		t.Fatalf("kept %d samples, want %d", len(l.samples), latenessWindow)
	}
	if s := l.summary(); s.Count != latenessWindow+11 || s.Max != time.Hour {
		t.Fatalf("summary = %+v", s)
	}
}

func TestShardOfIsStableAndSpread(t *testing.T) {
	t.Parallel()
	const shards = 64
	counts := make([]int, shards)
	for i := range 64_000 {
		n := shardOf("tnt", sid(i), shards)
		if n != shardOf("tnt", sid(i), shards) {
			t.Fatal("shardOf is not deterministic")
		}
		counts[n]++
	}
	for n, c := range counts {
		// 1000 expected per shard; a hash that clusters would miss this.
		if c < 800 || c > 1200 {
			t.Errorf("shard %d got %d of 64000", n, c)
		}
	}
	if shardOf("a", "bc", shards) == shardOf("ab", "c", shards) && shardOf("a", "bcd", shards) == shardOf("ab", "cd", shards) {
		t.Error("tenant and id run together: different pairs hash alike")
	}
}

func TestMicrosNeverRoundsEarlier(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 3, 31, 1, 30, 0, 0, time.UTC)
	tests := []struct {
		in   time.Time
		want int64
	}{
		{base, base.UnixMicro()},
		{base.Add(1), base.UnixMicro() + 1},
		{base.Add(999), base.UnixMicro() + 1},
		{base.Add(1000), base.UnixMicro() + 1},
		{base.Add(1001), base.UnixMicro() + 2},
	}
	for _, tt := range tests {
		if got := micros(tt.in); got != tt.want {
			t.Errorf("micros(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
