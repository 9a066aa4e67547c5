package portal

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

// maxConnectValue bounds one typed connect value (a token, a URL).
const maxConnectValue = 4096

// FormNetwork is a network whose accounts connect with a form, as the UI
// and GET /api/v1/networks show it.
type FormNetwork struct {
	Network string
	Label   string
	Fields  []provider.ConnectField
}

// FormNetworks lists the networks that connect with a form, by name.
func (s *Service) FormNetworks() []FormNetwork {
	var out []FormNetwork
	for name, p := range s.providers {
		if fc, ok := p.(provider.FormConnector); ok {
			out = append(out, FormNetwork{Network: name, Label: networkLabel(name), Fields: fc.ConnectFields()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Network < out[j].Network })
	return out
}

// doConnectWithForm connects an account of a network that takes what the
// user types (an app password, a bot token, a webhook URL): the values are
// checked field by field, then with the network, and the account is stored
// with its credentials sealed. Values are never stored as typed: only what
// the network's connect yields (a Bluesky app password opens a session and
// is dropped). Connecting an account already connected replaces its
// credentials (a reconnect).
func (s *Service) doConnectWithForm(ctx context.Context, p *Principal, workspaceID, network string, values map[string]string) (Account, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actAccounts); err != nil {
		return Account{}, err
	}
	network = strings.TrimSpace(network)
	var v errs.Fields
	prov := s.checkNetwork(&v, network)
	if err := v.Err(); err != nil {
		return Account{}, err
	}
	fc, ok := prov.(provider.FormConnector)
	if !ok {
		return Account{}, errs.Fields{"network": "connects with an access token or OAuth, not a form"}.Err()
	}
	clean := map[string]string{}
	for _, f := range fc.ConnectFields() {
		val := strings.TrimSpace(values[f.Name])
		switch {
		case val == "" && !f.Optional:
			v.Add(f.Name, "is required")
		case len(val) > maxConnectValue:
			v.Add(f.Name, "is too long")
		}
		clean[f.Name] = val
	}
	if err := v.Err(); err != nil {
		return Account{}, err
	}
	conn, err := fc.ConnectForm(ctx, clean)
	if err != nil {
		return Account{}, connectRefusal(ctx, networkLabel(network), err)
	}
	acct, prof := conn.Account, conn.Profile
	if acct.RemoteID != "" {
		// What Publish needs as the account's remote id (a Telegram chat,
		// a Bluesky DID) is the id the account is stored under.
		prof.RemoteID = acct.RemoteID
	}
	if prof.RemoteID == "" {
		return Account{}, errs.E(errs.Invalid, "%s did not say which account this is", networkLabel(network))
	}
	if prof.Handle == "" {
		prof.Handle = acct.Handle
	}
	return s.saveAccount(ctx, p.AgencyID, workspaceID, network, acct.InstanceURL, credentials{
		AccessToken: acct.AccessToken, RefreshToken: acct.RefreshToken, ExpiresAt: acct.ExpiresAt, Secret: acct.Secret,
	}, prof)
}

// prefixFields puts prefix before the error's field names, except those
// in keep: a form network's inputs are "fields.NAME" in the REST API.
func prefixFields(err error, prefix string, keep ...string) error {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = map[string]string{}
	for f, msg := range e.Fields {
		if !slices.Contains(keep, f) {
			f = prefix + f
		}
		out.Fields[f] = msg
	}
	return &out
}

// connectRefusal turns what a network said about a connect form into an
// error for the user: its field errors as they are, a refusal (wrong
// password, a bot not allowed in the chat) as invalid input with the
// network's reason, anything passing (rate limit, outage) as unavailable.
func connectRefusal(ctx context.Context, label string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		return err
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return errs.Wrap(err, errs.Unavailable, label+" could not be reached to check the account; try again shortly")
	}
	msg := pe.Message
	if msg == "" {
		msg = "it refused the account"
	}
	switch pe.Kind {
	case provider.Disconnected, provider.BadContent, provider.Expired:
		return errs.E(errs.Invalid, "%s: %s", label, msg)
	}
	return errs.Wrap(err, errs.Unavailable, label+" could not check the account right now ("+msg+"); try again shortly")
}

// connectFormView is one form network's connect form on the workspace page.
type connectFormView struct {
	Network, Label string
	// Form is the refused form when the page shows this network's
	// problems, else a fresh one.
	Form   *form
	Inputs []inputView
	// Open: the form is shown unfolded (it was just refused).
	Open bool
}

// connectForms builds the workspace page's form networks' connect forms;
// refused, for network, is the form the user sent.
func (s *Service) connectForms(network string, refused *form) []connectFormView {
	var out []connectFormView
	for _, n := range s.FormNetworks() {
		f := &form{Values: map[string][]string{}, Errors: map[string]string{}}
		open := n.Network == network && refused != nil
		if open {
			f = refused
		}
		v := connectFormView{Network: n.Network, Label: n.Label, Form: f, Open: open}
		for _, fld := range n.Fields {
			typ := "text"
			if fld.Secret {
				typ = "password"
			}
			opts := []string{"autocomplete=off"}
			if fld.Optional {
				opts = append(opts, "optional")
			}
			if fld.Placeholder != "" {
				opts = append(opts, "placeholder="+fld.Placeholder)
			}
			if fld.Help != "" {
				opts = append(opts, "help="+fld.Help)
			}
			v.Inputs = append(v.Inputs, newInputView(f, fld.Name, fld.Label, typ, "connect-"+n.Network+"-"+fld.Name, opts...))
		}
		out = append(out, v)
	}
	return out
}
