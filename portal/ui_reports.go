package portal

import (
	"net/http"
	"net/url"
)

type reportPageView struct {
	chrome
	WS     Workspace
	Report Report
	// CSVLink downloads the same report.
	CSVLink string
}

// GET /workspaces/{id}/reports?from=&to=
func (u *webUI) reportPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	ws, err := u.s.GetWorkspace(r.Context(), p, id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rep, err := u.s.Report(r.Context(), p, id, q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	v := reportPageView{WS: ws, Report: rep,
		CSVLink: "/api/v1/workspaces/" + url.PathEscape(id) + "/reports?" + url.Values{"from": {rep.From}, "to": {rep.To}, "format": {"csv"}}.Encode()}
	v.chrome = u.chrome(w, r, p, "Report · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, http.StatusOK, "reports", v)
	return nil
}
