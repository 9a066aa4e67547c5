package portal

import (
	"net/http"
	"net/url"
)

type auditPageView struct {
	chrome
	WS      Workspace
	Entries []AuditEntry
	// NextLink is the next page's address, "" on the last.
	NextLink string
}

// GET /workspaces/{id}/audit?cursor=
func (u *webUI) auditPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	ws, err := u.s.GetWorkspace(r.Context(), p, id)
	if err != nil {
		return err
	}
	entries, next, err := u.s.ListAudit(r.Context(), p, id, r.URL.Query().Get("cursor"), 100)
	if err != nil {
		return err
	}
	v := auditPageView{WS: ws, Entries: entries}
	if next != "" {
		v.NextLink = workspacePath(id) + "/audit?" + url.Values{"cursor": {next}}.Encode()
	}
	v.chrome = u.chrome(w, r, p, "Activity · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, http.StatusOK, "audit", v)
	return nil
}
