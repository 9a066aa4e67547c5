package mem

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// The cache holds at most its max bytes however much goes in, and keeps
// what is read often.
func TestWeightStaysBounded(t *testing.T) {
	t.Parallel()
	const maxBytes = 256 << 10
	c := New(maxBytes, time.Hour)
	defer c.Close()
	ctx := t.Context()
	value := bytes.Repeat([]byte("v"), 100)
	if err := c.Set(ctx, "hot", []byte("hot"), 0); err != nil {
		t.Fatal(err)
	}
	const n = 50_000 // about 30 times max bytes, each key set once
	for i := range n {
		if err := c.Set(ctx, fmt.Sprintf("key-%d", i), value, 0); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			_, _, _ = c.Get(ctx, "hot")
		}
	}
	c.c.CleanUp()
	if got := c.c.WeightedSize(); got > maxBytes {
		t.Errorf("weighted size = %d, want <= %d", got, maxBytes)
	}
	if got, want := c.c.EstimatedSize(), maxBytes/len(value); got > want {
		t.Errorf("%d entries held, want at most %d", got, want)
	}
	// A one-time scan does not flush what is read often (the point of
	// W-TinyLFU over LRU).
	if _, ok, _ := c.Get(ctx, "hot"); !ok {
		t.Error("the often-read entry was evicted by a scan of one-time entries")
	}
}

// A value that could never fit is not stored, and does not leave an older
// value of its key behind to be read as if it were current.
func TestValueLargerThanCache(t *testing.T) {
	t.Parallel()
	c := New(4<<10, time.Hour)
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "k", []byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", make([]byte, 8<<10), 0); err != nil {
		t.Fatalf("Set of an oversized value: %v, want nil (a cache may decline)", err)
	}
	if v, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Errorf("Get after an oversized Set = %q, %v, %v; want a miss", v, ok, err)
	}
}

// The default ttl applies to entries set with a ttl of 0, and a default of 0
// keeps them.
func TestDefaultTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	short := New(1<<20, 50*time.Millisecond)
	defer short.Close()
	never := New(1<<20, 0)
	defer never.Close()
	for _, c := range []*Cache{short, never} {
		if err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.Get(ctx, "k"); !ok {
			t.Fatal("Get right after Set missed")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, _ := short.Get(ctx, "k"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry still there long after the default ttl")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok, _ := never.Get(ctx, "k"); !ok {
		t.Error("entry of a cache without default ttl expired")
	}
}
