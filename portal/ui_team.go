package portal

import "net/http"

// The team forms beyond invitations: removing a member from a workspace
// and handing the agency's ownership to someone else.

// removeMember ends a member's access to the workspace.
func (u *webUI) removeMember(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	if err := u.s.RemoveMember(r.Context(), p, id, r.PathValue("user")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Removed from this workspace. They lost access at once."})
	redirect(w, r, workspacePath(id)+"#team")
	return nil
}

// transferOwnership makes the chosen user an owner in place of the one
// signed in, who stays on as a manager of every workspace.
func (u *webUI) transferOwnership(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := u.s.TransferOwnership(r.Context(), p, r.PostFormValue("user_id")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Ownership transferred. You are now a manager of every workspace."})
	back := "/"
	if ws := r.PostFormValue("workspace_id"); ws != "" {
		back = workspacePath(ws) + "#team"
	}
	redirect(w, r, back)
	return nil
}
