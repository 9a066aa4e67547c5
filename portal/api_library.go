package portal

import (
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/errs"
)

// The content library's and the media library's JSON API (decision 0035).

type libraryItemJSON struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Body        string   `json:"body"`
	MediaIDs    []string `json:"media_ids"`
	Tags        []string `json:"tags"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func libraryView(it LibraryItem) libraryItemJSON {
	return libraryItemJSON{ID: it.ID, WorkspaceID: it.WorkspaceID, Kind: string(it.Kind), Name: it.Name, Body: it.Body,
		MediaIDs: it.MediaIDs, Tags: it.Tags, CreatedAt: ts(it.CreatedAt), UpdatedAt: ts(it.UpdatedAt)}
}

type libraryRequest struct {
	Kind     *string   `json:"kind"`
	Name     *string   `json:"name"`
	Body     *string   `json:"body"`
	MediaIDs *[]string `json:"media_ids"`
	Tags     *[]string `json:"tags"`
}

func (r libraryRequest) update() LibraryUpdate {
	up := LibraryUpdate{Name: r.Name, Body: r.Body, MediaIDs: r.MediaIDs, Tags: r.Tags}
	if r.Kind != nil {
		k := LibraryKind(*r.Kind)
		up.Kind = &k
	}
	return up
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// queryLimit reads the limit parameter of a page (0 when absent).
func queryLimit(r *http.Request) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil {
		return 0, errs.Fields{"limit": "must be a whole number"}.Err()
	}
	return n, nil
}

// POST /api/v1/workspaces/{id}/library {kind, name, body, media_ids, tags} -> item
func (s *Service) apiCreateLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req libraryRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	it, err := s.CreateLibraryItem(r.Context(), p, r.PathValue("id"), LibraryInput{Kind: LibraryKind(deref(req.Kind)),
		Name: deref(req.Name), Body: deref(req.Body), MediaIDs: deref(req.MediaIDs), Tags: deref(req.Tags)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, libraryView(it))
}

// GET /api/v1/workspaces/{id}/library?q=&tag=&kind=&limit=&cursor= -> {items, next_cursor}
// newest first; next_cursor is absent on the last page.
func (s *Service) apiListLibrary(w http.ResponseWriter, r *http.Request, p *Principal) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	items, next, err := s.ListLibrary(r.Context(), p, r.PathValue("id"), LibraryQuery{Query: q.Get("q"), Tag: q.Get("tag"),
		Kind: LibraryKind(q.Get("kind")), Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	out := make([]libraryItemJSON, 0, len(items))
	for _, it := range items {
		out = append(out, libraryView(it))
	}
	body := map[string]any{"items": out}
	if next != "" {
		body["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, body)
}

// GET /api/v1/library/{id} -> item
func (s *Service) apiGetLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	it, err := s.GetLibraryItem(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, libraryView(it))
}

// PATCH /api/v1/library/{id} {kind?, name?, body?, media_ids?, tags?} -> item
func (s *Service) apiUpdateLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req libraryRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	it, err := s.UpdateLibraryItem(r.Context(), p, r.PathValue("id"), req.update())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, libraryView(it))
}

// DELETE /api/v1/library/{id} -> 204
func (s *Service) apiDeleteLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteLibraryItem(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type mediaFitJSON struct {
	Network string `json:"network"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// mediaItemJSON is a media file with what each network says of it.
type mediaItemJSON struct {
	mediaJSON
	Networks []mediaFitJSON `json:"networks"`
}

func (s *Service) mediaItemView(m Media) mediaItemJSON {
	out := mediaItemJSON{mediaJSON: mediaView(m), Networks: []mediaFitJSON{}}
	for _, f := range s.mediaFits(m) {
		out.Networks = append(out.Networks, mediaFitJSON{Network: f.Network, OK: f.OK, Problem: f.Problem})
	}
	return out
}

// GET /api/v1/workspaces/{id}/media?q=&tag=&limit=&cursor= -> {media, next_cursor}
// newest first; next_cursor is absent on the last page.
func (s *Service) apiSearchMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, next, err := s.SearchMedia(r.Context(), p, r.PathValue("id"), MediaQuery{Query: q.Get("q"), Tag: q.Get("tag"),
		Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	out := make([]mediaItemJSON, 0, len(list))
	for _, m := range list {
		out = append(out, s.mediaItemView(m))
	}
	body := map[string]any{"media": out}
	if next != "" {
		body["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, body)
}

type mediaUpdateRequest struct {
	Description *string   `json:"description"`
	Tags        *[]string `json:"tags"`
}

// PATCH /api/v1/media/{id} {description?, tags?} -> media
func (s *Service) apiUpdateMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req mediaUpdateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	m, err := s.UpdateMedia(r.Context(), p, r.PathValue("id"), MediaUpdate{Description: req.Description, Tags: req.Tags})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.mediaItemView(m))
}
