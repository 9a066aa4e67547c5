package simnet

import (
	"net/http"
	"strings"

	"github.com/heraldhq/herald/errs"
)

// controlAccounts handles POST /_simnet/NAME/accounts {"username": "alice",
// "client_id": "herald"} for the OAuth networks: it answers the account's
// Grant.
func controlAccounts(w http.ResponseWriter, r *http.Request, o *oauthNet) {
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
	writeJSON(w, http.StatusOK, o.createUser(username, v.Get("client_id")))
}

// controlClients handles POST /_simnet/NAME/clients {"client_id",
// "client_secret"}: it registers an OAuth client (no secret: a public one).
func controlClients(w http.ResponseWriter, r *http.Request, o *oauthNet) {
	v, err := formValues(w, r)
	if err != nil || strings.TrimSpace(v.Get("client_id")) == "" {
		var f errs.Fields
		f.Add("client_id", "must not be empty")
		writeInvalid(w, f.Err())
		return
	}
	o.addClient(strings.TrimSpace(v.Get("client_id")), v.Get("client_secret"))
	writeJSON(w, http.StatusOK, map[string]string{"client_id": strings.TrimSpace(v.Get("client_id"))})
}
