package portal

import (
	"net/http"
)

type workspaceRequest struct {
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
}

// POST /api/v1/workspaces {name, timezone} -> 201 workspace
func (s *Service) apiCreateWorkspace(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req workspaceRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	ws, err := s.CreateWorkspace(r.Context(), p, WorkspaceInput{Name: req.Name, Timezone: req.Timezone})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, workspaceView(ws))
}

// GET /api/v1/workspaces?limit=N&cursor=C -> {workspaces: [...], next_cursor},
// oldest first.
func (s *Service) apiListWorkspaces(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageWorkspaces(r.Context(), p, pageParams(r))
	if err != nil {
		return err
	}
	out := make([]workspaceJSON, 0, len(list))
	for _, ws := range list {
		out = append(out, workspaceView(ws))
	}
	return writePage(w, "workspaces", out, next)
}

// GET /api/v1/workspaces/{id} -> workspace
func (s *Service) apiGetWorkspace(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ws, err := s.GetWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, workspaceView(ws))
}

// GET /api/v1/workspaces/{id}/members?limit=N&cursor=C -> {members: [{user_id,
// email, name, role}], next_cursor}, by user id.
func (s *Service) apiListMembers(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageMembers(r.Context(), p, r.PathValue("id"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(list))
	for _, m := range list {
		out = append(out, memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role)})
	}
	return writePage(w, "members", out, next)
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// POST /api/v1/workspaces/{id}/invites {email, role} -> 201 {id, workspace_id,
// email, role, expires_at, invite_url}; the URL is shown this once.
func (s *Service) apiCreateInvite(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req inviteRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	inv, link, err := s.CreateInvite(r.Context(), p, r.PathValue("id"), InviteInput{Email: req.Email, Role: Role(req.Role)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, inviteJSON{ID: inv.ID, WorkspaceID: inv.WorkspaceID, Email: inv.Email,
		Role: string(inv.Role), ExpiresAt: ts(inv.ExpiresAt), InviteURL: link})
}

type acceptRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// POST /api/v1/invites/{token}/accept {name, password} -> {user, csrf_token,
// expires_at} and the session cookie.
func (s *Service) apiAcceptInvite(w http.ResponseWriter, r *http.Request) error {
	var req acceptRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := s.AcceptInvite(r.Context(), r.PathValue("token"), AcceptInput{Name: req.Name, Password: req.Password,
		PreviousToken: s.previousToken(r)})
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, sess)
	return writeJSON(w, http.StatusOK, sessionView(sess))
}

// DELETE /api/v1/workspaces/{id}/members/{user} -> 204
func (s *Service) apiRemoveMember(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.RemoveMember(r.Context(), p, r.PathValue("id"), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type transferRequest struct {
	UserID string `json:"user_id"`
}

// POST /api/v1/agency/transfer-ownership {user_id} -> 204; the caller
// becomes a manager of every workspace.
func (s *Service) apiTransferOwnership(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req transferRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := s.TransferOwnership(r.Context(), p, req.UserID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
