package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// The media library's page (decision 0035): search by words and tag, each
// file with what every network says of its type and size, tags and
// descriptions to edit, and an upload form taking several files at once.
// Its script (library.js) uploads dropped files one request each, with
// progress; without it the form sends them all in one.

// maxUploadFiles bounds the files one form sends.
const maxUploadFiles = 10

type mediaPageView struct {
	chrome
	WS         Workspace
	CanWrite   bool
	Items      []mediaItemView
	Query, Tag string
	NextLink   string
	// Upload is the refused upload form, if any.
	Upload         *form
	MaxUploadBytes int64
	MaxFiles       int
}

type mediaItemView struct {
	Media
	Fits  []MediaFit
	Video bool
}

func mediaPagePath(workspaceID string) string { return workspacePath(workspaceID) + "/media" }

// GET /workspaces/{id}/media?q=&tag=&cursor=
func (u *webUI) mediaLibrary(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.mediaPage(w, r, p, nil, http.StatusOK)
}

func (u *webUI) mediaPage(w http.ResponseWriter, r *http.Request, p *Principal, upload *form, status int) error {
	ctx := r.Context()
	id := r.PathValue("id")
	ws, err := u.s.authorizeLibrary(ctx, p, id, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := mediaPageView{WS: ws, CanWrite: ws.Role.can(actMedia), Query: q.Get("q"), Tag: q.Get("tag"), Upload: upload,
		MaxUploadBytes: u.s.cfg.MaxUploadBytes, MaxFiles: maxUploadFiles}
	list, next, err := u.s.SearchMedia(ctx, p, id, MediaQuery{Query: v.Query, Tag: v.Tag, Cursor: q.Get("cursor"), Limit: 48})
	if err != nil {
		return err
	}
	for _, m := range list {
		v.Items = append(v.Items, mediaItemView{Media: m, Fits: u.s.mediaFits(m), Video: strings.HasPrefix(m.MimeType, "video/")})
	}
	if next != "" {
		q.Set("cursor", next)
		v.NextLink = mediaPagePath(id) + "?" + q.Encode()
	}
	v.chrome = u.chrome(w, r, p, "Media library · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "media", v)
	return nil
}

// POST /workspaces/{id}/media/upload : several files in one form. Each is
// stored or refused on its own; the page says which.
func (u *webUI) uploadMediaFiles(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	var files []string
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["file"] {
			files = append(files, fh.Filename)
		}
	}
	f := newForm(r)
	if len(files) == 0 {
		f.Errors["file"] = "Choose one or more images or videos to upload."
	}
	if len(files) > maxUploadFiles {
		f.Errors["file"] = fmt.Sprintf("Upload at most %d files at once.", maxUploadFiles)
	}
	if len(f.Errors) > 0 {
		// A refusal by role must not hide behind the file's problem.
		if _, err := u.s.authorize(r.Context(), u.s.db, p, id, actMedia); err != nil {
			return err
		}
		return u.mediaPage(w, r, p, f, http.StatusUnprocessableEntity)
	}
	var done, refused []string
	for _, fh := range r.MultipartForm.File["file"] {
		file, err := fh.Open()
		if err != nil {
			return err
		}
		m, err := u.s.UploadMedia(r.Context(), p, id, MediaInput{FileName: fh.Filename, Content: file,
			Description: r.PostFormValue("description")})
		file.Close()
		switch {
		case err == nil:
			done = append(done, m.FileName)
		case errs.Is(err, errs.Invalid) || errs.Is(err, errs.TooLarge):
			e, _ := errs.As(err)
			msg := errs.PublicMessage(err)
			if e != nil && e.Fields["file"] != "" {
				msg = fieldMessage("file", false, e.Fields["file"])
			} else if e != nil && e.Fields["description"] != "" {
				msg = fieldMessage("description", false, e.Fields["description"])
			}
			refused = append(refused, cleanFileName(fh.Filename)+": "+msg)
		default:
			return err
		}
	}
	if len(done) == 0 {
		f.Errors["file"] = strings.Join(refused, " ")
		return u.mediaPage(w, r, p, f, http.StatusUnprocessableEntity)
	}
	msg := "Uploaded " + strings.Join(done, ", ") + "."
	kind := "success"
	if len(refused) > 0 {
		msg += " Not uploaded: " + strings.Join(refused, " ")
		kind = "error"
	}
	u.setFlash(w, flash{Kind: kind, Message: msg})
	redirect(w, r, mediaPagePath(id))
	return nil
}

// POST /workspaces/{id}/media/{media} : a file's description and tags.
func (u *webUI) updateMediaFile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	m, err := u.s.GetMedia(r.Context(), p, r.PathValue("media"))
	if err != nil {
		return err
	}
	if m.WorkspaceID != id {
		return errs.E(errs.NotFound, "media not found")
	}
	desc, tags := r.PostFormValue("description"), splitLabels(r.PostFormValue("tags"))
	_, err = u.s.UpdateMedia(r.Context(), p, m.ID, MediaUpdate{Description: &desc, Tags: &tags})
	back := mediaPagePath(id)
	if ref, perr := url.Parse(r.Referer()); perr == nil && ref.Host == r.Host && ref.Path == back {
		back = ref.RequestURI() // keep the search the change was made from
	}
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			return err
		}
		f := newForm(r)
		if err := f.fail(err, "description", "tags"); err != nil {
			return err
		}
		msg := m.FileName + " was not changed:"
		for _, k := range []string{"description", "tags"} {
			if f.Errors[k] != "" {
				msg += " " + f.Errors[k]
			}
		}
		u.setFlash(w, flash{Kind: "error", Message: msg})
		redirect(w, r, back)
		return nil
	}
	u.setFlash(w, flash{Kind: "success", Message: "Saved " + m.FileName + "."})
	redirect(w, r, back)
	return nil
}
