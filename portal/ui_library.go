package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// The content library's pages (decision 0035). Without a script the page
// shows each snippet's text to copy; with one, the composer's Insert menu
// (library.js) puts it at the cursor.

type libraryPageView struct {
	chrome
	WS       Workspace
	CanWrite bool
	Items    []LibraryItem
	// Query, Tag and Kind are the search shown.
	Query, Tag, Kind string
	Kinds            []LibraryKind
	// Media is the workspace's media a template can carry.
	Media    []Media
	Form     *form
	NextLink string
}

type libraryItemView struct {
	chrome
	WS       Workspace
	CanWrite bool
	Item     LibraryItem
	Kinds    []LibraryKind
	Media    []Media
	Form     *form
}

// libraryPath is the address of a workspace's library, or of one item.
func libraryPath(workspaceID string, item ...string) string {
	p := workspacePath(workspaceID) + "/library"
	if len(item) > 0 {
		p += "/" + url.PathEscape(item[0])
	}
	return p
}

// libraryInputs are the form's inputs that field errors go beside.
var libraryInputs = []string{"kind", "name", "body", "tags", "media_ids"}

// GET /workspaces/{id}/library?q=&tag=&kind=&cursor=
func (u *webUI) library(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.libraryPage(w, r, p, nil, http.StatusOK)
}

func (u *webUI) libraryPage(w http.ResponseWriter, r *http.Request, p *Principal, f *form, status int) error {
	ctx := r.Context()
	id := r.PathValue("id")
	ws, err := u.s.authorizeLibrary(ctx, p, id, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := libraryPageView{WS: ws, CanWrite: ws.Role.can(actWritePosts), Query: q.Get("q"), Tag: q.Get("tag"), Kind: q.Get("kind"),
		Kinds: LibraryKinds, Form: f}
	items, next, err := u.s.ListLibrary(ctx, p, id, LibraryQuery{Query: v.Query, Tag: v.Tag, Kind: LibraryKind(v.Kind),
		Cursor: q.Get("cursor"), Limit: 50})
	if err != nil {
		return err
	}
	v.Items = items
	if next != "" {
		q.Set("cursor", next)
		v.NextLink = libraryPath(id) + "?" + q.Encode()
	}
	if v.CanWrite {
		if v.Media, err = u.s.ListMedia(ctx, p, id); err != nil {
			return err
		}
	}
	v.chrome = u.chrome(w, r, p, "Content library · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "library", v)
	return nil
}

// libraryForm reads the item form.
func libraryForm(r *http.Request) LibraryInput {
	return LibraryInput{Kind: LibraryKind(r.PostFormValue("kind")), Name: r.PostFormValue("name"), Body: r.PostFormValue("body"),
		Tags: splitLabels(r.PostFormValue("tags")), MediaIDs: r.PostForm["media_ids"]}
}

// POST /workspaces/{id}/library
func (u *webUI) createLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	it, err := u.s.CreateLibraryItem(r.Context(), p, id, libraryForm(r))
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, libraryInputs...); err != nil {
			return err
		}
		return u.libraryPage(w, r, p, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Added " + it.Name + " to the library."})
	redirect(w, r, libraryPath(id))
	return nil
}

// itemOf loads the path's item, which must be of the path's workspace.
func (u *webUI) itemOf(r *http.Request, p *Principal) (LibraryItem, error) {
	it, err := u.s.GetLibraryItem(r.Context(), p, r.PathValue("item"))
	if err != nil {
		return LibraryItem{}, err
	}
	if it.WorkspaceID != r.PathValue("id") {
		return LibraryItem{}, errs.E(errs.NotFound, "library item not found")
	}
	return it, nil
}

// GET /workspaces/{id}/library/{item}
func (u *webUI) libraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.libraryItemPage(w, r, p, nil, http.StatusOK)
}

func (u *webUI) libraryItemPage(w http.ResponseWriter, r *http.Request, p *Principal, f *form, status int) error {
	ctx := r.Context()
	it, err := u.itemOf(r, p)
	if err != nil {
		return err
	}
	ws, err := u.s.GetWorkspace(ctx, p, it.WorkspaceID)
	if err != nil {
		return err
	}
	if f == nil {
		f = &form{Values: url.Values{"kind": {string(it.Kind)}, "name": {it.Name}, "body": {it.Body},
			"tags": {strings.Join(it.Tags, ", ")}, "media_ids": it.MediaIDs}, Errors: map[string]string{}}
	}
	v := libraryItemView{WS: ws, CanWrite: ws.Role.can(actWritePosts), Item: it, Kinds: LibraryKinds, Form: f}
	if v.CanWrite {
		if v.Media, err = u.s.ListMedia(ctx, p, ws.ID); err != nil {
			return err
		}
	}
	v.chrome = u.chrome(w, r, p, it.Name+" · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "library_item", v)
	return nil
}

// POST /workspaces/{id}/library/{item}
func (u *webUI) updateLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if _, err := u.itemOf(r, p); err != nil {
		return err
	}
	in := libraryForm(r)
	media := in.MediaIDs
	if media == nil {
		media = []string{}
	}
	it, err := u.s.UpdateLibraryItem(r.Context(), p, r.PathValue("item"), LibraryUpdate{Kind: &in.Kind, Name: &in.Name, Body: &in.Body,
		Tags: &in.Tags, MediaIDs: &media})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, libraryInputs...); err != nil {
			return err
		}
		return u.libraryItemPage(w, r, p, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Saved " + it.Name + "."})
	redirect(w, r, libraryPath(it.WorkspaceID))
	return nil
}

// POST /workspaces/{id}/library/{item}/delete
func (u *webUI) deleteLibraryItem(w http.ResponseWriter, r *http.Request, p *Principal) error {
	it, err := u.itemOf(r, p)
	if err != nil {
		return err
	}
	if err := u.s.DeleteLibraryItem(r.Context(), p, it.ID); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Deleted " + it.Name + " from the library."})
	redirect(w, r, libraryPath(it.WorkspaceID))
	return nil
}

// GET /workspaces/{id}/library/{item}/compose : the workspace page with
// the composer holding the template's text and media, ready to finish.
func (u *webUI) composeFromTemplate(w http.ResponseWriter, r *http.Request, p *Principal) error {
	it, err := u.itemOf(r, p)
	if err != nil {
		return err
	}
	if _, err := u.s.authorizeLibrary(r.Context(), p, it.WorkspaceID, true); err != nil {
		return err
	}
	f := &form{Values: url.Values{"text": {it.Body}, "media_ids": it.MediaIDs}, Errors: map[string]string{}}
	return u.workspacePage(w, r, p, it.WorkspaceID, workspaceForms{compose: f}, http.StatusOK)
}
