package portal

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// The import page: upload a CSV file of posts, check it (a dry run that
// lists every row's problems), then import it.

type importPageView struct {
	chrome
	WS Workspace
	// Result is set once a file was sent.
	Result   *ImportResult
	Problems []importProblem
	Failed   []importProblem
	Created  int
	// FileError says what is wrong with the file as a whole.
	FileError string
}

type importProblem struct {
	Line    int
	Column  string
	Message string
}

// GET /workspaces/{id}/import
func (u *webUI) importPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.importPageWith(w, r, p, importPageView{}, http.StatusOK)
}

func (u *webUI) importPageWith(w http.ResponseWriter, r *http.Request, p *Principal, v importPageView, status int) error {
	ws, err := u.s.GetWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	v.WS = ws
	v.chrome = u.chrome(w, r, p, "Import posts · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "import", v)
	return nil
}

// POST /workspaces/{id}/import : action=check is a dry run, action=import
// imports.
func (u *webUI) importPosts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	dryRun := r.PostFormValue("action") != "import"
	file, _, ferr := r.FormFile("file")
	if ferr != nil {
		return u.importPageWith(w, r, p, importPageView{FileError: "Choose a CSV file."}, http.StatusUnprocessableEntity)
	}
	defer file.Close()
	res, err := u.s.ImportPosts(r.Context(), p, id, file, dryRun)
	v := importPageView{}
	if err != nil {
		if msg := fileProblem(err); msg != "" {
			v.FileError = msg
			return u.importPageWith(w, r, p, v, http.StatusUnprocessableEntity)
		}
		if len(res.Rows) == 0 {
			return err
		}
	}
	v.Result = &res
	v.Problems = importProblems(res.Problems)
	for line, msg := range res.Failed {
		v.Failed = append(v.Failed, importProblem{Line: line, Message: msg})
	}
	sort.Slice(v.Failed, func(i, j int) bool { return v.Failed[i].Line < v.Failed[j].Line })
	for _, row := range res.Rows {
		if row.PostID != "" {
			v.Created++
		}
	}
	status := http.StatusOK
	if len(v.Problems) > 0 && !dryRun {
		status = http.StatusUnprocessableEntity
	}
	if !dryRun && v.Created > 0 && len(v.Failed) == 0 {
		u.setFlash(w, flash{Kind: "success", Message: "Imported " + strconv.Itoa(v.Created) + " posts."})
		redirect(w, r, workspacePath(id))
		return nil
	}
	return u.importPageWith(w, r, p, v, status)
}

// fileProblem is the message of an error about the file as a whole, or "".
func fileProblem(err error) string {
	if e, ok := errs.As(err); ok {
		if msg := e.Fields["file"]; msg != "" {
			return "The file " + msg + "."
		}
	}
	return ""
}

// importProblems orders "line N: column" problems by line, then column.
func importProblems(fields map[string]string) []importProblem {
	out := make([]importProblem, 0, len(fields))
	for key, msg := range fields {
		lineText, col, _ := strings.Cut(strings.TrimPrefix(key, "line "), ": ")
		line, _ := strconv.Atoi(lineText)
		out = append(out, importProblem{Line: line, Column: col, Message: msg})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}
