package portal

import (
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/errs"
)

// GET /api/v1/notifications?limit=N&unread=true -> {notifications: [...], unread}
func (s *Service) apiListNotifications(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	var v errs.Fields
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			v.Add("limit", "must be a whole number from 1 to 200")
		}
		limit = n
	}
	unread := false
	if u := q.Get("unread"); u != "" {
		b, err := strconv.ParseBool(u)
		if err != nil {
			v.Add("unread", "must be true or false")
		}
		unread = b
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := s.ListNotifications(r.Context(), p, limit, unread)
	if err != nil {
		return err
	}
	out := make([]notificationJSON, 0, len(res.GetNotifications()))
	for _, n := range res.GetNotifications() {
		nj := notificationJSON{ID: n.GetNotificationId(), WorkspaceID: n.GetWorkspaceId(), Kind: n.GetKind(), Title: n.GetTitle(),
			Body: n.GetBody(), Link: n.GetLink()}
		if n.GetCreatedAt() != nil {
			nj.CreatedAt = ts(n.GetCreatedAt().AsTime())
		}
		if n.GetReadAt() != nil {
			nj.ReadAt = ts(n.GetReadAt().AsTime())
		}
		out = append(out, nj)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"notifications": out, "unread": res.GetUnread()})
}

type markReadRequest struct {
	IDs []string `json:"ids"`
}

// POST /api/v1/notifications/read {ids?} -> {marked}; no ids marks all.
func (s *Service) apiMarkRead(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req markReadRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	n, err := s.MarkNotificationsRead(r.Context(), p, req.IDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"marked": n})
}

// GET /api/v1/notifications/stream -> Notification's live stream (SSE) of
// the signed-in user's notifications.
func (s *Service) apiNotificationStream(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return s.ServeNotificationStream(w, r, p)
}
