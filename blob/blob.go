package blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	gcblob "gocloud.dev/blob"
	// URL openers for the schemes Herald supports.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"

	heralds3 "github.com/heraldhq/herald/blob/s3"
	"github.com/heraldhq/herald/errs"
)

// Open opens the bucket named by rawURL. The caller closes it.
func Open(ctx context.Context, rawURL string) (*gcblob.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The cause alone: url.Error repeats the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, errs.Wrap(err, errs.Invalid, "blob URL is not a valid URL")
	}
	mux := gcblob.DefaultURLMux()
	switch {
	case u.Scheme == heralds3.Scheme:
		return heralds3.Open(ctx, u)
	case u.Scheme == "file":
		if u, err = fileURL(u); err != nil {
			return nil, err
		}
	case !mux.ValidBucketScheme(u.Scheme):
		return nil, errs.E(errs.Invalid, "blob URL %q: unknown scheme %q (known: %s)",
			u.Redacted(), u.Scheme, strings.Join(mux.BucketSchemes(), ", "))
	}
	b, err := mux.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("blob: opening %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// fileURL turns Herald's file URL into the one gocloud's fileblob expects:
// an absolute path (fileblob only takes relative ones in its own
// "file://./dir" form), a directory created if missing, and temporary files
// written beside their object rather than in the system temp directory,
// which is often on another file system (a container volume) where the final
// rename would fail.
func fileURL(u *url.URL) (*url.URL, error) {
	var dir string
	switch {
	case u.Opaque != "": // file:media
		dir = u.Opaque
	case u.Host != "": // file://herald-data/media: the host is the first path element
		dir = u.Host + u.Path
	default: // file:///abs/dir
		dir = u.Path
	}
	if dir == "" {
		return nil, errs.E(errs.Invalid, "blob URL %q names no directory (use file://relative/dir or file:///abs/dir)", u.Redacted())
	}
	abs, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, fmt.Sprintf("blob URL %q: cannot resolve directory %q", u.Redacted(), dir))
	}
	q := u.Query()
	for _, opt := range []string{"create_dir", "no_tmp_dir"} {
		if !q.Has(opt) {
			q.Set(opt, "true")
		}
	}
	return &url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}, nil
}

// Schemes lists the URL schemes Open accepts.
func Schemes() []string {
	return append([]string{heralds3.Scheme}, gcblob.DefaultURLMux().BucketSchemes()...)
}

// Ping checks the bucket answers; it backs the readiness endpoint.
func Ping(ctx context.Context, b *gcblob.Bucket) error { return heralds3.Ping(ctx, b) }
