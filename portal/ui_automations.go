package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// The automation pages: a workspace's automations with a form for a new
// one, and an automation with its latest items, its feed's health, pause,
// edit and delete.

type automationFormView struct {
	Action, Submit, CSRF string
	New                  bool
	Form                 *form
	Accounts             []Account
	Queues               []Queue
}

var automationInputs = []string{"name", "feed_url", "interval", "backfill", "template", "account_ids", "action", "queue_id", "evergreen", "attach_image"}

func automationForm(a Automation) *form {
	v := url.Values{"name": {a.Name}, "feed_url": {a.FeedURL}, "interval": {a.Interval.String()}, "template": {a.Template},
		"account_ids": a.AccountIDs, "action": {a.Action}, "queue_id": {a.QueueID}}
	if a.Evergreen {
		v.Set("evergreen", "on")
	}
	if a.AttachImage {
		v.Set("attach_image", "on")
	}
	return &form{Values: v, Errors: map[string]string{}}
}

func formAutomation(r *http.Request, v *errs.Fields) AutomationInput {
	in := AutomationInput{Name: r.PostFormValue("name"), FeedURL: r.PostFormValue("feed_url"), Interval: r.PostFormValue("interval"),
		Template: r.PostFormValue("template"), AccountIDs: r.PostForm["account_ids"], Action: r.PostFormValue("action"),
		Evergreen: r.PostFormValue("evergreen") != "", AttachImage: r.PostFormValue("attach_image") != ""}
	if in.Action == ActionQueue {
		in.QueueID = r.PostFormValue("queue_id")
	} else {
		in.Evergreen = false
	}
	if b := strings.TrimSpace(r.PostFormValue("backfill")); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil {
			v.Add("backfill", "Give a number from 0 to 20.")
		}
		in.Backfill = n
	}
	return in
}

func (u *webUI) automationFormView(r *http.Request, p *Principal, ws Workspace, f *form, action, submit string, isNew bool) (automationFormView, error) {
	v := automationFormView{Action: action, Submit: submit, CSRF: p.CSRFToken, Form: f, New: isNew}
	var err error
	if v.Accounts, err = u.s.ListAccounts(r.Context(), p, ws.ID); err != nil {
		return v, err
	}
	v.Queues = u.queueChoices(r.Context(), p, ws)
	return v, nil
}

type automationsView struct {
	chrome
	WS          Workspace
	Automations []Automation
	CanWrite    bool
	AutoForm    automationFormView
}

func (u *webUI) automationsPage(w http.ResponseWriter, r *http.Request, p *Principal, wsID string, f *form, status int) error {
	ctx := r.Context()
	ws, err := u.s.GetWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := automationsView{WS: ws, CanWrite: ws.Role.can(actWritePosts)}
	if v.Automations, err = u.s.ListAutomations(ctx, p, ws.ID); err != nil {
		return err
	}
	if v.CanWrite {
		if f == nil {
			f = &form{Values: url.Values{}, Errors: map[string]string{}}
		}
		if v.AutoForm, err = u.automationFormView(r, p, ws, f, workspacePath(ws.ID)+"/automations", "Create automation", true); err != nil {
			return err
		}
	}
	v.chrome = u.chrome(w, r, p, "Automations · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "automations", v)
	return nil
}

// GET /workspaces/{id}/automations
func (u *webUI) automations(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.automationsPage(w, r, p, r.PathValue("id"), nil, http.StatusOK)
}

func automationPath(wsID, id string) string {
	return workspacePath(wsID) + "/automations/" + url.PathEscape(id)
}

// POST /workspaces/{id}/automations
func (u *webUI) createAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	var formErrs errs.Fields
	in := formAutomation(r, &formErrs)
	err := formErrs.Err()
	var a Automation
	if err == nil {
		a, err = u.s.CreateAutomation(r.Context(), p, id, in)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, automationInputs...); err != nil {
			return err
		}
		return u.automationsPage(w, r, p, id, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Automation “" + a.Name + "” created: new items of the feed will appear here."})
	redirect(w, r, automationPath(id, a.ID))
	return nil
}

type automationPageView struct {
	chrome
	WS       Workspace
	A        Automation
	CanWrite bool
	AutoForm automationFormView
}

func (u *webUI) automationPage(w http.ResponseWriter, r *http.Request, p *Principal, wsID, autoID string, f *form, status int) error {
	ctx := r.Context()
	a, err := u.s.GetAutomation(ctx, p, autoID)
	if err != nil {
		return err
	}
	if a.WorkspaceID != wsID {
		return errs.E(errs.NotFound, "automation not found")
	}
	ws, err := u.s.GetWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := automationPageView{WS: ws, A: a, CanWrite: ws.Role.can(actWritePosts)}
	if v.CanWrite {
		if f == nil {
			f = automationForm(a)
		}
		if v.AutoForm, err = u.automationFormView(r, p, ws, f, automationPath(ws.ID, a.ID), "Save automation", false); err != nil {
			return err
		}
	}
	v.chrome = u.chrome(w, r, p, a.Name+" · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "automation", v)
	return nil
}

// GET /workspaces/{id}/automations/{auto}
func (u *webUI) automation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.automationPage(w, r, p, r.PathValue("id"), r.PathValue("auto"), nil, http.StatusOK)
}

// automationInWorkspace refuses an automation reached under another
// workspace's path.
func (u *webUI) automationInWorkspace(r *http.Request, p *Principal, wsID, autoID string) error {
	a, err := u.s.loadAutomation(r.Context(), u.s.db, p.AgencyID, autoID)
	if err != nil {
		return err
	}
	if a.WorkspaceID != wsID {
		return errs.E(errs.NotFound, "automation not found")
	}
	return nil
}

// POST /workspaces/{id}/automations/{auto}
func (u *webUI) updateAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, autoID := r.PathValue("id"), r.PathValue("auto")
	if err := u.automationInWorkspace(r, p, wsID, autoID); err != nil {
		return err
	}
	var formErrs errs.Fields
	in := formAutomation(r, &formErrs)
	err := formErrs.Err()
	if err == nil {
		_, err = u.s.UpdateAutomation(r.Context(), p, autoID, in)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, automationInputs...); err != nil {
			return err
		}
		return u.automationPage(w, r, p, wsID, autoID, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Automation saved."})
	redirect(w, r, automationPath(wsID, autoID))
	return nil
}

// POST /workspaces/{id}/automations/{auto}/pause
func (u *webUI) pauseAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, autoID := r.PathValue("id"), r.PathValue("auto")
	if err := u.automationInWorkspace(r, p, wsID, autoID); err != nil {
		return err
	}
	paused := r.PostFormValue("paused") == "true"
	if _, err := u.s.PauseAutomation(r.Context(), p, autoID, paused); err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The automation was not changed: " + errs.PublicMessage(err))})
	} else if paused {
		u.setFlash(w, flash{Kind: "success", Message: "Paused: the feed is not read until you resume it."})
	} else {
		u.setFlash(w, flash{Kind: "success", Message: "Resumed: the feed is read again."})
	}
	redirect(w, r, automationPath(wsID, autoID))
	return nil
}

// POST /workspaces/{id}/automations/{auto}/delete
func (u *webUI) deleteAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, autoID := r.PathValue("id"), r.PathValue("auto")
	if err := u.automationInWorkspace(r, p, wsID, autoID); err != nil {
		return err
	}
	if err := u.s.DeleteAutomation(r.Context(), p, autoID); err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The automation was not deleted: " + errs.PublicMessage(err))})
		redirect(w, r, automationPath(wsID, autoID))
		return nil
	}
	u.setFlash(w, flash{Kind: "success", Message: "The automation was deleted; the posts it made stay."})
	redirect(w, r, workspacePath(wsID)+"/automations")
	return nil
}
