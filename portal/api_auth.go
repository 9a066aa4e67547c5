package portal

import (
	"net/http"
)

// GET /api/v1/setup -> {"needed": bool}
func (s *Service) apiSetupNeeded(w http.ResponseWriter, r *http.Request) error {
	needed, err := s.SetupNeeded(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]bool{"needed": needed})
}

type setupRequest struct {
	AgencyName string `json:"agency_name"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Password   string `json:"password"`
}

// POST /api/v1/setup {agency_name, name, email, password}
// -> 201 {user, csrf_token, expires_at} and the session cookie; 409 once done.
func (s *Service) apiSetup(w http.ResponseWriter, r *http.Request) error {
	var req setupRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := s.Setup(r.Context(), AgencyInput{AgencyName: req.AgencyName, Name: req.Name, Email: req.Email, Password: req.Password})
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, sess)
	return writeJSON(w, http.StatusCreated, sessionView(sess))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// POST /api/v1/login {email, password} -> {user, csrf_token, expires_at}
// and a new session cookie.
func (s *Service) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := s.Login(r.Context(), LoginInput{Email: req.Email, Password: req.Password,
		ClientIP: s.clientIP(r), PreviousToken: s.previousToken(r)})
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, sess)
	return writeJSON(w, http.StatusOK, sessionView(sess))
}

// POST /api/v1/logout -> 204, the session ended and its cookie cleared.
func (s *Service) apiLogout(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.Logout(r.Context(), p); err != nil {
		return err
	}
	if !p.ViaToken {
		s.ClearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meJSON struct {
	User       userJSON        `json:"user"`
	CSRFToken  string          `json:"csrf_token,omitempty"`
	Workspaces []workspaceJSON `json:"workspaces"`
}

// GET /api/v1/me -> {user, csrf_token, workspaces: [...]}
func (s *Service) apiMe(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ws, err := s.ListWorkspaces(r.Context(), p)
	if err != nil {
		return err
	}
	out := meJSON{User: userView(p), CSRFToken: p.CSRFToken, Workspaces: make([]workspaceJSON, 0, len(ws))}
	for _, w := range ws {
		out.Workspaces = append(out.Workspaces, workspaceView(w))
	}
	return writeJSON(w, http.StatusOK, out)
}

type tokenRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// POST /api/v1/tokens {name} -> 201 {id, name, token, created_at}; the
// token is shown this once.
func (s *Service) apiCreateToken(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req tokenRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	t, secret, err := s.CreateAPIToken(r.Context(), p, req.Name, req.Scopes...)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Token: secret, CreatedAt: ts(t.CreatedAt)})
}

// GET /api/v1/tokens?limit=N&cursor=C -> {tokens: [{id, name, created_at,
// last_used_at}], next_cursor}, oldest first.
func (s *Service) apiListTokens(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageAPITokens(r.Context(), p, pageParams(r))
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(list))
	for _, t := range list {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, CreatedAt: ts(t.CreatedAt), LastUsedAt: ts(t.LastUsedAt)})
	}
	return writePage(w, "tokens", out, next)
}

// DELETE /api/v1/tokens/{id} -> 204
func (s *Service) apiDeleteToken(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteAPIToken(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
