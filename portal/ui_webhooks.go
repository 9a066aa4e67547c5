package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// The webhook pages of a workspace: its endpoints with a form for a new
// one; an endpoint with its edit form, secret rotation, a test, delete,
// and its delivery log (dead letters with a re-send button); and one
// delivery with its attempts. Managers and owners only, like the API.

func (u *webUI) webhookRoutes(mux *routeMux, form int64) {
	const base = "/workspaces/{id}/webhooks"
	mux.Handle("GET "+base, u.signedIn(form, u.webhooks))
	mux.Handle("POST "+base, u.signedIn(form, u.createWebhook))
	mux.Handle("GET "+base+"/{endpoint}", u.signedIn(form, u.webhook))
	mux.Handle("POST "+base+"/{endpoint}", u.signedIn(form, u.updateWebhook))
	mux.Handle("POST "+base+"/{endpoint}/delete", u.signedIn(form, u.deleteWebhook))
	mux.Handle("POST "+base+"/{endpoint}/rotate", u.signedIn(form, u.rotateWebhook))
	mux.Handle("POST "+base+"/{endpoint}/test", u.signedIn(form, u.testWebhook))
	mux.Handle("GET "+base+"/{endpoint}/deliveries/{delivery}", u.signedIn(form, u.webhookDelivery))
	mux.Handle("POST "+base+"/{endpoint}/deliveries/{delivery}/redeliver", u.signedIn(form, u.redeliverWebhook))
}

// webhookTopics are the events an endpoint can choose, as the form offers
// them.
var webhookTopics = []struct{ Value, Label string }{
	{bus.TopicPostPublished, "Post published"},
	{bus.TopicPostFailed, "Post failed"},
	{bus.TopicAccountNeedsReconnect, "Account needs reconnecting"},
	{bus.TopicCredentialExpiring, "Account credentials expiring"},
	{bus.TopicApprovalRequested, "Approval requested"},
	{bus.TopicApprovalDecided, "Approval decided"},
	{bus.TopicApprovalCommented, "Approval comment"},
	{bus.TopicFeedItem, "New feed item"},
	{bus.TopicFeedDraftsCreated, "Drafts created from a feed"},
	{bus.TopicQueueRunningEmpty, "Queue running empty"},
}

var webhookInputs = []string{"kind", "url", "description", "topics"}

func webhookPath(wsID, epID string) string {
	return workspacePath(wsID) + "/webhooks/" + url.PathEscape(epID)
}

type topicChoice struct {
	Value, Label string
	Checked      bool
}

type webhookFormView struct {
	Action, Submit, CSRF string
	Form                 *form
	New                  bool
	All                  bool
	Enabled              bool
	Topics               []topicChoice
}

func newWebhookFormView(p *Principal, f *form, action, submit string, isNew bool) webhookFormView {
	v := webhookFormView{Action: action, Submit: submit, CSRF: p.CSRFToken, Form: f, New: isNew}
	chosen := f.Values["topics"]
	v.All = hasValue(chosen, "*") || f.Get("all") != ""
	v.Enabled = f.Get("enabled") != ""
	for _, t := range webhookTopics {
		v.Topics = append(v.Topics, topicChoice{Value: t.Value, Label: t.Label, Checked: hasValue(chosen, t.Value)})
	}
	return v
}

// webhookForm is a form filled from an endpoint.
func webhookForm(e *notificationv1.Endpoint) *form {
	return &form{Values: url.Values{"kind": {e.GetKind()}, "url": {e.GetUrl()}, "description": {e.GetDescription()},
		"topics": e.GetTopics(), "enabled": {enabledValue(e.GetEnabled())}}, Errors: map[string]string{}}
}

func enabledValue(on bool) string {
	if on {
		return "on"
	}
	return ""
}

// formWebhook reads the endpoint form: "all events" wins over single ones.
func formWebhook(r *http.Request) WebhookInput {
	in := WebhookInput{Kind: r.PostFormValue("kind")}
	u, d := strings.TrimSpace(r.PostFormValue("url")), r.PostFormValue("description")
	in.URL, in.Description = &u, &d
	in.Topics = []string{}
	if r.PostFormValue("all") != "" {
		in.Topics = []string{"*"}
	} else {
		for _, t := range r.PostForm["topics"] {
			if t != "*" {
				in.Topics = append(in.Topics, t)
			}
		}
	}
	return in
}

type webhookRow struct {
	E            *notificationv1.Endpoint
	Topics       string
	FailingSince time.Time
}

func webhookRowOf(e *notificationv1.Endpoint) webhookRow {
	r := webhookRow{E: e, Topics: strings.Join(e.GetTopics(), ", ")}
	if hasValue(e.GetTopics(), "*") {
		r.Topics = "all events"
	}
	if e.GetFailingSince() != nil {
		r.FailingSince = e.GetFailingSince().AsTime()
	}
	return r
}

type webhooksView struct {
	chrome
	WS        Workspace
	Endpoints []webhookRow
	Error     string
	Form      webhookFormView
}

func (u *webUI) webhooksPage(w http.ResponseWriter, r *http.Request, p *Principal, wsID string, f *form, status int) error {
	ctx := r.Context()
	ws, err := u.s.webhookWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	v := webhooksView{WS: ws}
	eps, err := u.s.ListWebhooks(ctx, p, ws.ID)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		v.Error = sentence(errs.PublicMessage(err))
	}
	for _, e := range eps {
		v.Endpoints = append(v.Endpoints, webhookRowOf(e))
	}
	if f == nil {
		f = &form{Values: url.Values{"kind": {"webhook"}, "topics": {"*"}}, Errors: map[string]string{}}
	}
	v.Form = newWebhookFormView(p, f, workspacePath(ws.ID)+"/webhooks", "Add endpoint", true)
	v.chrome = u.chrome(w, r, p, "Webhooks · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "webhooks", v)
	return nil
}

// GET /workspaces/{id}/webhooks
func (u *webUI) webhooks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.webhooksPage(w, r, p, r.PathValue("id"), nil, http.StatusOK)
}

// POST /workspaces/{id}/webhooks. The new endpoint's page is shown at once
// (not redirected to) because it carries the secret, which is shown once.
func (u *webUI) createWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID := r.PathValue("id")
	e, secret, err := u.s.CreateWebhook(r.Context(), p, wsID, formWebhook(r))
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, webhookInputs...); err != nil {
			return err
		}
		return u.webhooksPage(w, r, p, wsID, f, refusedStatus(w, err))
	}
	return u.webhookPage(w, r, p, wsID, e.GetEndpointId(), nil, secret, http.StatusCreated)
}

type deliveryRow struct {
	D       *notificationv1.Delivery
	Created time.Time
}

type webhookView struct {
	chrome
	WS         Workspace
	E          webhookRow
	Secret     string
	Form       webhookFormView
	Deliveries []deliveryRow
	DeadOnly   bool
	NextCursor string
	LogError   string
}

func (u *webUI) webhookPage(w http.ResponseWriter, r *http.Request, p *Principal, wsID, epID string, f *form, secret string, status int) error {
	ctx := r.Context()
	ws, err := u.s.webhookWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	eps, err := u.s.ListWebhooks(ctx, p, ws.ID)
	if err != nil {
		return err
	}
	var ep *notificationv1.Endpoint
	for _, e := range eps {
		if e.GetEndpointId() == epID {
			ep = e
		}
	}
	if ep == nil {
		return errs.E(errs.NotFound, "webhook endpoint not found")
	}
	q := r.URL.Query()
	v := webhookView{WS: ws, E: webhookRowOf(ep), Secret: secret, DeadOnly: q.Get("dead") != ""}
	if f == nil {
		f = webhookForm(ep)
	}
	v.Form = newWebhookFormView(p, f, webhookPath(ws.ID, ep.GetEndpointId()), "Save endpoint", false)
	res, err := u.s.ListWebhookDeliveries(ctx, p, ws.ID, ep.GetEndpointId(), v.DeadOnly, 50, q.Get("cursor"))
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		v.LogError = sentence(errs.PublicMessage(err))
	}
	for _, d := range res.GetDeliveries() {
		v.Deliveries = append(v.Deliveries, deliveryRow{D: d, Created: d.GetCreatedAt().AsTime()})
	}
	v.NextCursor = res.GetNextCursor()
	v.chrome = u.chrome(w, r, p, "Webhook · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "webhooks_endpoint", v)
	return nil
}

// GET /workspaces/{id}/webhooks/{endpoint}?dead=1&cursor=C
func (u *webUI) webhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.webhookPage(w, r, p, r.PathValue("id"), r.PathValue("endpoint"), nil, "", http.StatusOK)
}

// POST /workspaces/{id}/webhooks/{endpoint}
func (u *webUI) updateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, epID := r.PathValue("id"), r.PathValue("endpoint")
	in := formWebhook(r)
	in.Kind = ""
	enabled := r.PostFormValue("enabled") != ""
	in.Enabled = &enabled
	if _, err := u.s.UpdateWebhook(r.Context(), p, wsID, epID, in); err != nil {
		f := newForm(r)
		if err := f.fail(err, webhookInputs...); err != nil {
			return err
		}
		return u.webhookPage(w, r, p, wsID, epID, f, "", refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Endpoint saved."})
	redirect(w, r, webhookPath(wsID, epID))
	return nil
}

// POST /workspaces/{id}/webhooks/{endpoint}/delete
func (u *webUI) deleteWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID := r.PathValue("id")
	if err := u.s.DeleteWebhook(r.Context(), p, wsID, r.PathValue("endpoint")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Endpoint deleted with its delivery log."})
	redirect(w, r, workspacePath(wsID)+"/webhooks")
	return nil
}

// POST /workspaces/{id}/webhooks/{endpoint}/rotate shows the new secret on
// the endpoint's page, once.
func (u *webUI) rotateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, epID := r.PathValue("id"), r.PathValue("endpoint")
	_, secret, err := u.s.RotateWebhookSecret(r.Context(), p, wsID, epID)
	if err != nil {
		return err
	}
	return u.webhookPage(w, r, p, wsID, epID, nil, secret, http.StatusOK)
}

// POST /workspaces/{id}/webhooks/{endpoint}/test
func (u *webUI) testWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, epID := r.PathValue("id"), r.PathValue("endpoint")
	res, err := u.s.TestWebhook(r.Context(), p, wsID, epID)
	switch {
	case errs.Is(err, errs.Invalid):
		u.setFlash(w, flash{Kind: "error", Message: sentence(errs.PublicMessage(err))})
	case err != nil:
		return err
	case res.GetDelivery().GetStatus() == "delivered":
		u.setFlash(w, flash{Kind: "success", Message: "Test delivered: the endpoint answered " + statusText(res.GetAttempt().GetStatusCode()) + "."})
	default:
		u.setFlash(w, flash{Kind: "error", Message: "Test failed: " + sentence(res.GetAttempt().GetError())})
	}
	redirect(w, r, webhookPath(wsID, epID))
	return nil
}

func statusText(code int32) string {
	return strings.TrimSpace(strconv.Itoa(int(code)) + " " + http.StatusText(int(code)))
}

type attemptRow struct {
	A  *notificationv1.Attempt
	At time.Time
}

type webhookDeliveryView struct {
	chrome
	WS       Workspace
	EPID     string
	D        *notificationv1.Delivery
	Created  time.Time
	Attempts []attemptRow
	Payload  string
}

// GET /workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}
func (u *webUI) webhookDelivery(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	wsID, epID := r.PathValue("id"), r.PathValue("endpoint")
	ws, err := u.s.webhookWorkspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	res, err := u.s.GetWebhookDelivery(ctx, p, wsID, epID, r.PathValue("delivery"))
	if err != nil {
		return err
	}
	v := webhookDeliveryView{WS: ws, EPID: epID, D: res.GetDelivery(), Created: res.GetDelivery().GetCreatedAt().AsTime(), Payload: res.GetPayload()}
	for _, a := range res.GetAttempts() {
		v.Attempts = append(v.Attempts, attemptRow{A: a, At: a.GetAttemptedAt().AsTime()})
	}
	v.chrome = u.chrome(w, r, p, "Delivery · "+ws.Name, "workspace")
	v.Current = ws.ID
	u.render(w, r, http.StatusOK, "webhooks_delivery", v)
	return nil
}

// POST /workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}/redeliver
func (u *webUI) redeliverWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wsID, epID := r.PathValue("id"), r.PathValue("endpoint")
	if _, err := u.s.RedeliverWebhook(r.Context(), p, wsID, epID, r.PathValue("delivery")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "Re-sent: a new attempt is on its way."})
	back := webhookPath(wsID, epID)
	if r.PostFormValue("dead") != "" {
		back += "?dead=1"
	}
	redirect(w, r, back)
	return nil
}
