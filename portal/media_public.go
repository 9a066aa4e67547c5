package portal

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"gocloud.dev/gcerrors"

	"github.com/heraldhq/herald/mediaurl"
)

// GET /media/public/{key...}?exp=&sig= : a blob by a signed, expiring URL
// (mediaurl), for the networks that fetch media themselves (Instagram,
// Threads, webhook receivers). No sign-in and no per-address limit: the
// signature is the permission, for one blob until the expiry, and the
// networks fetch from few addresses.
func (s *Service) publicMedia(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	if s.mediaURLs == nil {
		http.NotFound(w, r)
		return
	}
	switch err := s.mediaURLs.Verify(key, q.Get("exp"), q.Get("sig")); {
	case errors.Is(err, mediaurl.ErrExpired):
		http.Error(w, "this media link has expired", http.StatusGone)
		return
	case err != nil:
		http.Error(w, "this media link is not valid", http.StatusForbidden)
		return
	}
	attrs, err := s.blob.Attributes(r.Context(), key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			http.Error(w, "the media is gone", http.StatusNotFound)
			return
		}
		s.log.Warn("serving signed media", "err", err)
		http.Error(w, "media storage is unavailable", http.StatusServiceUnavailable)
		return
	}
	rc, err := s.blob.NewReader(r.Context(), key, nil)
	if err != nil {
		http.Error(w, "media storage is unavailable", http.StatusServiceUnavailable)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", attrs.ContentType)
	h.Set("Content-Length", strconv.FormatInt(attrs.Size, 10))
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("streaming signed media", "err", err)
	}
}
