package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/heraldhq/herald/id"
)

// Run runs the conformance suite. open returns the bucket to test; the
// suite closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) *gcblob.Bucket) {
	s := &suite{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"Overwrite", s.testOverwrite},
		{"Delete", s.testDelete},
		{"NotFound", s.testNotFound},
		{"ListByPrefix", s.testListByPrefix},
		{"KeysWithSlashes", s.testKeysWithSlashes},
		{"Large", s.testLarge},
		{"AbortedWriteLeavesNothing", s.testAbortedWriteLeavesNothing},
		{"ConcurrentWrites", s.testConcurrentWrites},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	open func(t *testing.T) *gcblob.Bucket
}

// bucket opens the bucket and returns it with a key prefix that no other
// test or run uses.
func (s *suite) bucket(t *testing.T) (*gcblob.Bucket, string) {
	t.Helper()
	b := s.open(t)
	t.Cleanup(func() { _ = b.Close() })
	return b, id.New("blobtest") + "/"
}

func write(t *testing.T, b *gcblob.Bucket, key string, data []byte, opts *gcblob.WriterOptions) {
	t.Helper()
	if err := b.WriteAll(t.Context(), key, data, opts); err != nil {
		t.Fatalf("WriteAll(%q): %v", key, err)
	}
}

func wantContent(t *testing.T, b *gcblob.Bucket, key string, want []byte) {
	t.Helper()
	got, err := b.ReadAll(t.Context(), key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAll(%q) = %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
}

func wantAttrs(t *testing.T, b *gcblob.Bucket, key string, size int64, contentType string) *gcblob.Attributes {
	t.Helper()
	a, err := b.Attributes(t.Context(), key)
	if err != nil {
		t.Fatalf("Attributes(%q): %v", key, err)
	}
	if a.Size != size {
		t.Errorf("Attributes(%q).Size = %d, want %d", key, a.Size, size)
	}
	if a.ContentType != contentType {
		t.Errorf("Attributes(%q).ContentType = %q, want %q", key, a.ContentType, contentType)
	}
	if a.ModTime.IsZero() {
		t.Errorf("Attributes(%q).ModTime is zero", key)
	}
	return a
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("%s: err = %v (code %v), want code NotFound", what, err, gcerrors.Code(err))
	}
}

func wantExists(t *testing.T, b *gcblob.Bucket, key string, want bool) {
	t.Helper()
	got, err := b.Exists(t.Context(), key)
	if err != nil {
		t.Fatalf("Exists(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("Exists(%q) = %v, want %v", key, got, want)
	}
}

// pngHeader is the start of a PNG file: binary, with zero bytes and CR LF.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

func (s *suite) testRoundTrip(t *testing.T) {
	b, p := s.bucket(t)
	key := p + "cat.png"
	write(t, b, key, pngHeader, &gcblob.WriterOptions{
		ContentType: "image/png",
		Metadata:    map[string]string{"filename": "cat.png", "uploaded-by": "user_01"},
	})
	wantContent(t, b, key, pngHeader)
	a := wantAttrs(t, b, key, int64(len(pngHeader)), "image/png")
	if want := map[string]string{"filename": "cat.png", "uploaded-by": "user_01"}; !maps.Equal(a.Metadata, want) {
		t.Errorf("Metadata = %v, want %v", a.Metadata, want)
	}
	wantExists(t, b, key, true)

	r, err := b.NewReader(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.ContentType() != "image/png" || r.Size() != int64(len(pngHeader)) {
		t.Errorf("reader: content type %q, size %d; want image/png, %d", r.ContentType(), r.Size(), len(pngHeader))
	}

	// An empty object is an object.
	empty := p + "empty.txt"
	write(t, b, empty, nil, &gcblob.WriterOptions{ContentType: "text/plain"})
	wantContent(t, b, empty, []byte{})
	wantAttrs(t, b, empty, 0, "text/plain")
}

func (s *suite) testOverwrite(t *testing.T) {
	b, p := s.bucket(t)
	key := p + "avatar"
	write(t, b, key, []byte("a GIF that is longer than what replaces it"), &gcblob.WriterOptions{ContentType: "image/gif"})
	write(t, b, key, pngHeader, &gcblob.WriterOptions{ContentType: "image/png"})
	wantContent(t, b, key, pngHeader)
	wantAttrs(t, b, key, int64(len(pngHeader)), "image/png")
}

func (s *suite) testDelete(t *testing.T) {
	b, p := s.bucket(t)
	ctx := t.Context()
	key, kept := p+"doomed.txt", p+"kept.txt"
	write(t, b, key, []byte("bye"), nil)
	write(t, b, kept, []byte("stay"), nil)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantExists(t, b, key, false)
	_, err := b.ReadAll(ctx, key)
	wantNotFound(t, "ReadAll after Delete", err)
	wantNotFound(t, "second Delete", b.Delete(ctx, key))
	wantContent(t, b, kept, []byte("stay"))
}

func (s *suite) testNotFound(t *testing.T) {
	b, p := s.bucket(t)
	ctx := t.Context()
	missing := p + "missing/object.png"
	_, err := b.NewReader(ctx, missing, nil)
	wantNotFound(t, "NewReader", err)
	_, err = b.ReadAll(ctx, missing)
	wantNotFound(t, "ReadAll", err)
	_, err = b.Attributes(ctx, missing)
	wantNotFound(t, "Attributes", err)
	wantNotFound(t, "Delete", b.Delete(ctx, missing))
	wantExists(t, b, missing, false)
	// A prefix of an existing key is not an object.
	write(t, b, p+"dir/file", []byte("x"), nil)
	_, err = b.ReadAll(ctx, p+"dir")
	wantNotFound(t, "ReadAll of a key's parent", err)
}

type listed struct {
	Key   string
	IsDir bool
	Size  int64
}

func list(t *testing.T, b *gcblob.Bucket, opts *gcblob.ListOptions) []listed {
	t.Helper()
	var out []listed
	it := b.List(opts)
	for {
		o, err := it.Next(t.Context())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		l := listed{Key: o.Key, IsDir: o.IsDir}
		if !o.IsDir {
			l.Size = o.Size
		}
		out = append(out, l)
	}
}

func (s *suite) testListByPrefix(t *testing.T) {
	b, p := s.bucket(t)
	for _, k := range []string{"a/1", "a/2", "a/b/3", "ab", "b/1"} {
		write(t, b, p+k, []byte(k), nil)
	}
	tests := []struct {
		name string
		opts gcblob.ListOptions
		want []listed
	}{
		{"everything, in key order", gcblob.ListOptions{Prefix: p}, []listed{
			{p + "a/1", false, 3}, {p + "a/2", false, 3}, {p + "a/b/3", false, 5}, {p + "ab", false, 2}, {p + "b/1", false, 3},
		}},
		{"one folder, deep", gcblob.ListOptions{Prefix: p + "a/"}, []listed{
			{p + "a/1", false, 3}, {p + "a/2", false, 3}, {p + "a/b/3", false, 5},
		}},
		{"one folder, one level", gcblob.ListOptions{Prefix: p + "a/", Delimiter: "/"}, []listed{
			{p + "a/1", false, 3}, {p + "a/2", false, 3}, {p + "a/b/", true, 0},
		}},
		{"top level", gcblob.ListOptions{Prefix: p, Delimiter: "/"}, []listed{
			{p + "a/", true, 0}, {p + "ab", false, 2}, {p + "b/", true, 0},
		}},
		{"a prefix that is no folder", gcblob.ListOptions{Prefix: p + "a"}, []listed{
			{p + "a/1", false, 3}, {p + "a/2", false, 3}, {p + "a/b/3", false, 5}, {p + "ab", false, 2},
		}},
		{"nothing", gcblob.ListOptions{Prefix: p + "c/"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, b, &tc.opts); !slices.Equal(got, tc.want) {
				t.Errorf("List(%+v)\n got %v\nwant %v", tc.opts, got, tc.want)
			}
		})
	}
}

func (s *suite) testKeysWithSlashes(t *testing.T) {
	b, p := s.bucket(t)
	keys := []string{
		"media/ws_01/post_01/original.jpg",
		"media/ws_01/post_01/thumb 320.jpg",
		"media/ws_01/post_02/été ✓.png",
		"media/ws_02/a.jpg",
	}
	for _, k := range keys {
		write(t, b, p+k, []byte(k), &gcblob.WriterOptions{ContentType: "image/jpeg"})
	}
	for _, k := range keys {
		wantContent(t, b, p+k, []byte(k))
	}
	got := list(t, b, &gcblob.ListOptions{Prefix: p + "media/ws_01/post_01/"})
	want := []listed{
		{p + keys[0], false, int64(len(keys[0]))},
		{p + keys[1], false, int64(len(keys[1]))},
	}
	if !slices.Equal(got, want) {
		t.Errorf("List of one post's media\n got %v\nwant %v", got, want)
	}
	got = list(t, b, &gcblob.ListOptions{Prefix: p + "media/", Delimiter: "/"})
	want = []listed{{p + "media/ws_01/", true, 0}, {p + "media/ws_02/", true, 0}}
	if !slices.Equal(got, want) {
		t.Errorf("List of workspaces\n got %v\nwant %v", got, want)
	}
}

func (s *suite) testLarge(t *testing.T) {
	b, p := s.bucket(t)
	ctx := t.Context()
	const size = 5<<20 + 123 // a few MB, not a multiple of any chunk size
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	key := p + "video.mp4"

	// Streamed in, in pieces, as an upload arrives.
	w, err := b.NewWriter(ctx, key, &gcblob.WriterOptions{ContentType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 100_000)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of the writer: %v", err)
	}
	wantAttrs(t, b, key, size, "video/mp4")

	// Streamed out.
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	_ = r.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if got, want := h.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatal("content read back differs from what was written")
	}

	// A range from the middle, as an HTTP Range request serves a video.
	const off, length = 3<<20 + 7, 70_000
	rr, err := b.NewRangeReader(ctx, key, off, length, nil)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(rr)
	_ = rr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(part, data[off:off+length]) {
		t.Errorf("range [%d, +%d) differs from what was written (%d bytes read)", off, length, len(part))
	}
}

func (s *suite) testAbortedWriteLeavesNothing(t *testing.T) {
	b, p := s.bucket(t)
	key := p + "upload.bin"
	ctx, cancel := context.WithCancel(t.Context())
	w, err := b.NewWriter(ctx, key, &gcblob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("half an upload")); err != nil {
		t.Fatal(err)
	}
	// The client went away: the upload is abandoned, not half-stored.
	cancel()
	if err := w.Close(); err == nil {
		t.Error("Close of a writer whose context ended succeeded, want an error")
	}
	wantExists(t, b, key, false)
	if got := list(t, b, &gcblob.ListOptions{Prefix: p}); len(got) != 0 {
		t.Errorf("List after an aborted write = %v, want nothing", got)
	}
}

func (s *suite) testConcurrentWrites(t *testing.T) {
	b, p := s.bucket(t)
	const n = 16
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("%sobj-%02d", p, i)
			if err := b.WriteAll(t.Context(), key, bytes.Repeat([]byte{byte(i)}, 1000+i), nil); err != nil {
				errc <- fmt.Errorf("WriteAll(%q): %w", key, err)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for i := range n {
		wantContent(t, b, fmt.Sprintf("%sobj-%02d", p, i), bytes.Repeat([]byte{byte(i)}, 1000+i))
	}
}
