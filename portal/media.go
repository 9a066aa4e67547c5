package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// Media is a file in a workspace's media library.
type Media struct {
	ID          string
	WorkspaceID string
	MimeType    string
	SizeBytes   int64
	FileName    string
	Description string
	// Tags file the media for the library's search (decision 0035).
	Tags []string
	// BlobKey names the bytes in the blob store.
	BlobKey   string
	CreatedAt time.Time
}

// MediaInput uploads a file.
type MediaInput struct {
	FileName    string
	Description string
	Content     io.Reader
}

// mediaTypes are the types accepted, decided from the bytes themselves,
// never from the name or the client's word.
var mediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
	"video/mp4": true, "video/quicktime": true}

// sniffType decides a file's type from its first bytes. The standard
// sniffer knows MP4 only when "mp4" is among the file's brands and does not
// know QuickTime at all, so an ISO base media file ("ftyp" box first) is
// told apart by its brands here.
func sniffType(head []byte) string {
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if mt != "application/octet-stream" || len(head) < 12 || string(head[4:8]) != "ftyp" {
		return mt
	}
	major := string(head[8:12])
	switch {
	case major == "qt  ":
		return "video/quicktime"
	case videoBrands[major]:
		return "video/mp4"
	}
	return mt
}

// videoBrands are ftyp major brands of MP4 video files that the standard
// sniffer may miss (it looks for "mp4" among the compatible brands only).
var videoBrands = map[string]bool{"isom": true, "iso2": true, "iso4": true, "iso5": true, "iso6": true,
	"mp41": true, "mp42": true, "avc1": true, "M4V ": true, "dash": true}

// maxDescription is Mastodon's limit for alt text.
const maxDescription = 1500

func mediaKey(agencyID, workspaceID, mediaID string) string {
	return "media/" + agencyID + "/" + workspaceID + "/" + mediaID
}

// cleanFileName keeps a file name for display and downloads: no directory,
// no control characters, bounded length.
func cleanFileName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(strings.TrimSpace(name))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" || name == "" {
		name = "upload"
	}
	for utf8.RuneCountInString(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// UploadMedia stores a file in a workspace's media library. Its type is
// sniffed from its first bytes (JPEG, PNG, GIF or WebP images, MP4 or
// QuickTime videos) and its size is capped by Config.MaxUploadBytes. The
// bytes are streamed to the blob store, never held whole in memory; the
// record keeps the type and size, which is what each network's limits are
// checked against when a post is published (a video's duration and
// dimensions would need a decoder, so they are not read).
func (s *Service) UploadMedia(ctx context.Context, p *Principal, workspaceID string, in MediaInput) (Media, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actMedia); err != nil {
		return Media{}, err
	}
	return s.storeMedia(ctx, p.AgencyID, p.UserID, workspaceID, in)
}

// storeMedia is UploadMedia once the uploader is known to be allowed (or is
// Herald itself, acting for an automation), recorded as created by userID.
func (s *Service) storeMedia(ctx context.Context, agencyID, userID, workspaceID string, in MediaInput) (Media, error) {
	var v errs.Fields
	desc := strings.TrimSpace(in.Description)
	if utf8.RuneCountInString(desc) > maxDescription {
		v.Add("description", "must be at most %d characters", maxDescription)
	}
	if in.Content == nil {
		v.Add("file", "is required")
	}
	if err := v.Err(); err != nil {
		return Media{}, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(in.Content, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Media{}, uploadError(err, s.cfg.MaxUploadBytes)
	}
	head = head[:n]
	if n == 0 {
		return Media{}, errs.Fields{"file": "is empty"}.Err()
	}
	mt := sniffType(head)
	if !mediaTypes[mt] {
		return Media{}, errs.Fields{"file": fmt.Sprintf("is %s; upload a JPEG, PNG, GIF or WebP image, or an MP4 or QuickTime video", mt)}.Err()
	}

	m := Media{ID: id.New("media"), WorkspaceID: workspaceID, MimeType: mt, FileName: cleanFileName(in.FileName),
		Description: desc, Tags: []string{}, CreatedAt: time.Now().UTC()}
	m.BlobKey = mediaKey(agencyID, workspaceID, m.ID)

	// Cancelling the writer's context before Close discards the object, so
	// a refused upload leaves nothing behind.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.blob.NewWriter(wctx, m.BlobKey, &gcblob.WriterOptions{ContentType: mt})
	if err != nil {
		return Media{}, fmt.Errorf("portal: opening blob %s: %w", m.BlobKey, err)
	}
	limit := s.cfg.MaxUploadBytes
	written, err := io.Copy(w, io.LimitReader(io.MultiReader(bytes.NewReader(head), in.Content), limit+1))
	if err == nil && written > limit {
		err = tooLarge(limit, nil)
	}
	if err != nil {
		cancel()
		w.Close()
		return Media{}, uploadError(err, limit)
	}
	if err := w.Close(); err != nil {
		return Media{}, fmt.Errorf("portal: writing blob %s: %w", m.BlobKey, err)
	}
	m.SizeBytes = written
	_, err = s.db.Exec(ctx, `INSERT INTO portal_media (id, agency_id, workspace_id, blob_key, mime_type, size_bytes, file_name, description, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, agencyID, workspaceID, m.BlobKey, m.MimeType, m.SizeBytes, m.FileName, m.Description,
		userID, store.ToMicros(m.CreatedAt))
	if err != nil {
		if derr := s.blob.Delete(context.WithoutCancel(ctx), m.BlobKey); derr != nil {
			s.log.Warn("deleting orphaned media blob", "key", m.BlobKey, "err", derr)
		}
		return Media{}, err
	}
	return m, nil
}

// uploadError turns a failure reading the upload into what the user should
// hear: too large when the request body hit its cap.
func uploadError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit, err)
	}
	return err
}

func tooLarge(limit int64, cause error) error {
	return &errs.Error{Kind: errs.TooLarge, Message: "the upload is too large",
		Fields: map[string]string{"file": fmt.Sprintf("is larger than %d bytes", limit)}, Err: cause}
}

const mediaColumns = `id, workspace_id, mime_type, size_bytes, file_name, description, blob_key, created_at, tags`

func scanMedia(sc interface{ Scan(...any) error }) (Media, error) {
	var m Media
	var c int64
	var tags string
	err := sc.Scan(&m.ID, &m.WorkspaceID, &m.MimeType, &m.SizeBytes, &m.FileName, &m.Description, &m.BlobKey, &c, &tags)
	m.CreatedAt, m.Tags = store.FromMicros(c), splitStored(tags)
	return m, err
}

// ListMedia lists a workspace's media library, newest first.
func (s *Service) ListMedia(ctx context.Context, p *Principal, workspaceID string) ([]Media, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actMedia); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+mediaColumns+` FROM portal_media WHERE agency_id = ? AND workspace_id = ? ORDER BY id DESC`,
		p.AgencyID, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Media{}
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GetMedia returns one media file's description.
func (s *Service) GetMedia(ctx context.Context, p *Principal, mediaID string) (Media, error) {
	m, err := scanMedia(s.db.QueryRow(ctx, `SELECT `+mediaColumns+` FROM portal_media WHERE agency_id = ? AND id = ?`, p.AgencyID, mediaID))
	if err != nil {
		return Media{}, store.NotFound(err, "media")
	}
	if _, err := s.authorize(ctx, s.db, p, m.WorkspaceID, actViewMedia); err != nil {
		return Media{}, err
	}
	return m, nil
}

// OpenMedia returns a media file and a reader of its bytes; the caller
// closes it.
func (s *Service) OpenMedia(ctx context.Context, p *Principal, mediaID string) (Media, io.ReadCloser, error) {
	m, err := s.GetMedia(ctx, p, mediaID)
	if err != nil {
		return Media{}, nil, err
	}
	r, err := s.blob.NewReader(ctx, m.BlobKey, nil)
	if err != nil {
		return Media{}, nil, fmt.Errorf("portal: reading blob %s: %w", m.BlobKey, err)
	}
	return m, r, nil
}

// MediaQuery selects a page of a workspace's media library.
type MediaQuery struct {
	// Query matches file names, descriptions and tags, without case; Tag
	// is one exact tag.
	Query, Tag string
	// Cursor is the previous page's next cursor ("" the first page);
	// Limit is the page's size (0: 50).
	Cursor string
	Limit  int
}

// SearchMedia returns a page of a workspace's media library, newest
// first, and the next page's cursor ("" on the last page). Whoever sees
// the workspace's accounts sees its library (decision 0035).
func (s *Service) SearchMedia(ctx context.Context, p *Principal, workspaceID string, q MediaQuery) ([]Media, string, error) {
	if _, err := s.authorizeLibrary(ctx, p, workspaceID, false); err != nil {
		return nil, "", err
	}
	var v errs.Fields
	// The scope holds the filters: a cursor serves the list it came from.
	pg := s.checkPage(&v, "media:"+p.AgencyID+":"+workspaceID+":"+q.Tag+":"+q.Query, PageRequest{Cursor: q.Cursor, Limit: q.Limit})
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	sql := `SELECT ` + mediaColumns + ` FROM portal_media WHERE agency_id = ? AND workspace_id = ?`
	args := []any{p.AgencyID, workspaceID}
	if t := strings.ToLower(strings.TrimSpace(q.Tag)); t != "" {
		sql += ` AND tags LIKE ? ESCAPE '\'`
		args = append(args, likePattern(","+t+","))
	}
	if w := strings.TrimSpace(q.Query); w != "" {
		sql += ` AND (LOWER(file_name) LIKE ? ESCAPE '\' OR LOWER(description) LIKE ? ESCAPE '\' OR tags LIKE ? ESCAPE '\')`
		pat := likePattern(w)
		args = append(args, pat, pat, pat)
	}
	return newestPage(ctx, s, pg, sql, args, scanMedia, func(x Media) pagePlace { return createdPlace(x.CreatedAt, x.ID) })
}

// MediaUpdate changes a media file's description and tags; nil fields are
// left as they are.
type MediaUpdate struct {
	Description *string
	Tags        *[]string
}

func (s *Service) doUpdateMedia(ctx context.Context, p *Principal, mediaID string, up MediaUpdate) (Media, error) {
	m, err := scanMedia(s.db.QueryRow(ctx, `SELECT `+mediaColumns+` FROM portal_media WHERE agency_id = ? AND id = ?`, p.AgencyID, mediaID))
	if err != nil {
		return Media{}, store.NotFound(err, "media")
	}
	if _, err := s.authorize(ctx, s.db, p, m.WorkspaceID, actMedia); err != nil {
		return Media{}, err
	}
	var v errs.Fields
	if up.Description != nil {
		m.Description = strings.TrimSpace(*up.Description)
		if utf8.RuneCountInString(m.Description) > maxDescription {
			v.Add("description", "must be at most %d characters", maxDescription)
		}
	}
	if up.Tags != nil {
		m.Tags = checkTags(&v, "tags", *up.Tags)
	}
	if err := v.Err(); err != nil {
		return Media{}, err
	}
	_, err = s.db.Exec(ctx, `UPDATE portal_media SET description = ?, tags = ? WHERE agency_id = ? AND id = ?`,
		m.Description, joinList(m.Tags), p.AgencyID, m.ID)
	return m, err
}

// UpdateMedia changes a media file's description and tags.
func (s *Service) UpdateMedia(ctx context.Context, p *Principal, mediaID string, up MediaUpdate) (Media, error) {
	m, err := s.doUpdateMedia(ctx, p, mediaID, up)
	if err == nil {
		s.audit(ctx, p, m.WorkspaceID, "media.updated", "media", m.ID, m.FileName)
	}
	return m, err
}

// MediaFit says whether one network takes a media file as it is.
type MediaFit struct {
	Network string
	OK      bool
	// Problem is the network's reason when it does not.
	Problem string
}

// mediaFits checks a file against each network's limits (type and size)
// with the providers' own validation, the one publishing applies, so the
// library says in advance what a post would be refused for.
func (s *Service) mediaFits(m Media) []MediaFit {
	out := []MediaFit{}
	for _, name := range slices.Sorted(maps.Keys(s.providers)) {
		fit := MediaFit{Network: name, OK: true}
		for _, v := range s.providers[name].Validate("", []provider.Media{{FileName: m.FileName, MimeType: m.MimeType, Size: m.SizeBytes,
			Description: m.Description}}) {
			if strings.HasPrefix(v.Field, "media") {
				fit.OK, fit.Problem = false, v.Message
				break
			}
		}
		out = append(out, fit)
	}
	return out
}
