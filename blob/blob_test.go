package blob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/blob"
	"github.com/heraldhq/herald/blob/blobtest"
	"github.com/heraldhq/herald/errs"
)

func open(t *testing.T, rawURL string) *gcblob.Bucket {
	t.Helper()
	b, err := blob.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	return b
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blobtest.Run(t, func(t *testing.T) *gcblob.Bucket { return open(t, "file://"+filepath.ToSlash(dir)) })
}

func TestConformanceMem(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) *gcblob.Bucket { return open(t, "mem://") })
}

// Herald's file URL forms all reach the intended directory, creating it.
func TestOpenFileDirectories(t *testing.T) {
	// t.Chdir: not parallel with other tests of this package.
	root := t.TempDir()
	t.Chdir(root)
	tests := []struct {
		url string
		dir string // where the object must land, relative to root
	}{
		{"file://herald-data/media", "herald-data/media"},
		{"file://herald-data/deeper/still", "herald-data/deeper/still"},
		{"file://./rel-dot", "rel-dot"},
		{"file:opaque-dir", "opaque-dir"},
		{"file://" + filepath.ToSlash(root) + "/abs/dir", "abs/dir"},
		{"file://" + filepath.ToSlash(root) + "/with-options?no_tmp_dir=", "with-options"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			b := open(t, tc.url)
			defer b.Close()
			if err := b.WriteAll(t.Context(), "sub/obj.txt", []byte("hi"), nil); err != nil {
				t.Fatalf("WriteAll: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(tc.dir), "sub", "obj.txt"))
			if err != nil || string(got) != "hi" {
				t.Fatalf("object not in %s: %q, %v", tc.dir, got, err)
			}
		})
	}
}

// The directory of a file bucket is fixed when it is opened: a later change
// of working directory does not move it.
func TestOpenFileRelativeIsResolvedAtOpen(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	b := open(t, "file://media")
	defer b.Close()
	t.Chdir(t.TempDir())
	if err := b.WriteAll(t.Context(), "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "media", "k")); err != nil {
		t.Errorf("object not under the directory resolved at Open: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		url       string
		wantKind  errs.Kind // "" when any error will do
		wantInMsg string
	}{
		{"not a URL", "file://%zz", errs.Invalid, "not a valid URL"},
		{"no scheme", "herald-data/media", errs.Invalid, `unknown scheme ""`},
		{"unknown scheme", "ftp://example.com/media", errs.Invalid, `unknown scheme "ftp"`},
		{"s3 without a bucket", "s3://?endpoint=http://127.0.0.1:9000", errs.Invalid, "bucket"},
		{"file without directory", "file://", errs.Invalid, "names no directory"},
		{"unknown file option", "file://" + filepath.ToSlash(t.TempDir()) + "?colour=blue", "", "colour"},
		{"unknown mem option", "mem://?colour=blue", "", "colour"},
		{"file over a file", "file://" + filepath.ToSlash(file), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := blob.Open(t.Context(), tc.url)
			if err == nil {
				_ = b.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.url)
			}
			if tc.wantKind != "" && !errs.Is(err, tc.wantKind) {
				t.Errorf("Open(%q) = %v, want kind %s", tc.url, err, tc.wantKind)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("Open(%q) = %v, want it to mention %q", tc.url, err, tc.wantInMsg)
			}
		})
	}
}

// A password in a URL never reaches an error message.
func TestOpenErrorsHidePasswords(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://user:s3cret@example.com/x", "ftp://user:s3cret@exa%zzmple.com/x"} {
		_, err := blob.Open(t.Context(), u)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v, want an error without the password", u, err)
		}
	}
}
