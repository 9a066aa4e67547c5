package portal

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
)

type reportRowJSON struct {
	AccountID   string `json:"account_id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	Network     string `json:"network"`
	Published   int    `json:"published"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
}

type networkTotalJSON struct {
	Network   string `json:"network,omitempty"`
	Published int    `json:"published"`
	Failed    int    `json:"failed"`
	Skipped   int    `json:"skipped"`
}

func totalJSON(t NetworkTotal) networkTotalJSON {
	return networkTotalJSON{Network: t.Network, Published: t.Published, Failed: t.Failed, Skipped: t.Skipped}
}

// GET /api/v1/workspaces/{id}/reports?from=2026-11-01&to=2026-11-30[&format=csv]
// -> {from, to, zone, accounts: [...], networks: [...], total}, or the
// accounts as CSV.
func (s *Service) apiReport(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	rep, err := s.Report(r.Context(), p, r.PathValue("id"), q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	switch q.Get("format") {
	case "", "json":
	case "csv":
		return writeReportCSV(w, rep)
	default:
		return badRequest("format", "must be json or csv")
	}
	out := map[string]any{"workspace_id": rep.WorkspaceID, "zone": rep.Zone, "from": rep.From, "to": rep.To, "total": totalJSON(rep.Total)}
	accounts := make([]reportRowJSON, 0, len(rep.Accounts))
	for _, a := range rep.Accounts {
		accounts = append(accounts, reportRowJSON{AccountID: a.AccountID, Handle: a.Handle, DisplayName: a.DisplayName, Network: a.Network,
			Published: a.Published, Failed: a.Failed, Skipped: a.Skipped})
	}
	networks := make([]networkTotalJSON, 0, len(rep.Networks))
	for _, n := range rep.Networks {
		networks = append(networks, totalJSON(n))
	}
	out["accounts"], out["networks"] = accounts, networks
	return writeJSON(w, http.StatusOK, out)
}

// writeReportCSV writes a report's accounts, one row each, and a total.
// Cells a spreadsheet would run as a formula are quoted with a leading
// apostrophe (an account's name is the network's, not ours).
func writeReportCSV(w http.ResponseWriter, rep Report) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="herald-report-`+rep.From+`-to-`+rep.To+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"from", "to", "network", "account_id", "handle", "name", "published", "failed", "skipped"})
	for _, a := range rep.Accounts {
		_ = cw.Write([]string{rep.From, rep.To, a.Network, a.AccountID, safeCell(a.Handle), safeCell(a.DisplayName),
			strconv.Itoa(a.Published), strconv.Itoa(a.Failed), strconv.Itoa(a.Skipped)})
	}
	_ = cw.Write([]string{rep.From, rep.To, "all", "", "", "total",
		strconv.Itoa(rep.Total.Published), strconv.Itoa(rep.Total.Failed), strconv.Itoa(rep.Total.Skipped)})
	cw.Flush()
	return cw.Error()
}

func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
