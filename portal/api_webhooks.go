package portal

import (
	"net/http"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// webhookRoutes mounts the webhook API of a workspace.
func (s *Service) webhookRoutes(mux *routeMux, json int64) {
	const base = "/api/v1/workspaces/{id}/webhooks"
	mux.Handle("GET "+base, s.authed(json, s.apiListWebhooks))
	mux.Handle("POST "+base, s.authed(json, s.apiCreateWebhook))
	mux.Handle("PATCH "+base+"/{endpoint}", s.authed(json, s.apiUpdateWebhook))
	mux.Handle("DELETE "+base+"/{endpoint}", s.authed(json, s.apiDeleteWebhook))
	mux.Handle("POST "+base+"/{endpoint}/rotate", s.authed(json, s.apiRotateWebhook))
	mux.Handle("POST "+base+"/{endpoint}/test", s.authed(json, s.apiTestWebhook))
	mux.Handle("GET "+base+"/{endpoint}/deliveries", s.authed(json, s.apiListWebhookDeliveries))
	mux.Handle("GET "+base+"/{endpoint}/deliveries/{delivery}", s.authed(json, s.apiGetWebhookDelivery))
	mux.Handle("POST "+base+"/{endpoint}/deliveries/{delivery}/redeliver", s.authed(json, s.apiRedeliverWebhook))
}

type webhookJSON struct {
	ID                  string   `json:"id"`
	WorkspaceID         string   `json:"workspace_id"`
	Kind                string   `json:"kind"`
	URL                 string   `json:"url"`
	Description         string   `json:"description"`
	Topics              []string `json:"topics"`
	Enabled             bool     `json:"enabled"`
	DisabledReason      string   `json:"disabled_reason,omitempty"`
	FailingSince        string   `json:"failing_since,omitempty"`
	PreviousSecretUntil string   `json:"previous_secret_until,omitempty"`
	CreatedAt           string   `json:"created_at"`
	UpdatedAt           string   `json:"updated_at"`
	// Secret: only in the answers to create and rotate.
	Secret string `json:"secret,omitempty"`
}

func pbTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return ts(t.AsTime())
}

func webhookOut(e *notificationv1.Endpoint, secret string) webhookJSON {
	return webhookJSON{ID: e.GetEndpointId(), WorkspaceID: e.GetWorkspaceId(), Kind: e.GetKind(), URL: e.GetUrl(),
		Description: e.GetDescription(), Topics: append([]string{}, e.GetTopics()...), Enabled: e.GetEnabled(),
		DisabledReason: e.GetDisabledReason(), FailingSince: pbTime(e.GetFailingSince()),
		PreviousSecretUntil: pbTime(e.GetPreviousSecretUntil()), CreatedAt: pbTime(e.GetCreatedAt()),
		UpdatedAt: pbTime(e.GetUpdatedAt()), Secret: secret}
}

type deliveryJSON struct {
	ID             string `json:"id"`
	EndpointID     string `json:"endpoint_id"`
	EventID        string `json:"event_id"`
	Topic          string `json:"topic"`
	Status         string `json:"status"`
	Attempts       int32  `json:"attempts"`
	CreatedAt      string `json:"created_at"`
	NextTryAt      string `json:"next_try_at,omitempty"`
	DeliveredAt    string `json:"delivered_at,omitempty"`
	LastStatusCode int32  `json:"last_status_code"`
	LastLatencyMs  int64  `json:"last_latency_ms"`
	LastError      string `json:"last_error,omitempty"`
}

func deliveryOut(d *notificationv1.Delivery) deliveryJSON {
	return deliveryJSON{ID: d.GetDeliveryId(), EndpointID: d.GetEndpointId(), EventID: d.GetEventId(), Topic: d.GetTopic(),
		Status: d.GetStatus(), Attempts: d.GetAttempts(), CreatedAt: pbTime(d.GetCreatedAt()), NextTryAt: pbTime(d.GetNextTryAt()),
		DeliveredAt: pbTime(d.GetDeliveredAt()), LastStatusCode: d.GetLastStatusCode(), LastLatencyMs: d.GetLastLatencyMs(),
		LastError: d.GetLastError()}
}

type attemptJSON struct {
	AttemptedAt string `json:"attempted_at"`
	StatusCode  int32  `json:"status_code"`
	LatencyMs   int64  `json:"latency_ms"`
	Response    string `json:"response"`
	Error       string `json:"error,omitempty"`
}

func attemptOut(a *notificationv1.Attempt) attemptJSON {
	return attemptJSON{AttemptedAt: pbTime(a.GetAttemptedAt()), StatusCode: a.GetStatusCode(), LatencyMs: a.GetLatencyMs(),
		Response: a.GetResponse(), Error: a.GetError()}
}

type webhookRequest struct {
	Kind        string    `json:"kind"`
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Topics      *[]string `json:"topics"`
	Enabled     *bool     `json:"enabled"`
}

func (r webhookRequest) input() WebhookInput {
	in := WebhookInput{Kind: r.Kind, URL: r.URL, Description: r.Description, Enabled: r.Enabled}
	if r.Topics != nil {
		in.Topics = append([]string{}, *r.Topics...)
	}
	return in
}

// GET /api/v1/workspaces/{id}/webhooks?limit=N&cursor=C -> {webhooks: [...],
// next_cursor}, oldest first.
func (s *Service) apiListWebhooks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	eps, next, err := s.PageWebhooks(r.Context(), p, r.PathValue("id"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(eps))
	for _, e := range eps {
		out = append(out, webhookOut(e, ""))
	}
	return writePage(w, "webhooks", out, next)
}

// POST /api/v1/workspaces/{id}/webhooks {kind, url, description, topics} -> 201 webhook with its secret
func (s *Service) apiCreateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req webhookRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Enabled != nil {
		return errs.Fields{"enabled": "a new endpoint is always enabled; leave this out"}.Err()
	}
	e, secret, err := s.CreateWebhook(r.Context(), p, r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, webhookOut(e, secret))
}

// PATCH /api/v1/workspaces/{id}/webhooks/{endpoint} {url?, description?, topics?, enabled?} -> webhook
func (s *Service) apiUpdateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req webhookRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Kind != "" {
		return errs.Fields{"kind": "cannot be changed: create another endpoint"}.Err()
	}
	e, err := s.UpdateWebhook(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookOut(e, ""))
}

// DELETE /api/v1/workspaces/{id}/webhooks/{endpoint} -> 204
func (s *Service) apiDeleteWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteWebhook(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /api/v1/workspaces/{id}/webhooks/{endpoint}/rotate -> webhook with its new secret
func (s *Service) apiRotateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, secret, err := s.RotateWebhookSecret(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookOut(e, secret))
}

// POST /api/v1/workspaces/{id}/webhooks/{endpoint}/test -> {delivery, attempt}
func (s *Service) apiTestWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := s.TestWebhook(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	out := map[string]any{"delivery": deliveryOut(res.GetDelivery())}
	if a := res.GetAttempt(); a != nil {
		out["attempt"] = attemptOut(a)
	}
	return writeJSON(w, http.StatusOK, out)
}

// GET /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries?dead=true&limit=N&cursor=C
// -> {deliveries: [...], next_cursor}
func (s *Service) apiListWebhookDeliveries(w http.ResponseWriter, r *http.Request, p *Principal) error {
	dead := false
	if d := r.URL.Query().Get("dead"); d != "" {
		b, err := strconv.ParseBool(d)
		if err != nil {
			return errs.Fields{"dead": "must be true or false"}.Err()
		}
		dead = b
	}
	pr := pageParams(r)
	res, err := s.ListWebhookDeliveries(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"), dead, pr.Limit, pr.Cursor)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(res.GetDeliveries()))
	for _, d := range res.GetDeliveries() {
		out = append(out, deliveryOut(d))
	}
	return writePage(w, "deliveries", out, res.GetNextCursor())
}

// GET /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery} -> delivery with attempts and payload
func (s *Service) apiGetWebhookDelivery(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := s.GetWebhookDelivery(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("delivery"))
	if err != nil {
		return err
	}
	attempts := make([]attemptJSON, 0, len(res.GetAttempts()))
	for _, a := range res.GetAttempts() {
		attempts = append(attempts, attemptOut(a))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"delivery": deliveryOut(res.GetDelivery()), "attempts": attempts, "payload": res.GetPayload()})
}

// POST /api/v1/workspaces/{id}/webhooks/{endpoint}/deliveries/{delivery}/redeliver -> 202 delivery
func (s *Service) apiRedeliverWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d, err := s.RedeliverWebhook(r.Context(), p, r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("delivery"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, deliveryOut(d))
}
