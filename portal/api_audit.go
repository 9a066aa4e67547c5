package portal

import "net/http"

type auditJSON struct {
	ID         string `json:"id"`
	ActorID    string `json:"actor_id"`
	ActorName  string `json:"actor_name"`
	ViaToken   bool   `json:"via_token"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id,omitempty"`
	Detail     string `json:"detail,omitempty"`
	At         string `json:"at"`
}

// GET /api/v1/workspaces/{id}/audit?limit=&cursor= -> {entries, next_cursor}
// newest first; next_cursor is absent on the last page.
func (s *Service) apiListAudit(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pr := pageParams(r)
	entries, next, err := s.ListAudit(r.Context(), p, r.PathValue("id"), pr.Cursor, pr.Limit)
	if err != nil {
		return err
	}
	out := make([]auditJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditJSON{ID: e.ID, ActorID: e.ActorID, ActorName: e.ActorName, ViaToken: e.ViaToken, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, Detail: e.Detail, At: ts(e.At)})
	}
	return writePage(w, "entries", out, next)
}
