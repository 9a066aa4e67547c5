package portal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// The content library (decision 0035): per workspace, the pieces of text
// a team writes again and again. Snippets and hashtag sets are inserted
// into a post's text in the composer; a template is text and media a new
// post starts from. Writers change the library; every member who sees the
// workspace's accounts sees it too, as the composer does.

// LibraryKind is what a library item is for.
type LibraryKind string

const (
	LibrarySnippet  LibraryKind = "snippet"
	LibraryHashtags LibraryKind = "hashtags"
	LibraryTemplate LibraryKind = "template"
)

// LibraryKinds are the kinds, in the order the UI offers them.
var LibraryKinds = []LibraryKind{LibrarySnippet, LibraryHashtags, LibraryTemplate}

// LibraryItem is one snippet, hashtag set or post template.
type LibraryItem struct {
	ID, WorkspaceID string
	Kind            LibraryKind
	Name, Body      string
	// MediaIDs are a template's media, attached to the posts made from it.
	MediaIDs  []string
	Tags      []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LibraryInput creates an item.
type LibraryInput struct {
	Kind     LibraryKind
	Name     string
	Body     string
	MediaIDs []string
	Tags     []string
}

// LibraryUpdate changes an item; nil fields are left as they are.
type LibraryUpdate struct {
	Kind     *LibraryKind
	Name     *string
	Body     *string
	MediaIDs *[]string
	Tags     *[]string
}

// LibraryQuery selects a page of a workspace's library.
type LibraryQuery struct {
	// Query matches names and tags, without case; Tag is one exact tag.
	Query, Tag string
	// Kind keeps one kind ("" all).
	Kind LibraryKind
	// Cursor is the previous page's next cursor ("" the first page);
	// Limit is the page's size (0: 50).
	Cursor string
	Limit  int
}

const (
	maxLibraryName  = 100
	maxLibraryBody  = 10000
	maxLibraryMedia = 10
	maxTags         = 20
	maxTagBytes     = 40
)

// Label names the kind for people.
func (k LibraryKind) Label() string {
	switch k {
	case LibrarySnippet:
		return "Snippet"
	case LibraryHashtags:
		return "Hashtag set"
	case LibraryTemplate:
		return "Template"
	}
	return string(k)
}

func (k LibraryKind) valid() bool { return slices.Contains(LibraryKinds, k) }

// authorizeLibrary checks p may see (write false) or change (write true)
// a workspace's library. Seeing it is for the team: everyone but a client
// approver, who sees only the posts sent for review.
func (s *Service) authorizeLibrary(ctx context.Context, p *Principal, workspaceID string, write bool) (Workspace, error) {
	if write {
		return s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	}
	return s.authorize(ctx, s.db, p, workspaceID, actViewLibrary)
}

// checkTags normalizes tags (trimmed, lower-cased, each once) and reports
// those that are too long or too many under field.
func checkTags(v *errs.Fields, field string, tags []string) []string {
	out := []string{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || slices.Contains(out, t) {
			continue
		}
		switch {
		case len(t) > maxTagBytes:
			v.Add(field, "%q is longer than %d characters", t, maxTagBytes)
		case strings.ContainsAny(t, ",\n\r\t"):
			v.Add(field, "%q may not hold commas or line breaks", t)
		}
		out = append(out, t)
	}
	if len(out) > maxTags {
		v.Add(field, "must be at most %d tags", maxTags)
	}
	return out
}

// joinList keeps a list as ",a,b," so that one element matches with
// LIKE '%,a,%'; an empty list is "".
func joinList(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

func splitStored(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// likePattern is s as a LIKE pattern matching it anywhere, its own
// wildcards escaped (with ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// checkLibrary validates an item as it would be stored.
func (s *Service) checkLibrary(ctx context.Context, agencyID, workspaceID string, in *LibraryInput) error {
	var v errs.Fields
	if !in.Kind.valid() {
		v.Add("kind", "must be snippet, hashtags or template")
	}
	in.Name = strings.TrimSpace(in.Name)
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		v.Add("name", "is required")
	case n > maxLibraryName:
		v.Add("name", "must be at most %d characters", maxLibraryName)
	}
	in.Body = strings.TrimSpace(in.Body)
	switch n := utf8.RuneCountInString(in.Body); {
	case n == 0 && in.Kind == LibraryTemplate && len(in.MediaIDs) > 0:
		// A template may be media alone.
	case n == 0:
		v.Add("body", "is required")
	case n > maxLibraryBody:
		v.Add("body", "must be at most %d characters", maxLibraryBody)
	}
	if in.Kind == LibraryHashtags {
		for _, w := range strings.Fields(in.Body) {
			if len(w) < 2 || w[0] != '#' {
				v.Add("body", "must be hashtags separated by spaces (#summer #sale); %q is not one", w)
				break
			}
		}
	}
	in.Tags = checkTags(&v, "tags", in.Tags)
	ids := []string{}
	for _, m := range in.MediaIDs {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(ids, m) {
			ids = append(ids, m)
		}
	}
	in.MediaIDs = ids
	switch {
	case len(ids) > 0 && in.Kind != LibraryTemplate:
		v.Add("media_ids", "are only for templates")
	case len(ids) > maxLibraryMedia:
		v.Add("media_ids", "must be at most %d files", maxLibraryMedia)
	default:
		for i, m := range ids {
			var n int
			if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_media WHERE agency_id = ? AND workspace_id = ? AND id = ?`,
				agencyID, workspaceID, m).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				v.Add(fmt.Sprintf("media_ids[%d]", i), "is not in this workspace's media library")
			}
		}
	}
	return v.Err()
}

func (s *Service) doCreateLibraryItem(ctx context.Context, p *Principal, workspaceID string, in LibraryInput) (LibraryItem, error) {
	if _, err := s.authorizeLibrary(ctx, p, workspaceID, true); err != nil {
		return LibraryItem{}, err
	}
	if err := s.checkLibrary(ctx, p.AgencyID, workspaceID, &in); err != nil {
		return LibraryItem{}, err
	}
	now := time.Now().UTC()
	it := LibraryItem{ID: id.New("lib"), WorkspaceID: workspaceID, Kind: in.Kind, Name: in.Name, Body: in.Body,
		MediaIDs: in.MediaIDs, Tags: in.Tags, CreatedAt: now, UpdatedAt: now}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_library_items
		(id, agency_id, workspace_id, kind, name, body, media_ids, tags, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, it.ID, p.AgencyID, workspaceID, string(it.Kind), it.Name, it.Body,
		joinList(it.MediaIDs), joinList(it.Tags), p.UserID, store.ToMicros(now), store.ToMicros(now))
	if err != nil {
		return LibraryItem{}, err
	}
	return it, nil
}

const libraryColumns = `id, workspace_id, kind, name, body, media_ids, tags, created_at, updated_at`

func scanLibrary(sc interface{ Scan(...any) error }) (LibraryItem, error) {
	var it LibraryItem
	var kind, media, tags string
	var created, updated int64
	err := sc.Scan(&it.ID, &it.WorkspaceID, &kind, &it.Name, &it.Body, &media, &tags, &created, &updated)
	it.Kind, it.MediaIDs, it.Tags = LibraryKind(kind), splitStored(media), splitStored(tags)
	it.CreatedAt, it.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return it, err
}

// GetLibraryItem returns one item of a library p sees.
func (s *Service) GetLibraryItem(ctx context.Context, p *Principal, itemID string) (LibraryItem, error) {
	return s.loadLibraryItem(ctx, p, itemID, false)
}

func (s *Service) loadLibraryItem(ctx context.Context, p *Principal, itemID string, write bool) (LibraryItem, error) {
	it, err := scanLibrary(s.db.QueryRow(ctx, `SELECT `+libraryColumns+` FROM portal_library_items WHERE agency_id = ? AND id = ?`,
		p.AgencyID, itemID))
	if err != nil {
		return LibraryItem{}, store.NotFound(err, "library item")
	}
	if _, err := s.authorizeLibrary(ctx, p, it.WorkspaceID, write); err != nil {
		return LibraryItem{}, err
	}
	return it, nil
}

// ListLibrary returns a page of a workspace's library, newest first, and
// the next page's cursor ("" on the last page).
func (s *Service) ListLibrary(ctx context.Context, p *Principal, workspaceID string, q LibraryQuery) ([]LibraryItem, string, error) {
	if _, err := s.authorizeLibrary(ctx, p, workspaceID, false); err != nil {
		return nil, "", err
	}
	var v errs.Fields
	// The scope holds the filters: a cursor serves the list it came from.
	pg := s.checkPage(&v, "library:"+p.AgencyID+":"+workspaceID+":"+string(q.Kind)+":"+q.Tag+":"+q.Query, PageRequest{Cursor: q.Cursor, Limit: q.Limit})
	if q.Kind != "" && !q.Kind.valid() {
		v.Add("kind", "must be snippet, hashtags or template")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	sql := `SELECT ` + libraryColumns + ` FROM portal_library_items WHERE agency_id = ? AND workspace_id = ?`
	args := []any{p.AgencyID, workspaceID}
	if q.Kind != "" {
		sql += ` AND kind = ?`
		args = append(args, string(q.Kind))
	}
	if t := strings.ToLower(strings.TrimSpace(q.Tag)); t != "" {
		sql += ` AND tags LIKE ? ESCAPE '\'`
		args = append(args, likePattern(","+t+","))
	}
	if w := strings.TrimSpace(q.Query); w != "" {
		sql += ` AND (LOWER(name) LIKE ? ESCAPE '\' OR tags LIKE ? ESCAPE '\')`
		args = append(args, likePattern(w), likePattern(w))
	}
	return newestPage(ctx, s, pg, sql, args, scanLibrary, func(x LibraryItem) pagePlace { return createdPlace(x.CreatedAt, x.ID) })
}

func (s *Service) doUpdateLibraryItem(ctx context.Context, p *Principal, itemID string, up LibraryUpdate) (LibraryItem, error) {
	it, err := s.loadLibraryItem(ctx, p, itemID, true)
	if err != nil {
		return LibraryItem{}, err
	}
	in := LibraryInput{Kind: it.Kind, Name: it.Name, Body: it.Body, MediaIDs: it.MediaIDs, Tags: it.Tags}
	if up.Kind != nil {
		in.Kind = *up.Kind
	}
	if up.Name != nil {
		in.Name = *up.Name
	}
	if up.Body != nil {
		in.Body = *up.Body
	}
	if up.MediaIDs != nil {
		in.MediaIDs = *up.MediaIDs
	}
	if up.Tags != nil {
		in.Tags = *up.Tags
	}
	if err := s.checkLibrary(ctx, p.AgencyID, it.WorkspaceID, &in); err != nil {
		return LibraryItem{}, err
	}
	it.Kind, it.Name, it.Body, it.MediaIDs, it.Tags = in.Kind, in.Name, in.Body, in.MediaIDs, in.Tags
	it.UpdatedAt = time.Now().UTC()
	_, err = s.db.Exec(ctx, `UPDATE portal_library_items SET kind = ?, name = ?, body = ?, media_ids = ?, tags = ?, updated_at = ?
		WHERE agency_id = ? AND id = ?`, string(it.Kind), it.Name, it.Body, joinList(it.MediaIDs), joinList(it.Tags),
		store.ToMicros(it.UpdatedAt), p.AgencyID, it.ID)
	if err != nil {
		return LibraryItem{}, err
	}
	return it, nil
}

func (s *Service) doDeleteLibraryItem(ctx context.Context, p *Principal, itemID string) (LibraryItem, error) {
	it, err := s.loadLibraryItem(ctx, p, itemID, true)
	if err != nil {
		return LibraryItem{}, err
	}
	_, err = s.db.Exec(ctx, `DELETE FROM portal_library_items WHERE agency_id = ? AND id = ?`, p.AgencyID, it.ID)
	return it, err
}

// --- the audited domain methods (see audit.go) ---

// CreateLibraryItem adds a snippet, hashtag set or template to a
// workspace's library.
func (s *Service) CreateLibraryItem(ctx context.Context, p *Principal, workspaceID string, in LibraryInput) (LibraryItem, error) {
	it, err := s.doCreateLibraryItem(ctx, p, workspaceID, in)
	if err == nil {
		s.audit(ctx, p, it.WorkspaceID, "library.created", "library_item", it.ID, string(it.Kind)+" "+it.Name)
	}
	return it, err
}

// UpdateLibraryItem changes a library item.
func (s *Service) UpdateLibraryItem(ctx context.Context, p *Principal, itemID string, up LibraryUpdate) (LibraryItem, error) {
	it, err := s.doUpdateLibraryItem(ctx, p, itemID, up)
	if err == nil {
		s.audit(ctx, p, it.WorkspaceID, "library.updated", "library_item", it.ID, string(it.Kind)+" "+it.Name)
	}
	return it, err
}

// DeleteLibraryItem removes a library item; posts made from a template
// keep what they were given.
func (s *Service) DeleteLibraryItem(ctx context.Context, p *Principal, itemID string) error {
	it, err := s.doDeleteLibraryItem(ctx, p, itemID)
	if err == nil {
		s.audit(ctx, p, it.WorkspaceID, "library.deleted", "library_item", it.ID, string(it.Kind)+" "+it.Name)
	}
	return err
}
