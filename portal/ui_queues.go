package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// The queue pages: the workspace's queues with a form for a new one, and a
// queue with its posts in order, its next free slots, pause and resume (of
// the queue and of its accounts), its edit form and delete.

var isoDays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

type queueDay struct {
	Weekday int
	Label   string
	Value   string
}

type queueFormView struct {
	Action, Submit, CSRF string
	Form                 *form
	Zones                []zoneGroup
	DefaultZone          string
	Days                 []queueDay
	Accounts             []Account
}

func (u *webUI) queueFormView(p *Principal, ws Workspace, f *form, accounts []Account, action, submit string) queueFormView {
	v := queueFormView{Action: action, Submit: submit, CSRF: p.CSRFToken, Form: f, Zones: u.zones, DefaultZone: ws.Timezone, Accounts: accounts}
	for i, d := range isoDays {
		v.Days = append(v.Days, queueDay{Weekday: i + 1, Label: d, Value: f.Get("slots_" + strconv.Itoa(i+1))})
	}
	return v
}

// queueForm is a fresh form filled from a queue.
func queueForm(q Queue) *form {
	v := url.Values{"name": {q.Name}, "zone": {q.Zone}, "account_ids": q.AccountIDs}
	byDay := map[int][]string{}
	for _, s := range q.Slots {
		byDay[s.Weekday] = append(byDay[s.Weekday], s.Time)
	}
	for d, ts := range byDay {
		v.Set("slots_"+strconv.Itoa(d), strings.Join(ts, ", "))
	}
	if r := q.Recycling; r != nil {
		v.Set("recycle", "on")
		v.Set("min_gap_days", strconv.FormatFloat(r.MinGap.Hours()/24, 'f', -1, 64))
		v.Set("max_repeats", strconv.Itoa(r.MaxRepeats))
	}
	return &form{Values: v, Errors: map[string]string{}}
}

// formQueue reads a queue form; problems only the form can have are added
// to v.
func formQueue(r *http.Request, v *errs.Fields) QueueInput {
	in := QueueInput{Name: r.PostFormValue("name"), Zone: r.PostFormValue("zone"), AccountIDs: r.PostForm["account_ids"]}
	for d := 1; d <= 7; d++ {
		for _, t := range strings.FieldsFunc(r.PostFormValue("slots_"+strconv.Itoa(d)), func(r rune) bool { return r == ',' || r == ' ' }) {
			in.Slots = append(in.Slots, Slot{Weekday: d, Time: t})
		}
	}
	if r.PostFormValue("recycle") != "" {
		days, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("min_gap_days")), 64)
		if strings.TrimSpace(r.PostFormValue("min_gap_days")) == "" {
			days, err = 0, nil
		}
		if err != nil || days < 0 {
			v.Add("min_gap_days", "Give a number of days, 0 or more.")
		}
		n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_repeats")))
		if err != nil {
			v.Add("max_repeats", "Give how many times a post may repeat, from 1 to 1000.")
		}
		in.Recycling = &RecyclingInput{MinGap: (time.Duration(days * float64(24*time.Hour))).String(), MaxRepeats: n}
	}
	return in
}

// queueFormFields maps the domain's queue fields to the form's inputs.
var queueFormFields = map[string]string{"recycling.min_gap": "min_gap_days", "recycling.max_repeats": "max_repeats"}

var queueInputs = []string{"name", "zone", "slots", "account_ids", "min_gap_days", "max_repeats"}

type queuesView struct {
	chrome
	WS        Workspace
	Queues    []Queue
	Error     string
	CanWrite  bool
	QueueForm queueFormView
}

func (u *webUI) queuesPage(w http.ResponseWriter, r *http.Request, p *Principal, wsID string, f *form, status int) error {
	ctx := r.Context()
	ws, err := u.s.GetWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := queuesView{WS: ws, CanWrite: ws.Role.can(actWritePosts)}
	if v.Queues, err = u.s.ListQueues(ctx, p, ws.ID); err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		v.Error = sentence(errs.PublicMessage(err))
	}
	if v.CanWrite {
		accounts, err := u.s.ListAccounts(ctx, p, ws.ID)
		if err != nil {
			return err
		}
		if f == nil {
			f = &form{Values: url.Values{}, Errors: map[string]string{}}
		}
		v.QueueForm = u.queueFormView(p, ws, f, accounts, "/workspaces/"+url.PathEscape(ws.ID)+"/queues", "Create queue")
	}
	v.chrome = u.chrome(w, r, p, "Queues · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "queues", v)
	return nil
}

// GET /workspaces/{id}/queues
func (u *webUI) queues(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.queuesPage(w, r, p, r.PathValue("id"), nil, http.StatusOK)
}

// POST /workspaces/{id}/queues
func (u *webUI) createQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	var formErrs errs.Fields
	in := formQueue(r, &formErrs)
	err := formErrs.Err()
	var q Queue
	if err == nil {
		q, err = u.s.CreateQueue(r.Context(), p, id, in)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(renameFields(err, queueFormFields), queueInputs...); err != nil {
			return err
		}
		return u.queuesPage(w, r, p, id, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Queue “" + q.Name + "” created. Add posts to it from the composer."})
	redirect(w, r, queuePath(id, q.ID))
	return nil
}

func queuePath(wsID, queueID string) string {
	return workspacePath(wsID) + "/queues/" + url.PathEscape(queueID)
}

type queueAccount struct {
	Account Account
	Paused  bool
}

type queuePageView struct {
	chrome
	WS        Workspace
	Q         QueueDetail
	NextSlots []time.Time
	Accounts  []queueAccount
	CanWrite  bool
	QueueForm queueFormView
}

func (u *webUI) queuePage(w http.ResponseWriter, r *http.Request, p *Principal, wsID, queueID string, f *form, status int) error {
	ctx := r.Context()
	d, err := u.s.GetQueue(ctx, p, queueID, 0)
	if err != nil {
		return err
	}
	if d.WorkspaceID != wsID {
		return errs.E(errs.NotFound, "queue not found")
	}
	ws, err := u.s.GetWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := queuePageView{WS: ws, Q: d, NextSlots: d.NextSlots, CanWrite: ws.Role.can(actWritePosts)}
	var accounts []Account
	if ws.Role.can(actViewAccounts) {
		if accounts, err = u.s.ListAccounts(ctx, p, ws.ID); err != nil {
			return err
		}
	}
	paused := map[string]bool{}
	for _, a := range d.PausedAccountIDs {
		paused[a] = true
	}
	for _, a := range accounts {
		if hasValue(d.AccountIDs, a.ID) {
			v.Accounts = append(v.Accounts, queueAccount{Account: a, Paused: paused[a.ID]})
		}
	}
	if v.CanWrite {
		if f == nil {
			f = queueForm(d.Queue)
		}
		v.QueueForm = u.queueFormView(p, ws, f, accounts, queuePath(ws.ID, d.ID), "Save queue")
	}
	v.chrome = u.chrome(w, r, p, d.Name+" · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "queue", v)
	return nil
}

// GET /workspaces/{id}/queues/{queue}
func (u *webUI) queue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.queuePage(w, r, p, r.PathValue("id"), r.PathValue("queue"), nil, http.StatusOK)
}

// POST /workspaces/{id}/queues/{queue}
func (u *webUI) updateQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, queueID := r.PathValue("id"), r.PathValue("queue")
	if err := u.queueInWorkspace(r, p, wsID, queueID); err != nil {
		return err
	}
	var formErrs errs.Fields
	in := formQueue(r, &formErrs)
	err := formErrs.Err()
	if err == nil {
		_, err = u.s.UpdateQueue(r.Context(), p, queueID, in)
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(renameFields(err, queueFormFields), queueInputs...); err != nil {
			return err
		}
		return u.queuePage(w, r, p, wsID, queueID, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Queue saved. Its posts keep their order on the new slots."})
	redirect(w, r, queuePath(wsID, queueID))
	return nil
}

// queueInWorkspace refuses a queue reached under another workspace's path.
func (u *webUI) queueInWorkspace(r *http.Request, p *Principal, wsID, queueID string) error {
	d, err := u.s.GetQueue(r.Context(), p, queueID, 1)
	if err != nil {
		return err
	}
	if d.WorkspaceID != wsID {
		return errs.E(errs.NotFound, "queue not found")
	}
	return nil
}

// POST /workspaces/{id}/queues/{queue}/pause
func (u *webUI) pauseQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, queueID := r.PathValue("id"), r.PathValue("queue")
	if err := u.queueInWorkspace(r, p, wsID, queueID); err != nil {
		return err
	}
	paused := r.PostFormValue("paused") == "true"
	q, err := u.s.PauseQueue(r.Context(), p, queueID, paused)
	switch {
	case errs.KindOf(err) == errs.Internal:
		return err
	case err != nil:
		u.setFlash(w, flash{Kind: "error", Message: sentence("The queue was not changed: " + errs.PublicMessage(err))})
	case paused:
		u.setFlash(w, flash{Kind: "success", Message: "Queue “" + q.Name + "” paused: its posts keep their order and do not go out."})
	default:
		u.setFlash(w, flash{Kind: "success", Message: "Queue “" + q.Name + "” resumed: its posts take the next free slots."})
	}
	redirect(w, r, queuePath(wsID, queueID))
	return nil
}

// POST /workspaces/{id}/queues/{queue}/delete
func (u *webUI) deleteQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, queueID := r.PathValue("id"), r.PathValue("queue")
	if err := u.queueInWorkspace(r, p, wsID, queueID); err != nil {
		return err
	}
	n, err := u.s.DeleteQueue(r.Context(), p, queueID)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The queue was not deleted: " + errs.PublicMessage(err))})
		redirect(w, r, queuePath(wsID, queueID))
		return nil
	}
	msg := "The queue was deleted."
	if n > 0 {
		msg = "The queue was deleted; its " + strconv.Itoa(n) + " post(s) are kept as drafts."
	}
	u.setFlash(w, flash{Kind: "success", Message: msg})
	redirect(w, r, workspacePath(wsID)+"/queues")
	return nil
}

// POST /workspaces/{id}/accounts/{account}/pause
func (u *webUI) pauseAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID := r.PathValue("id")
	a, err := u.s.GetAccount(r.Context(), p, r.PathValue("account"))
	if err != nil {
		return err
	}
	if a.WorkspaceID != wsID {
		return errs.E(errs.NotFound, "account not found")
	}
	paused := r.PostFormValue("paused") == "true"
	if _, err := u.s.PauseAccount(r.Context(), p, a.ID, paused); err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The account was not changed: " + errs.PublicMessage(err))})
	} else if paused {
		u.setFlash(w, flash{Kind: "success", Message: accountName(a) + " is paused: queues posting to it are held."})
	} else {
		u.setFlash(w, flash{Kind: "success", Message: accountName(a) + " is resumed."})
	}
	back := safeNext(r.PostFormValue("back"))
	if back == "/" {
		back = workspacePath(wsID) + "/queues"
	}
	redirect(w, r, back)
	return nil
}
