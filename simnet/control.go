package simnet

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// The control endpoints under /_simnet/ are simnet's own, for tests,
// benchmarks and a developer's curl; Mastodon has nothing like them.

// writeInvalid answers 422 with Mastodon's error shape plus the offending
// fields.
func writeInvalid(w http.ResponseWriter, err error) {
	body := map[string]any{"error": errs.PublicMessage(err)}
	if e, ok := errs.As(err); ok && len(e.Fields) > 0 {
		body["fields"] = e.Fields
	}
	writeJSON(w, http.StatusUnprocessableEntity, body)
}

// controlCreateAccount handles POST /_simnet/accounts {"username": "alice"}
// and answers {"access_token", "id", "acct"}.
func (s *Server) controlCreateAccount(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		writeInvalid(w, errs.E(errs.Invalid, "the body must be JSON or a form"))
		return
	}
	username := strings.TrimSpace(v.Get("username"))
	if msg := validUsername(username); msg != "" {
		var f errs.Fields
		f.Add("username", "%s", msg)
		writeInvalid(w, f.Err())
		return
	}
	tok := s.CreateAccount(username)
	a := s.ensureAccount(username)
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "id": a.id, "acct": a.username})
}

// controlStatuses handles GET /_simnet/statuses[?account=username].
func (s *Server) controlStatuses(w http.ResponseWriter, r *http.Request) {
	all := s.Statuses()
	if who := r.URL.Query().Get("account"); who != "" {
		kept := all[:0]
		for _, st := range all {
			if strings.EqualFold(st.Username, who) {
				kept = append(kept, st)
			}
		}
		all = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"count":              len(all),
		"duplicates_avoided": s.DuplicatesAvoided(),
		"statuses":           all,
	})
}

func (s *Server) controlStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) controlGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

// controlSetFaults handles POST /_simnet/faults: the body replaces the
// faults in force (fields left out are off).
func (s *Server) controlSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&f); err != nil {
		writeInvalid(w, errs.E(errs.Invalid, "the body must be a JSON object of faults: %v", err))
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeInvalid(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) controlClearFaults(w http.ResponseWriter, _ *http.Request) {
	_ = s.SetFaults(Faults{})
	writeJSON(w, http.StatusOK, s.Faults())
}
