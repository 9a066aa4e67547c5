package portal

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// Reports: what a workspace published, per account and network, over a
// period of days in the workspace's zone. Each publication counts once: a
// one-shot post's target, or one firing of a recurring or queued post's
// target (each firing is a publication of its own). Counted by when the
// outcome was recorded; posts deleted since are not counted.

// maxReportDays bounds a report's period.
const maxReportDays = 366

// Outcomes counts publications by how they ended.
type Outcomes struct {
	Published, Failed, Skipped int
}

func (o *Outcomes) add(status string, n int) {
	switch status {
	case TargetPublished:
		o.Published += n
	case TargetFailed:
		o.Failed += n
	case TargetSkipped:
		o.Skipped += n
	}
}

// ReportRow is one account's outcomes in a period.
type ReportRow struct {
	AccountID, Handle, DisplayName, Network string
	Outcomes
}

// NetworkTotal is one network's outcomes in a period.
type NetworkTotal struct {
	Network string
	Outcomes
}

// Report is a workspace's publications from From to To, both whole days in
// its zone (To included).
type Report struct {
	WorkspaceID, Zone string
	From, To          string // "2026-12-01"
	Accounts          []ReportRow
	Networks          []NetworkTotal
	Total             NetworkTotal
}

// Report returns a workspace's publications between two dates
// ("2026-12-01", inclusive, in the workspace's zone); empty dates mean the
// last 30 days up to today.
func (s *Service) Report(ctx context.Context, p *Principal, workspaceID, from, to string) (Report, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts)
	if err != nil {
		return Report{}, err
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return Report{}, fmt.Errorf("portal: workspace %s zone %q: %w", ws.ID, ws.Timezone, err)
	}
	start, end, err := reportPeriod(from, to, loc, time.Now())
	if err != nil {
		return Report{}, err
	}
	rep := Report{WorkspaceID: ws.ID, Zone: ws.Timezone, From: start.Format(time.DateOnly), To: end.AddDate(0, 0, -1).Format(time.DateOnly)}
	rows, err := s.db.Query(ctx, `
		SELECT t.account_id, t.network, t.status, COUNT(*) FROM portal_post_targets t
			JOIN portal_posts p ON p.agency_id = t.agency_id AND p.id = t.post_id
			WHERE t.agency_id = ? AND p.workspace_id = ? AND p.kind = ? AND t.status IN (?, ?, ?) AND t.updated_at >= ? AND t.updated_at < ?
			GROUP BY t.account_id, t.network, t.status
		UNION ALL
		SELECT f.account_id, f.network, f.status, COUNT(*) FROM portal_post_firings f
			JOIN portal_posts p ON p.agency_id = f.agency_id AND p.id = f.post_id
			WHERE f.agency_id = ? AND p.workspace_id = ? AND f.status IN (?, ?, ?) AND f.updated_at >= ? AND f.updated_at < ?
			GROUP BY f.account_id, f.network, f.status`,
		p.AgencyID, ws.ID, KindOnce, TargetPublished, TargetFailed, TargetSkipped, store.ToMicros(start), store.ToMicros(end),
		p.AgencyID, ws.ID, TargetPublished, TargetFailed, TargetSkipped, store.ToMicros(start), store.ToMicros(end))
	if err != nil {
		return Report{}, err
	}
	defer rows.Close()
	byAccount := map[string]*ReportRow{}
	byNetwork := map[string]*NetworkTotal{}
	for rows.Next() {
		var accountID, network, status string
		var n int
		if err := rows.Scan(&accountID, &network, &status, &n); err != nil {
			return Report{}, err
		}
		a := byAccount[accountID]
		if a == nil {
			a = &ReportRow{AccountID: accountID, Network: network}
			byAccount[accountID] = a
		}
		nt := byNetwork[network]
		if nt == nil {
			nt = &NetworkTotal{Network: network}
			byNetwork[network] = nt
		}
		a.add(status, n)
		nt.add(status, n)
		rep.Total.add(status, n)
	}
	if err := rows.Err(); err != nil {
		return Report{}, err
	}
	// Names of the accounts that still exist; a removed one keeps its id.
	names, err := s.db.Query(ctx, `SELECT id, handle, display_name FROM portal_accounts WHERE agency_id = ? AND workspace_id = ?`, p.AgencyID, ws.ID)
	if err != nil {
		return Report{}, err
	}
	defer names.Close()
	for names.Next() {
		var id, handle, display string
		if err := names.Scan(&id, &handle, &display); err != nil {
			return Report{}, err
		}
		if a := byAccount[id]; a != nil {
			a.Handle, a.DisplayName = handle, display
		}
	}
	if err := names.Err(); err != nil {
		return Report{}, err
	}
	for _, a := range byAccount {
		rep.Accounts = append(rep.Accounts, *a)
	}
	sort.Slice(rep.Accounts, func(i, j int) bool {
		x, y := rep.Accounts[i], rep.Accounts[j]
		if x.Network != y.Network {
			return x.Network < y.Network
		}
		return strings.ToLower(x.Handle)+x.AccountID < strings.ToLower(y.Handle)+y.AccountID
	})
	for _, nt := range byNetwork {
		rep.Networks = append(rep.Networks, *nt)
	}
	sort.Slice(rep.Networks, func(i, j int) bool { return rep.Networks[i].Network < rep.Networks[j].Network })
	return rep, nil
}

// reportPeriod turns two dates in loc into [start, end) instants: the
// first day's midnight and the midnight after the last day.
func reportPeriod(from, to string, loc *time.Location, now time.Time) (time.Time, time.Time, error) {
	var v errs.Fields
	parse := func(field, s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s), loc)
		if err != nil {
			v.Add(field, "must be a date such as 2026-12-01")
		}
		return d
	}
	today := now.In(loc)
	end := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	if to != "" {
		end = parse("to", to).AddDate(0, 0, 1)
	}
	start := end.AddDate(0, 0, -30)
	if from != "" {
		start = parse("from", from)
	}
	if err := v.Err(); err != nil {
		return time.Time{}, time.Time{}, err
	}
	switch {
	case !start.Before(end):
		v.Add("to", "must not be before from")
	case end.Sub(start) > maxReportDays*24*time.Hour+time.Hour: // an hour of slack for DST
		v.Add("from", "the period may be at most %d days", maxReportDays)
	}
	return start, end, v.Err()
}
