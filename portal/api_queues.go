package portal

import (
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/errs"
)

type slotJSON struct {
	Weekday int    `json:"weekday"`
	Time    string `json:"time"`
}

type recyclingJSON struct {
	MinGap     string `json:"min_gap"`
	MaxRepeats int    `json:"max_repeats"`
}

type queueRequest struct {
	Name       string         `json:"name"`
	Zone       string         `json:"zone"`
	Slots      []slotJSON     `json:"slots"`
	AccountIDs []string       `json:"account_ids"`
	Recycling  *recyclingJSON `json:"recycling"`
}

func (r queueRequest) input() QueueInput {
	in := QueueInput{Name: r.Name, Zone: r.Zone, AccountIDs: r.AccountIDs}
	for _, s := range r.Slots {
		in.Slots = append(in.Slots, Slot{Weekday: s.Weekday, Time: s.Time})
	}
	if r.Recycling != nil {
		in.Recycling = &RecyclingInput{MinGap: r.Recycling.MinGap, MaxRepeats: r.Recycling.MaxRepeats}
	}
	return in
}

type queueJSON struct {
	ID               string         `json:"id"`
	WorkspaceID      string         `json:"workspace_id"`
	Name             string         `json:"name"`
	Zone             string         `json:"zone"`
	Slots            []slotJSON     `json:"slots"`
	AccountIDs       []string       `json:"account_ids"`
	Recycling        *recyclingJSON `json:"recycling"`
	Paused           bool           `json:"paused"`
	Held             bool           `json:"held"`
	PausedAccountIDs []string       `json:"paused_account_ids"`
	CreatedAt        string         `json:"created_at"`
	UpdatedAt        string         `json:"updated_at"`
	// Posts and NextSlots: GET /api/v1/queues/{id} only.
	Posts     []queuedPostJSON `json:"posts,omitempty"`
	NextSlots []slotTimeJSON   `json:"next_slots,omitempty"`
}

type queuedPostJSON struct {
	postJSON
	SlotAt    string `json:"slot_at"`
	SlotAtUTC string `json:"slot_at_utc"`
}

type slotTimeJSON struct {
	Local string `json:"local"`
	UTC   string `json:"utc"`
}

func queueView(q Queue) queueJSON {
	out := queueJSON{ID: q.ID, WorkspaceID: q.WorkspaceID, Name: q.Name, Zone: q.Zone, Slots: []slotJSON{}, AccountIDs: q.AccountIDs,
		Paused: q.Paused, Held: q.Held, PausedAccountIDs: q.PausedAccountIDs, CreatedAt: ts(q.CreatedAt), UpdatedAt: ts(q.UpdatedAt)}
	for _, s := range q.Slots {
		out.Slots = append(out.Slots, slotJSON{Weekday: s.Weekday, Time: s.Time})
	}
	if r := q.Recycling; r != nil {
		out.Recycling = &recyclingJSON{MinGap: r.MinGap.String(), MaxRepeats: r.MaxRepeats}
	}
	return out
}

func queueDetailView(d QueueDetail) queueJSON {
	out := queueView(d.Queue)
	out.Posts, out.NextSlots = []queuedPostJSON{}, []slotTimeJSON{}
	for _, p := range d.Posts {
		out.Posts = append(out.Posts, queuedPostJSON{postJSON: postView(p.Post), SlotAt: p.SlotLocal, SlotAtUTC: ts(p.SlotAt)})
	}
	for _, t := range d.NextSlots {
		out.NextSlots = append(out.NextSlots, slotTimeJSON{Local: formatWall(t), UTC: t.UTC().Format(time.RFC3339)})
	}
	return out
}

// POST /api/v1/workspaces/{id}/queues {name, zone, slots, account_ids, recycling} -> 201 queue
func (s *Service) apiCreateQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req queueRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	q, err := s.CreateQueue(r.Context(), p, r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, queueView(q))
}

// GET /api/v1/workspaces/{id}/queues?limit=N&cursor=C -> {queues, next_cursor},
// oldest first.
func (s *Service) apiListQueues(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageQueues(r.Context(), p, r.PathValue("id"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]queueJSON, 0, len(list))
	for _, q := range list {
		out = append(out, queueView(q))
	}
	return writePage(w, "queues", out, next)
}

// GET /api/v1/queues/{id}?limit=N -> queue with posts and next_slots
func (s *Service) apiGetQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errs.Fields{"limit": "must be a whole number from 1 to 1000"}.Err()
		}
		limit = n
	}
	d, err := s.GetQueue(r.Context(), p, r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, queueDetailView(d))
}

// PUT /api/v1/queues/{id} {name, zone, slots, account_ids, recycling} -> queue
func (s *Service) apiUpdateQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req queueRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	q, err := s.UpdateQueue(r.Context(), p, r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, queueView(q))
}

// DELETE /api/v1/queues/{id} -> {drafts}: its posts become drafts
func (s *Service) apiDeleteQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	n, err := s.DeleteQueue(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"drafts": n})
}

type pauseRequest struct {
	Paused *bool `json:"paused"`
}

func (r pauseRequest) check() error {
	if r.Paused == nil {
		return errs.Fields{"paused": "is required: true to pause, false to resume"}.Err()
	}
	return nil
}

// POST /api/v1/queues/{id}/pause {paused} -> queue
func (s *Service) apiPauseQueue(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req pauseRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	q, err := s.PauseQueue(r.Context(), p, r.PathValue("id"), *req.Paused)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, queueView(q))
}

// POST /api/v1/accounts/{id}/pause {paused} -> {queues}
func (s *Service) apiPauseAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req pauseRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	list, err := s.PauseAccount(r.Context(), p, r.PathValue("id"), *req.Paused)
	if err != nil {
		return err
	}
	out := make([]queueJSON, 0, len(list))
	for _, q := range list {
		out = append(out, queueView(q))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"queues": out})
}
