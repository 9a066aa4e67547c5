package portal

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestOverviewCountsWhatNeedsAttention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	ctx := context.Background()
	// Europe/Paris: two posts today (one later today, one tomorrow), one
	// waiting for approval, one failed, one account to reconnect.
	loc, _ := time.LoadLocation("Europe/Paris")
	now := time.Now().In(loc)
	endOfDay := time.Date(now.Year(), now.Month(), now.Day(), 23, 59, 0, 0, loc)
	later := now.Add(2 * time.Minute)
	if later.After(endOfDay) {
		t.Skip("too close to midnight in Paris for a post later today")
	}
	a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "today", "account_ids": []string{a.account}, "scheduled_at": later.Format("2006-01-02T15:04")}))
	a.createPost(t, "tomorrow")
	failed := a.createPost(t, "will fail")["id"].(string)
	if _, err := b.db.Exec(ctx, `UPDATE portal_posts SET status = ? WHERE id = ?`, PostFailed, failed); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(ctx, `UPDATE portal_accounts SET status = ? WHERE id = ?`, AccountNeedsReconnect, a.account); err != nil {
		t.Fatal(err)
	}
	a.setPolicy(t, PolicyInternal)
	a.createPost(t, "to approve")
	other.createPost(t, "theirs")

	res := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/overview", nil)).json(t)
	ws := res["workspaces"].([]any)
	if len(ws) != 1 {
		t.Fatalf("workspaces %v", ws)
	}
	got := ws[0].(map[string]any)
	if got["scheduled_today"] != float64(1) || got["awaiting_approval"] != float64(1) || got["failed"] != float64(1) || got["needs_reconnect"] != float64(1) {
		t.Fatalf("overview %v, want 1 today, 1 to approve, 1 failed, 1 to reconnect", got)
	}
	c := a.browser(t, b)
	wantText(t, c.must(http.StatusOK, c.get("/")).Body, "Today 1", "To approve 1", "Failed 1", "Reconnect 1")
}
