package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// Idempotency-Key: a client that sends a POST with this header and, not
// having heard the answer, sends it again with the same key gets the first
// answer back, not a second post. The key belongs to its caller (the user,
// or the API token) and lasts idempotencyTTL; the same key with another
// method, path or body is refused, and one whose first request is still
// running answers 409. Answers of 5xx are not kept: the request did not
// happen, and the client may try again with the same key.

const (
	idempotencyHeader = "Idempotency-Key"
	idempotencyTTL    = 24 * time.Hour
	// maxKeptAnswer bounds the answer kept for a replay; a larger one is
	// not kept (creates answer with the object, far smaller).
	maxKeptAnswer = 1 << 20
)

func checkIdempotencyKey(key string) error {
	if len(key) > 255 {
		return badRequest(idempotencyHeader, "must be at most 255 characters")
	}
	for _, c := range []byte(key) {
		if c < 0x21 || c > 0x7e {
			return badRequest(idempotencyHeader, "must be printable ASCII without spaces")
		}
	}
	return nil
}

func (s *Service) idempotent(w http.ResponseWriter, r *http.Request, p *Principal, key string, f apiFunc) {
	ctx := r.Context()
	if err := checkIdempotencyKey(key); err != nil {
		s.writeError(w, r, err)
		return
	}
	who := p.limitKey()
	now := time.Now()
	// An expired key is free again.
	if _, err := s.db.Exec(ctx, `DELETE FROM portal_idempotency WHERE principal = ? AND idem_key = ? AND created_at < ?`,
		who, key, store.ToMicros(now.Add(-idempotencyTTL))); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.db.Exec(ctx, `INSERT INTO portal_idempotency (principal, idem_key, agency_id, method, path, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (principal, idem_key) DO NOTHING`,
		who, key, p.AgencyID, r.Method, r.URL.Path, store.ToMicros(now))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.replay(w, r, who, key)
		return
	}

	// The first request with this key: run it, hashing its body as the
	// handler reads it, and keep the answer.
	sum := sha256.New()
	r.Body = &teeBody{r: io.TeeReader(r.Body, sum), c: r.Body}
	rec := &keptAnswer{ResponseWriter: w}
	if err := f(rec, r, p); err != nil {
		s.writeError(rec, r, err)
	}
	_, _ = io.Copy(io.Discard, r.Body) // what the handler left still counts
	bg := context.WithoutCancel(ctx)
	if rec.status >= 500 || rec.status == 0 || rec.overflow {
		if _, err := s.db.Exec(bg, `DELETE FROM portal_idempotency WHERE principal = ? AND idem_key = ?`, who, key); err != nil {
			s.log.Warn("idempotency: releasing a key", "err", err)
		}
		return
	}
	if _, err := s.db.Exec(bg, `UPDATE portal_idempotency SET request_hash = ?, status = ?, content_type = ?, body = ?
		WHERE principal = ? AND idem_key = ?`, hashOf(sum), rec.status, rec.Header().Get("Content-Type"), rec.body.Bytes(), who, key); err != nil {
		s.log.Warn("idempotency: keeping an answer", "err", err)
	}
}

// replay answers a repeated key with the first answer.
func (s *Service) replay(w http.ResponseWriter, r *http.Request, who, key string) {
	var (
		method, path, reqHash, contentType string
		status                             int
		body                               []byte
	)
	err := s.db.QueryRow(r.Context(), `SELECT method, path, request_hash, status, content_type, body FROM portal_idempotency
		WHERE principal = ? AND idem_key = ?`, who, key).Scan(&method, &path, &reqHash, &status, &contentType, &body)
	if errors.Is(err, store.ErrNoRows) {
		// Released meanwhile (the first attempt failed): try again.
		s.writeError(w, r, errs.E(errs.Conflict, "a request with this Idempotency-Key just failed; send it again"))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if method != r.Method || path != r.URL.Path {
		s.writeError(w, r, &errs.Error{Kind: errs.Invalid, Message: "this Idempotency-Key was used for another request",
			Fields: map[string]string{idempotencyHeader: "was used for " + method + " " + path + "; use a new key for a new request"}})
		return
	}
	if status == 0 {
		s.writeError(w, r, errs.E(errs.Conflict, "a request with this Idempotency-Key is still being handled; try again shortly"))
		return
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, r.Body); err != nil {
		s.writeError(w, r, uploadError(err, 0))
		return
	}
	if hashOf(sum) != reqHash {
		s.writeError(w, r, &errs.Error{Kind: errs.Invalid, Message: "this Idempotency-Key was used with another body",
			Fields: map[string]string{idempotencyHeader: "was used with another body; use a new key for a new request"}})
		return
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func hashOf(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// teeBody is a request body read through a tee, still closed as itself.
type teeBody struct {
	r io.Reader
	c io.Closer
}

func (b *teeBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *teeBody) Close() error               { return b.c.Close() }

// keptAnswer writes the answer through and keeps a copy of it.
type keptAnswer struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	overflow bool
}

func (k *keptAnswer) WriteHeader(code int) {
	if k.status == 0 {
		k.status = code
	}
	k.ResponseWriter.WriteHeader(code)
}

func (k *keptAnswer) Write(b []byte) (int, error) {
	if k.status == 0 {
		k.status = http.StatusOK
	}
	if !k.overflow {
		if k.body.Len()+len(b) > maxKeptAnswer {
			k.overflow = true
			k.body.Reset()
		} else {
			k.body.Write(b)
		}
	}
	return k.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (k *keptAnswer) Unwrap() http.ResponseWriter { return k.ResponseWriter }
