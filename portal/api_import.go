package portal

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"

	"github.com/heraldhq/herald/errs"
)

// importRowJSON is one row of an import as understood, or as created.
type importRowJSON struct {
	Line         int      `json:"line"`
	Text         string   `json:"text"`
	Time         string   `json:"time,omitempty"`
	AccountIDs   []string `json:"account_ids"`
	MediaURLs    []string `json:"media_urls,omitempty"`
	FirstComment string   `json:"first_comment,omitempty"`
	QueueID      string   `json:"queue_id,omitempty"`
	PostID       string   `json:"post_id,omitempty"`
	Status       string   `json:"status,omitempty"`
}

type importJSON struct {
	DryRun bool            `json:"dry_run"`
	Rows   []importRowJSON `json:"rows"`
	// Problems ("line N: column" -> what is wrong) is empty when the file
	// can be imported as it is.
	Problems map[string]string `json:"problems"`
	// Failed lists rows checked sound whose post could not be created
	// (a service unavailable), by line; they can be imported again alone.
	Failed map[string]string `json:"failed,omitempty"`
}

// POST /api/v1/workspaces/{id}/imports[?dry_run=true], the CSV file as the
// body (text/csv) or as the "file" field of a multipart form.
// A dry run answers 200 with every row and every problem; an import answers
// 201 with the posts created, or 422 with the problems and creates nothing.
func (s *Service) apiImportPosts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	dryRun := false
	if d := r.URL.Query().Get("dry_run"); d != "" {
		b, err := strconv.ParseBool(d)
		if err != nil {
			return errs.Fields{"dry_run": "must be true or false"}.Err()
		}
		dryRun = b
	}
	file, err := importBody(r)
	if err != nil {
		return err
	}
	defer file.Close()
	res, err := s.ImportPosts(r.Context(), p, r.PathValue("id"), file, dryRun)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if dryRun {
		status = http.StatusOK
	}
	return writeJSON(w, status, importView(res))
}

func importBody(r *http.Request) (io.ReadCloser, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/csv", "text/plain", "application/csv":
		return r.Body, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxImportBytes + (1 << 20)); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(maxImportBytes, err)
			}
			return nil, badRequest("", "malformed multipart body: %s", err.Error())
		}
		f, _, err := r.FormFile("file")
		if errors.Is(err, http.ErrMissingFile) {
			return nil, errs.Fields{"file": "is required"}.Err()
		}
		if err != nil {
			return nil, badRequest("file", "could not be read: %s", err.Error())
		}
		return f, nil
	}
	return nil, &statusError{status: http.StatusUnsupportedMediaType,
		err: errs.E(errs.Invalid, "send the CSV file as text/csv, or as the \"file\" field of multipart/form-data")}
}

func importView(res ImportResult) importJSON {
	out := importJSON{DryRun: res.DryRun, Rows: make([]importRowJSON, 0, len(res.Rows)), Problems: map[string]string{}}
	for _, row := range res.Rows {
		out.Rows = append(out.Rows, importRowJSON{Line: row.Line, Text: row.Text, Time: row.Time, AccountIDs: nonNil(row.Accounts),
			MediaURLs: row.MediaURLs, FirstComment: row.FirstComment, QueueID: row.QueueID, PostID: row.PostID, Status: row.Status})
	}
	for k, v := range res.Problems {
		out.Problems[k] = v
	}
	if len(res.Failed) > 0 {
		out.Failed = map[string]string{}
		lines := make([]int, 0, len(res.Failed))
		for l := range res.Failed {
			lines = append(lines, l)
		}
		sort.Ints(lines)
		for _, l := range lines {
			out.Failed["line "+strconv.Itoa(l)] = res.Failed[l]
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
