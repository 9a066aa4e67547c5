package httpcall

import (
	"context"
	"fmt"
	"io"

	"github.com/heraldhq/herald/provider"
)

// OpenAll opens every attachment before anything is sent, so one that
// cannot be read fails the call (Retry: the blob store may be back soon)
// with nothing sent. On success the caller owns the files and must
// CloseAll them, typically in the goroutine that streams them.
func OpenAll(ctx context.Context, media []provider.Media, op string) ([]io.ReadCloser, *provider.Error) {
	files := make([]io.ReadCloser, 0, len(media))
	for i, m := range media {
		if m.Open == nil {
			CloseAll(files)
			return nil, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("%s: media[%d] has no content", op, i)}
		}
		rc, err := m.Open(ctx)
		if err != nil {
			CloseAll(files)
			return nil, &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: media[%d] could not be read", op, i), Err: err}
		}
		files = append(files, rc)
	}
	return files, nil
}

// CloseAll closes files.
func CloseAll(files []io.ReadCloser) {
	for _, f := range files {
		_ = f.Close()
	}
}
