package cachetest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cache"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// Wait is how long the suite waits for an entry to expire before it fails.
// Servers count time to live in whole seconds and expire lazily, so it is
// generous; the suite checks correctness, not speed.
const Wait = 10 * time.Second

// MaxKeyLen is the longest key every cache must accept (memcached's limit).
// Longer keys are refused as invalid by every cache, so that code working
// against one works against all.
const MaxKeyLen = 250

// Run runs the conformance suite. open returns a cache to test; the suite
// closes it when the test ends. Every call may return a client of the same
// server: the suite's keys are unique per test.
func Run(t *testing.T, open func(t *testing.T) cache.Cache) {
	s := &suite{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"SetGetMiss", s.testSetGetMiss},
		{"Overwrite", s.testOverwrite},
		{"Delete", s.testDelete},
		{"TTL", s.testTTL},
		{"ValuesAreCopies", s.testValuesAreCopies},
		{"Values", s.testValues},
		{"Keys", s.testKeys},
		{"InvalidInput", s.testInvalidInput},
		{"Concurrent", s.testConcurrent},
		{"PingAndClose", s.testPingAndClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	open func(t *testing.T) cache.Cache
}

func (s *suite) cache(t *testing.T) cache.Cache {
	t.Helper()
	c := s.open(t)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// key returns a key no other test or run uses.
func key(what string) string { return id.New("cachetest") + ":" + what }

func mustSet(t *testing.T, c cache.Cache, k string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := c.Set(t.Context(), k, v, ttl); err != nil {
		t.Fatalf("Set(%q, %d bytes, %v): %v", k, len(v), ttl, err)
	}
}

func wantHit(t *testing.T, c cache.Cache, k string, want []byte) {
	t.Helper()
	got, ok, err := c.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if !ok {
		t.Fatalf("Get(%q) missed, want %s", k, show(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", k, show(got), show(want))
	}
}

func wantMiss(t *testing.T, c cache.Cache, k string) {
	t.Helper()
	got, ok, err := c.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if ok || got != nil {
		t.Fatalf("Get(%q) = %s, %v; want nil, false (a miss)", k, show(got), ok)
	}
}

func show(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%d bytes %q...", len(b), b[:32])
	}
	return fmt.Sprintf("%q", b)
}

func (s *suite) testSetGetMiss(t *testing.T) {
	c := s.cache(t)
	k := key("a")
	wantMiss(t, c, k)
	mustSet(t, c, k, []byte("alpha"), time.Hour)
	wantHit(t, c, k, []byte("alpha"))
	// Keys differing only in case or by a suffix are different keys.
	wantMiss(t, c, strings.ToUpper(k))
	wantMiss(t, c, k+"x")
	// A ttl of 0 means the cache's default, which keeps the entry for now.
	k0 := key("default-ttl")
	mustSet(t, c, k0, []byte("zero"), 0)
	wantHit(t, c, k0, []byte("zero"))
}

func (s *suite) testOverwrite(t *testing.T) {
	c := s.cache(t)
	k := key("a")
	mustSet(t, c, k, []byte("first value, longer"), time.Hour)
	mustSet(t, c, k, []byte("second"), time.Hour)
	wantHit(t, c, k, []byte("second"))
}

func (s *suite) testDelete(t *testing.T) {
	c := s.cache(t)
	ctx := t.Context()
	a, b, kept, missing := key("a"), key("b"), key("kept"), key("missing")
	for _, k := range []string{a, b, kept} {
		mustSet(t, c, k, []byte(k), time.Hour)
	}
	// Missing keys among them are not an error.
	if err := c.Delete(ctx, a, missing, b); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMiss(t, c, a)
	wantMiss(t, c, b)
	wantHit(t, c, kept, []byte(kept))
	if err := c.Delete(ctx); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
	if err := c.Delete(ctx, missing); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func (s *suite) testTTL(t *testing.T) {
	c := s.cache(t)
	short, long, extended := key("short"), key("long"), key("extended")
	mustSet(t, c, short, []byte("short"), time.Second)
	mustSet(t, c, long, []byte("long"), time.Hour)
	mustSet(t, c, extended, []byte("extended"), time.Second)
	// Setting again replaces the time to live too.
	mustSet(t, c, extended, []byte("extended"), time.Hour)
	wantHit(t, c, short, []byte("short"))

	deadline := time.Now().Add(Wait)
	for {
		_, ok, err := c.Get(t.Context(), short)
		if err != nil {
			t.Fatalf("Get(%q): %v", short, err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry with a ttl of 1s still there after %v", Wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each entry has its own time to live.
	wantHit(t, c, long, []byte("long"))
	wantHit(t, c, extended, []byte("extended"))
}

func (s *suite) testValuesAreCopies(t *testing.T) {
	c := s.cache(t)
	k := key("a")
	in := []byte("original")
	mustSet(t, c, k, in, time.Hour)
	copy(in, "XXXXXXXX") // the caller reuses its buffer
	wantHit(t, c, k, []byte("original"))

	out, _, err := c.Get(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	copy(out, "YYYYYYYY") // a reader changes what it got
	wantHit(t, c, k, []byte("original"))
}

func (s *suite) testValues(t *testing.T) {
	c := s.cache(t)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16) // 64 KiB
	tests := []struct {
		name  string
		value []byte
	}{
		{"text", []byte("hello, world")},
		{"utf8", []byte("héllo wörld ✓")},
		{"binary with every byte", binary},
		{"only zero bytes", make([]byte, 17)},
		{"crlf and spaces", []byte("a b\r\nc\r\n")},
		{"large", large},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := key("v")
			mustSet(t, c, k, tc.value, time.Hour)
			wantHit(t, c, k, tc.value)
		})
	}
	// An empty value is a hit, told apart from a miss, whether it was given
	// as nil or as an empty slice.
	for _, v := range [][]byte{nil, {}} {
		k := key("empty")
		mustSet(t, c, k, v, time.Hour)
		got, ok, err := c.Get(t.Context(), k)
		if err != nil || !ok || len(got) != 0 {
			t.Errorf("Get of an empty value set as %#v = %q, %v, %v; want an empty hit", v, got, ok, err)
		}
	}
}

func (s *suite) testKeys(t *testing.T) {
	c := s.cache(t)
	base := key("")
	tests := []struct {
		name string
		key  string
	}{
		{"punctuation", base + "portal/post:123?v=2&x=%20#frag"},
		{"utf8", base + "posté-✓"},
		{"longest", base + strings.Repeat("k", MaxKeyLen-len(base))},
		{"one byte short of longest", base + strings.Repeat("j", MaxKeyLen-1-len(base))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustSet(t, c, tc.key, []byte(tc.name), time.Hour)
			wantHit(t, c, tc.key, []byte(tc.name))
		})
	}
	// Two long keys that differ only in their last byte are different keys.
	a, b := tests[2].key, tests[2].key[:MaxKeyLen-1]+"z"
	mustSet(t, c, b, []byte("other"), time.Hour)
	wantHit(t, c, a, []byte("longest"))
	wantHit(t, c, b, []byte("other"))
}

func (s *suite) testInvalidInput(t *testing.T) {
	c := s.cache(t)
	ctx := t.Context()
	good := key("good")
	mustSet(t, c, good, []byte("kept"), time.Hour)
	tooLong := key("") + strings.Repeat("x", MaxKeyLen)
	tests := []struct {
		name  string
		field string
		call  func() error
	}{
		{"empty key", "key", func() error { return c.Set(ctx, "", []byte("v"), time.Hour) }},
		{"key too long", "key", func() error { return c.Set(ctx, tooLong, []byte("v"), time.Hour) }},
		{"key with a space", "key", func() error { return c.Set(ctx, key("a b"), []byte("v"), time.Hour) }},
		{"key with a newline", "key", func() error { return c.Set(ctx, key("a\nb"), []byte("v"), time.Hour) }},
		{"key with a control character", "key", func() error { return c.Set(ctx, key("a\x00b"), []byte("v"), time.Hour) }},
		{"negative ttl", "ttl", func() error { return c.Set(ctx, good, []byte("changed"), -time.Second) }},
		{"get of an empty key", "key", func() error { _, _, err := c.Get(ctx, ""); return err }},
		{"get of a key too long", "key", func() error { _, _, err := c.Get(ctx, tooLong); return err }},
		{"delete with one bad key", "keys[1]", func() error { return c.Delete(ctx, good, "bad key") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("err = %v, want an errs.Invalid error", err)
			}
			if _, ok := e.Fields[tc.field]; !ok {
				t.Errorf("err = %v, want it to name field %q", err, tc.field)
			}
		})
	}
	// Rejected calls changed nothing: not the overwrite with a negative ttl,
	// not the delete that named a bad key beside a good one.
	wantHit(t, c, good, []byte("kept"))
}

func (s *suite) testConcurrent(t *testing.T) {
	c := s.cache(t)
	const workers, ops, keys = 8, 200, 16
	prefix := key("")
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				k := fmt.Sprintf("%s%d", prefix, (w+i)%keys)
				var err error
				switch i % 4 {
				case 0, 1:
					// Every value of a key starts with the key, so a read can
					// tell whether it got another key's value.
					err = c.Set(t.Context(), k, fmt.Appendf(nil, "%s=%d/%d", k, w, i), time.Hour)
				case 2:
					var v []byte
					var ok bool
					v, ok, err = c.Get(t.Context(), k)
					if err == nil && ok && !bytes.HasPrefix(v, []byte(k+"=")) {
						err = fmt.Errorf("Get(%q) = %q, a value of another key", k, v)
					}
				case 3:
					err = c.Delete(t.Context(), k)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func (s *suite) testPingAndClose(t *testing.T) {
	c := s.open(t)
	ctx := t.Context()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded, want an error")
	}
	if err := c.Set(ctx, key("a"), []byte("v"), time.Hour); err == nil {
		t.Error("Set after Close succeeded, want an error")
	}
}
