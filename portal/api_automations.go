package portal

import (
	"net/http"
	"strings"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

type automationRequest struct {
	Name       string   `json:"name"`
	FeedURL    string   `json:"feed_url"`
	Interval   string   `json:"interval"`
	Backfill   int      `json:"backfill"`
	Template   string   `json:"template"`
	AccountIDs []string `json:"account_ids"`
	Action     string   `json:"action"`
	QueueID    string   `json:"queue_id"`
	Evergreen  bool     `json:"evergreen"`
	// AttachImage attaches each item's image to its post.
	AttachImage bool `json:"attach_image"`
}

func (r automationRequest) input() AutomationInput {
	return AutomationInput{Name: r.Name, FeedURL: r.FeedURL, Interval: r.Interval, Backfill: r.Backfill, Template: r.Template,
		AccountIDs: r.AccountIDs, Action: r.Action, QueueID: r.QueueID, Evergreen: r.Evergreen,
		AttachImage: r.AttachImage}
}

type feedJSON struct {
	Health            string `json:"health"`
	LastError         string `json:"last_error,omitempty"`
	ConsecutiveErrors int32  `json:"consecutive_errors,omitempty"`
	LastPolledAt      string `json:"last_polled_at,omitempty"`
	NextPollAt        string `json:"next_poll_at,omitempty"`
	ItemsSeen         int64  `json:"items_seen"`
	ItemsEmitted      int64  `json:"items_emitted"`
}

type automationItemJSON struct {
	ItemKey   string `json:"item_key"`
	Title     string `json:"title"`
	Link      string `json:"link"`
	Outcome   string `json:"outcome"`
	PostID    string `json:"post_id,omitempty"`
	Error     string `json:"error,omitempty"`
	CreatedAt string `json:"created_at"`
}

type automationJSON struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	Name        string   `json:"name"`
	FeedURL     string   `json:"feed_url"`
	Interval    string   `json:"interval"`
	Template    string   `json:"template"`
	AccountIDs  []string `json:"account_ids"`
	Action      string   `json:"action"`
	QueueID     string   `json:"queue_id,omitempty"`
	Evergreen   bool     `json:"evergreen,omitempty"`
	AttachImage bool     `json:"attach_image"`
	Paused      bool     `json:"paused"`
	CreatedBy   string   `json:"created_by"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	// Feed and Items: GET /api/v1/automations/{id} only.
	Feed  *feedJSON            `json:"feed,omitempty"`
	Items []automationItemJSON `json:"items,omitempty"`
}

func feedHealth(h triggerv1.FeedHealth) string {
	return strings.ToLower(strings.TrimPrefix(h.String(), "FEED_HEALTH_"))
}

func automationView(a Automation) automationJSON {
	out := automationJSON{ID: a.ID, WorkspaceID: a.WorkspaceID, Name: a.Name, FeedURL: a.FeedURL, Interval: a.Interval.String(),
		Template: a.Template, AccountIDs: a.AccountIDs, Action: a.Action, QueueID: a.QueueID, Evergreen: a.Evergreen, AttachImage: a.AttachImage, Paused: a.Paused,
		CreatedBy: a.CreatedBy, CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}
	if f := a.Feed; f != nil {
		fj := &feedJSON{Health: feedHealth(f.GetHealth()), LastError: f.GetLastError(), ConsecutiveErrors: f.GetConsecutiveErrors(),
			ItemsSeen: f.GetItemsSeen(), ItemsEmitted: f.GetItemsEmitted()}
		if f.GetLastPolledAt() != nil {
			fj.LastPolledAt = ts(f.GetLastPolledAt().AsTime())
		}
		if f.GetNextPollAt() != nil {
			fj.NextPollAt = ts(f.GetNextPollAt().AsTime())
		}
		out.Feed = fj
	}
	if a.Items != nil {
		out.Items = []automationItemJSON{}
		for _, it := range a.Items {
			out.Items = append(out.Items, automationItemJSON{ItemKey: it.Key, Title: it.Title, Link: it.Link, Outcome: it.Outcome,
				PostID: it.PostID, Error: it.Error, CreatedAt: ts(it.CreatedAt)})
		}
	}
	return out
}

// POST /api/v1/workspaces/{id}/automations -> 201 automation
func (s *Service) apiCreateAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req automationRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	a, err := s.CreateAutomation(r.Context(), p, r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, automationView(a))
}

// GET /api/v1/workspaces/{id}/automations?limit=N&cursor=C -> {automations,
// next_cursor}, oldest first.
func (s *Service) apiListAutomations(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageAutomations(r.Context(), p, r.PathValue("id"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]automationJSON, 0, len(list))
	for _, a := range list {
		out = append(out, automationView(a))
	}
	return writePage(w, "automations", out, next)
}

// GET /api/v1/automations/{id} -> automation with feed and items
func (s *Service) apiGetAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := s.GetAutomation(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, automationView(a))
}

// PUT /api/v1/automations/{id} -> automation
func (s *Service) apiUpdateAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req automationRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	a, err := s.UpdateAutomation(r.Context(), p, r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, automationView(a))
}

// POST /api/v1/automations/{id}/pause {paused} -> automation
func (s *Service) apiPauseAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req pauseRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	a, err := s.PauseAutomation(r.Context(), p, r.PathValue("id"), *req.Paused)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, automationView(a))
}

// DELETE /api/v1/automations/{id} -> 204
func (s *Service) apiDeleteAutomation(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteAutomation(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
