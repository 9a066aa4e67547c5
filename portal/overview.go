package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldhq/herald/store"
)

// The agency home: every workspace the principal may see, at a glance —
// what goes out today (in the workspace's own zone), what waits for
// approval, what failed and waits for someone, and which accounts must be
// reconnected. Counted by queries, not by listing posts, so a busy
// workspace costs the same as a quiet one.

// WorkspaceSummary is one workspace's counts.
type WorkspaceSummary struct {
	Workspace
	ScheduledToday   int
	AwaitingApproval int
	Failed           int
	NeedsReconnect   int
}

// Overview summarises the principal's workspaces at now.
func (s *Service) Overview(ctx context.Context, p *Principal, now time.Time) ([]WorkspaceSummary, error) {
	wss, err := s.ListWorkspaces(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceSummary, 0, len(wss))
	for _, ws := range wss {
		sum := WorkspaceSummary{Workspace: ws}
		loc, err := time.LoadLocation(ws.Timezone)
		if err != nil {
			loc = time.UTC
		}
		local := now.In(loc)
		start := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
		end := start.AddDate(0, 0, 1)
		if ws.Role.can(actReadPosts) {
			err := s.db.QueryRow(ctx, `SELECT
				COALESCE(SUM(CASE WHEN status = ? AND scheduled_at >= ? AND scheduled_at < ? THEN 1 ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN status IN (?, ?) THEN 1 ELSE 0 END), 0)
				FROM portal_posts WHERE agency_id = ? AND workspace_id = ?`,
				PostScheduled, store.ToMicros(start), store.ToMicros(end), PostPendingApproval, PostFailed, PostPartiallyFailed,
				p.AgencyID, ws.ID).Scan(&sum.ScheduledToday, &sum.AwaitingApproval, &sum.Failed)
			if err != nil {
				return nil, err
			}
		}
		if ws.Role.can(actAccounts) {
			if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_accounts WHERE agency_id = ? AND workspace_id = ? AND status = ?`,
				p.AgencyID, ws.ID, AccountNeedsReconnect).Scan(&sum.NeedsReconnect); err != nil {
				return nil, err
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

type overviewJSON struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Timezone         string `json:"timezone"`
	ScheduledToday   int    `json:"scheduled_today"`
	AwaitingApproval int    `json:"awaiting_approval"`
	Failed           int    `json:"failed"`
	NeedsReconnect   int    `json:"needs_reconnect"`
}

// GET /api/v1/overview -> {workspaces: [...], total}
func (s *Service) apiOverview(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.Overview(r.Context(), p, time.Now())
	if err != nil {
		return err
	}
	out := make([]overviewJSON, 0, len(list))
	var total overviewJSON
	for _, ws := range list {
		o := overviewJSON{ID: ws.ID, Name: ws.Name, Timezone: ws.Timezone, ScheduledToday: ws.ScheduledToday,
			AwaitingApproval: ws.AwaitingApproval, Failed: ws.Failed, NeedsReconnect: ws.NeedsReconnect}
		out = append(out, o)
		total.ScheduledToday += o.ScheduledToday
		total.AwaitingApproval += o.AwaitingApproval
		total.Failed += o.Failed
		total.NeedsReconnect += o.NeedsReconnect
	}
	return writeJSON(w, http.StatusOK, map[string]any{"workspaces": out, "total": map[string]int{
		"scheduled_today": total.ScheduledToday, "awaiting_approval": total.AwaitingApproval, "failed": total.Failed, "needs_reconnect": total.NeedsReconnect}})
}
