package portal

import (
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/errs"
)

// pickPageView is the page that lists the Facebook Pages or Instagram accounts
// a login may publish as, to choose which to connect. The pick token is in
// a hidden field; the choices' tokens never reach the page.
type pickPageView struct {
	chrome
	WS      Workspace
	Label   string
	Token   string
	Choices []PickChoice
	Error   string
}

func (u *webUI) renderPick(w http.ResponseWriter, r *http.Request, p *Principal, wsID, token, problem string, status int) error {
	ctx := r.Context()
	pk, err := u.s.GetPick(ctx, p, token)
	if err == nil && pk.WorkspaceID != wsID {
		err = errs.E(errs.NotFound, "this choice of accounts is unknown or has expired; connect again")
	}
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The account was not connected: " + errs.PublicMessage(err))})
		redirect(w, r, workspacePath(wsID)+"#accounts")
		return nil
	}
	ws, err := u.s.GetWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := pickPageView{WS: ws, Label: networkLabel(pk.Network), Token: token, Choices: pk.Choices, Error: problem}
	v.chrome = u.chrome(w, r, p, "Choose "+v.Label+" accounts", "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "pick", v)
	return nil
}

// GET /workspaces/{id}/accounts/pick?pick=... : where the OAuth callback
// sends a Facebook or Instagram login.
func (u *webUI) pickPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.renderPick(w, r, p, r.PathValue("id"), r.URL.Query().Get("pick"), "", http.StatusOK)
}

// POST /workspaces/{id}/accounts/pick (pick, id...) : connects the chosen.
func (u *webUI) pickAccounts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	token := r.PostFormValue("pick")
	if pk, err := u.s.GetPick(r.Context(), p, token); err == nil && pk.WorkspaceID != id {
		return errs.E(errs.NotFound, "this choice of accounts is unknown or has expired; connect again")
	}
	_, list, err := u.s.PickAccounts(r.Context(), p, token, r.PostForm["id"])
	if err != nil {
		if e, ok := errs.As(err); ok && e.Fields["ids"] != "" {
			return u.renderPick(w, r, p, id, token, sentence(capitalize(e.Fields["ids"])), http.StatusUnprocessableEntity)
		}
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		msg := "The account was not connected: " + errs.PublicMessage(err)
		if len(list) > 0 {
			msg = strconv.Itoa(len(list)) + " connected, then: " + errs.PublicMessage(err)
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence(msg)})
		redirect(w, r, workspacePath(id)+"#accounts")
		return nil
	}
	msg := accountName(list[0]) + " is connected. You can now schedule posts to it."
	if len(list) > 1 {
		msg = strconv.Itoa(len(list)) + " accounts are connected. You can now schedule posts to them."
	}
	u.setFlash(w, flash{Kind: "success", Message: msg})
	redirect(w, r, workspacePath(id)+"#accounts")
	return nil
}
