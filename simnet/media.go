package simnet

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // register decoders: DecodeConfig reads dimensions for meta
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

type media struct {
	id          string
	account     *account
	kind        string // Mastodon's attachment type: image, gifv, video, audio
	mime        string
	ext         string
	description string
	size        int64
	dims        *mediaDims
	created     time.Time
	ready       time.Time
	statusID    string // guarded by Server.mu; set once attached
}

// mediaTypes are the types Mastodon accepts by default, with the attachment
// type each becomes (GIFs are converted to silent videos: "gifv").
var mediaTypes = map[string]struct{ kind, ext string }{
	"image/jpeg":      {"image", "jpg"},
	"image/png":       {"image", "png"},
	"image/gif":       {"gifv", "gif"},
	"image/webp":      {"image", "webp"},
	"image/heic":      {"image", "heic"},
	"image/heif":      {"image", "heif"},
	"image/avif":      {"image", "avif"},
	"video/mp4":       {"video", "mp4"},
	"video/webm":      {"video", "webm"},
	"video/quicktime": {"video", "mov"},
	"video/ogg":       {"video", "ogv"},
	"audio/mpeg":      {"audio", "mp3"},
	"audio/mp3":       {"audio", "mp3"},
	"audio/wave":      {"audio", "wav"},
	"audio/wav":       {"audio", "wav"},
	"audio/x-wav":     {"audio", "wav"},
	"audio/ogg":       {"audio", "ogg"},
	"audio/flac":      {"audio", "flac"},
	"audio/aac":       {"audio", "aac"},
	"audio/mp4":       {"audio", "m4a"},
	"audio/webm":      {"audio", "webm"},
}

// maxDescriptionChars is Mastodon's limit on a media description.
const maxDescriptionChars = 1500

// mediaType decides an upload's type from its bytes, as Mastodon does, and
// falls back to the declared type only for formats the standard sniffer
// does not know; a file whose bytes say otherwise is refused.
func mediaType(sniffed, declared string) (string, bool) {
	if _, ok := mediaTypes[sniffed]; ok {
		return sniffed, true
	}
	switch sniffed {
	case "application/ogg":
		if declared == "audio/ogg" || declared == "video/ogg" {
			return declared, true
		}
	case "application/octet-stream":
		switch declared {
		case "image/heic", "image/heif", "image/avif", "video/quicktime", "audio/flac", "audio/aac", "audio/mp4":
			return declared, true
		}
	}
	return "", false
}

type upload struct {
	mime string
	size int64
	dims *mediaDims
}

// readUpload streams a file part, keeping only its type, size and (for
// common images) dimensions: simnet stores no media bytes.
func readUpload(part io.Reader, declared string) (upload, error) {
	cr := &countingReader{r: part}
	br := bufio.NewReaderSize(cr, 4096)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return upload{}, err
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	declared, _, _ = mime.ParseMediaType(declared)
	mt, ok := mediaType(sniffed, declared)
	up := upload{mime: mt}
	if ok && strings.HasPrefix(mt, "image/") {
		if cfg, _, err := image.DecodeConfig(br); err == nil && cfg.Width > 0 && cfg.Height > 0 {
			up.dims = &mediaDims{
				Width:  cfg.Width,
				Height: cfg.Height,
				Size:   fmt.Sprintf("%dx%d", cfg.Width, cfg.Height),
				Aspect: float64(cfg.Width) / float64(cfg.Height),
			}
		}
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return upload{}, err
	}
	up.size = cr.n
	return up, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// postMedia handles POST /api/v2/media, and /api/v1/media when sync (the
// deprecated endpoint, which always answers once the media is ready).
func (s *Server) postMedia(sync bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, t *token) {
		if t.account == nil {
			writeError(w, http.StatusUnprocessableEntity, "This method requires an authenticated user")
			return
		}
		// Past the largest allowed file, refuse as a proxy in front of
		// Mastodon would, without reading the rest.
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxVideoBytes+1<<20)
		mr, err := r.MultipartReader()
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
			return
		}
		var (
			up          *upload
			description string
		)
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				uploadError(w, err)
				return
			}
			switch part.FormName() {
			case "file":
				if up != nil {
					break
				}
				u, err := readUpload(part, part.Header.Get("Content-Type"))
				if err != nil {
					uploadError(w, err)
					return
				}
				up = &u
			case "description":
				b, err := io.ReadAll(io.LimitReader(part, 4*maxDescriptionChars+1))
				if err != nil {
					uploadError(w, err)
					return
				}
				description = string(b)
			}
			_ = part.Close()
		}

		switch {
		case up == nil || up.size == 0:
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
			return
		case up.mime == "":
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid")
			return
		case mediaTypes[up.mime].kind != "video" && mediaTypes[up.mime].kind != "audio" && up.size > s.opts.MaxImageBytes:
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: File file size must be less than %s", megabytes(s.opts.MaxImageBytes)))
			return
		case up.size > s.opts.MaxVideoBytes:
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: File file size must be less than %s", megabytes(s.opts.MaxVideoBytes)))
			return
		case utf8.RuneCountInString(description) > maxDescriptionChars:
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Description is too long (maximum is %d characters)", maxDescriptionChars))
			return
		}

		now := s.now()
		m := &media{
			id:          s.nextID(),
			account:     t.account,
			kind:        mediaTypes[up.mime].kind,
			mime:        up.mime,
			ext:         mediaTypes[up.mime].ext,
			description: description,
			size:        up.size,
			dims:        up.dims,
			created:     now,
			ready:       now,
		}
		code := http.StatusOK
		processing := s.opts.MediaProcessing
		if (m.kind == "video" || m.kind == "audio") && s.opts.VideoProcessing > 0 {
			processing = s.opts.VideoProcessing
		}
		if !sync && processing > 0 {
			m.ready = now.Add(processing)
			code = http.StatusAccepted
		}
		s.mu.Lock()
		s.media[m.id] = m
		s.mu.Unlock()
		writeJSON(w, code, m.json(s.baseURL(r), code == http.StatusOK))
	}
}

func uploadError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	writeError(w, http.StatusBadRequest, "malformed multipart body")
}

func megabytes(n int64) string { return fmt.Sprintf("%d MB", n>>20) }

// getMedia answers 206 while the media is processing and 200 once it is
// ready, as Mastodon does.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request, t *token) {
	s.mu.RLock()
	m := s.media[r.PathValue("id")]
	s.mu.RUnlock()
	if m == nil || m.account != t.account {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	if s.now().Before(m.ready) {
		writeJSON(w, http.StatusPartialContent, m.json(s.baseURL(r), false))
		return
	}
	writeJSON(w, http.StatusOK, m.json(s.baseURL(r), true))
}

func (m *media) json(base string, ready bool) *mediaJSON {
	path := base + "/system/media_attachments/files/" + m.id
	out := &mediaJSON{
		ID:         m.id,
		Type:       m.kind,
		PreviewURL: path + "/small/" + m.id + ".jpg",
	}
	if ready {
		u := path + "/original/" + m.id + "." + m.ext
		out.URL = &u
	}
	if m.description != "" {
		d := m.description
		out.Description = &d
	}
	if m.dims != nil {
		out.Meta = &mediaMeta{Original: m.dims}
	}
	return out
}
