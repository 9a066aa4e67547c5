package portal

import (
	"context"
	"net/http"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// PasswordChange is a user's request for a new password.
type PasswordChange struct {
	Current, New string
}

// ChangePassword gives the signed-in user a new password once the current
// one checks out. Every session of the user ends, on every device, for a
// stolen session must not outlive the password it was opened with; the
// browser that asked gets a new one. API tokens stay: they are revoked on
// their own (DELETE /api/v1/tokens/{id}). Refused attempts count against
// the sign-in limit of the user's email, as guesses at a login would.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, in PasswordChange) (*Session, error) {
	if p.ViaToken || p.sessionHash == "" {
		return nil, errs.E(errs.Forbidden, "a password is changed from a signed-in session, not with an API token")
	}
	var v errs.Fields
	if in.Current == "" {
		v.Add("current_password", "is required")
	}
	if m := checkPassword(in.New); m != "" {
		v.Add("new_password", "%s", m)
	} else if in.New == in.Current {
		v.Add("new_password", "must differ from the current password")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if ok, after := s.loginByEmail.allow(p.Email); !ok {
		return nil, errRateLimited(after, "too many attempts; try again later")
	}
	var hash string
	if err := s.db.QueryRow(ctx, `SELECT password_hash FROM portal_users WHERE agency_id = ? AND id = ?`, p.AgencyID, p.UserID).Scan(&hash); err != nil {
		return nil, store.NotFound(err, "user")
	}
	if len(in.Current) > maxPasswordBytes {
		return nil, errs.Fields{"current_password": "is wrong"}.Err()
	}
	ok, err := s.hasher.verify(ctx, hash, in.Current)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.Fields{"current_password": "is wrong"}.Err()
	}
	newHash, err := s.hasher.hash(ctx, in.New)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE portal_users SET password_hash = ? WHERE agency_id = ? AND id = ?`, newHash, p.AgencyID, p.UserID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE agency_id = ? AND user_id = ?`, p.AgencyID, p.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, p.AgencyID, p.UserID, "")
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// POST /api/v1/me/password {current_password, new_password} -> {user,
// csrf_token, expires_at} and a new session cookie; every other session of
// the user has ended.
func (s *Service) apiChangePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req passwordRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := s.ChangePassword(r.Context(), p, PasswordChange{Current: req.CurrentPassword, New: req.NewPassword})
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, sess)
	return writeJSON(w, http.StatusOK, sessionView(sess))
}

type passwordPageView struct {
	chrome
	Form *form
}

// GET /settings/password
func (u *webUI) passwordPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	u.render(w, r, http.StatusOK, "password", passwordPageView{chrome: u.chrome(w, r, p, "Password", "password"), Form: &form{Errors: map[string]string{}}})
	return nil
}

// POST /settings/password {current_password, new_password}
func (u *webUI) changePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	sess, err := u.s.ChangePassword(r.Context(), p, PasswordChange{Current: r.PostFormValue("current_password"), New: r.PostFormValue("new_password")})
	if err != nil {
		f := newForm(r)
		// Passwords are never sent back into the page.
		f.Values.Del("current_password")
		f.Values.Del("new_password")
		if err := f.fail(err, "current_password", "new_password"); err != nil {
			return err
		}
		u.render(w, r, refusedStatus(w, err), "password", passwordPageView{chrome: u.chrome(w, r, p, "Password", "password"), Form: f})
		return nil
	}
	u.s.SetSessionCookie(w, sess)
	u.setFlash(w, flash{Kind: "success", Message: "Your password is changed. You were signed out everywhere else."})
	redirect(w, r, "/settings/password")
	return nil
}
