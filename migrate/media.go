package migrate

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// object is one media object of the source.
type object struct {
	key  string
	size int64
	md5  []byte // nil when the bucket does not know it
}

// listObjects lists every object of b.
func listObjects(ctx context.Context, b *gcblob.Bucket) ([]object, error) {
	var out []object
	it := b.List(nil)
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if !o.IsDir {
			out = append(out, object{key: o.Key, size: o.Size, md5: o.MD5})
		}
	}
}

// contentMD5 returns the MD5 of an object: the bucket's own when it has one
// (S3's ETag of a single-part upload, the file bucket's attributes), or
// computed by reading the object.
func contentMD5(ctx context.Context, b *gcblob.Bucket, key string, known []byte) ([]byte, error) {
	if len(known) == md5.Size {
		return known, nil
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// same reports whether dst holds o already, with the same size and MD5.
func same(ctx context.Context, src, dst *gcblob.Bucket, o object) (bool, error) {
	a, err := dst.Attributes(ctx, o.key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.Size != o.size {
		return false, nil
	}
	want, err := contentMD5(ctx, src, o.key, o.md5)
	if err != nil {
		return false, err
	}
	got, err := contentMD5(ctx, dst, o.key, a.MD5)
	if err != nil {
		return false, err
	}
	return bytes.Equal(want, got), nil
}

// copyObject copies one object with its attributes. The writer is told the
// source's MD5 when known, so a bucket that checks it refuses a corrupt
// copy; the copy's own MD5 is checked against it in any case.
func copyObject(ctx context.Context, src, dst *gcblob.Bucket, o object) error {
	a, err := src.Attributes(ctx, o.key)
	if err != nil {
		return err
	}
	r, err := src.NewReader(ctx, o.key, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	want := o.md5
	if len(want) != md5.Size {
		want = a.MD5
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // an unclosed writer whose context ends writes nothing
	w, err := dst.NewWriter(wctx, o.key, &gcblob.WriterOptions{
		ContentType:                 a.ContentType,
		CacheControl:                a.CacheControl,
		ContentDisposition:          a.ContentDisposition,
		ContentEncoding:             a.ContentEncoding,
		ContentLanguage:             a.ContentLanguage,
		Metadata:                    a.Metadata,
		ContentMD5:                  want,
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return err
	}
	h := md5.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	if len(want) == md5.Size && !bytes.Equal(h.Sum(nil), want) {
		cancel()
		_ = w.Close()
		return fmt.Errorf("the content read does not match the source's MD5 %x", want)
	}
	return w.Close()
}

// copyMedia copies every object of src missing from dst (or different
// there), with workers objects in flight. done, if set, is called after
// each object, never by two workers at once.
func copyMedia(ctx context.Context, src, dst *gcblob.Bucket, objects []object, workers int, done func(key string, copied bool)) (copied int, size int64, err error) {
	var mu sync.Mutex
	err = forEach(ctx, objects, workers, func(ctx context.Context, o object) error {
		ok, err := same(ctx, src, dst, o)
		if err != nil {
			return fmt.Errorf("media %s: %w", o.key, err)
		}
		if !ok {
			if err := copyObject(ctx, src, dst, o); err != nil {
				return fmt.Errorf("copying media %s: %w", o.key, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			copied++
			size += o.size
		}
		if done != nil {
			done(o.key, !ok)
		}
		return nil
	})
	return copied, size, err
}

// verifyMedia checks every object of src against dst: there, same size,
// same MD5, same content type. It returns one line per difference.
func verifyMedia(ctx context.Context, src, dst *gcblob.Bucket, objects []object, workers int) ([]string, error) {
	var mu sync.Mutex
	var problems []string
	bad := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	err := forEach(ctx, objects, workers, func(ctx context.Context, o object) error {
		sa, err := src.Attributes(ctx, o.key)
		if err != nil {
			return fmt.Errorf("media %s in the source: %w", o.key, err)
		}
		da, err := dst.Attributes(ctx, o.key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			bad("%s: missing from the target", o.key)
			return nil
		}
		if err != nil {
			return fmt.Errorf("media %s in the target: %w", o.key, err)
		}
		if da.Size != sa.Size {
			bad("%s: %d bytes in the source, %d in the target", o.key, sa.Size, da.Size)
			return nil
		}
		want, err := contentMD5(ctx, src, o.key, sa.MD5)
		if err != nil {
			return fmt.Errorf("media %s in the source: %w", o.key, err)
		}
		got, err := contentMD5(ctx, dst, o.key, da.MD5)
		if err != nil {
			return fmt.Errorf("media %s in the target: %w", o.key, err)
		}
		if !bytes.Equal(want, got) {
			bad("%s: MD5 %x in the source, %x in the target", o.key, want, got)
		}
		if da.ContentType != sa.ContentType {
			bad("%s: content type %q in the source, %q in the target", o.key, sa.ContentType, da.ContentType)
		}
		return nil
	})
	slices.Sort(problems)
	return problems, err
}

// forEach runs fn for every object with at most workers at once, and stops
// at the first error.
func forEach(ctx context.Context, objects []object, workers int, fn func(context.Context, object) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan object)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Go(func() {
			for o := range work {
				if err := fn(ctx, o); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, o := range objects {
		select {
		case work <- o:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}
