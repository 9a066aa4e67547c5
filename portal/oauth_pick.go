package portal

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// finishAppOAuth exchanges the code of a flow with Herald's own app: one
// account is verified and stored; choices (Facebook pages, Instagram
// accounts) are kept sealed behind a single-use pick token until the user
// picks.
func (s *Service) finishAppOAuth(ctx context.Context, p *Principal, res OAuthResult, f AppOAuthFlow, network, code, verifier string) (OAuthResult, error) {
	label := networkLabel(network)
	g, err := f.Exchange(ctx, code, verifier)
	if err != nil {
		return res, flowError(ctx, err, "code", label+" did not accept the authorization: ")
	}
	if len(g.Accounts) == 0 {
		if g.Pick {
			return res, errs.E(errs.Invalid, "%s shows no %s you may publish as with this login", label, pickNoun(network))
		}
		return res, errs.E(errs.Invalid, "%s granted no account", label)
	}
	if g.Pick {
		token, err := s.storePick(ctx, p, res.WorkspaceID, network, g.Accounts)
		if err != nil {
			return res, err
		}
		res.Pick = token
		return res, nil
	}
	a, err := s.saveGranted(ctx, p, res.WorkspaceID, network, g.Accounts[0])
	if err != nil {
		return res, err
	}
	res.Account = a
	return res, nil
}

// saveGranted verifies a granted account with its network when the grant
// did not say whose it is, or to learn its handle and address, and stores it.
func (s *Service) saveGranted(ctx context.Context, p *Principal, workspaceID, network string, g GrantedAccount) (Account, error) {
	prov := s.providers[network]
	if prov == nil {
		return Account{}, errs.E(errs.Invalid, "%q is not a supported network", network)
	}
	prof := g.Profile
	acct := provider.Account{Network: network, InstanceURL: g.InstanceURL, AccessToken: g.Credentials.AccessToken, RemoteID: prof.RemoteID,
		RefreshToken: g.Credentials.RefreshToken, ExpiresAt: g.Credentials.ExpiresAt, Secret: g.Secret}
	if prof.RemoteID == "" || prof.URL == "" {
		v, err := s.verify(ctx, prov, acct)
		if err != nil {
			return Account{}, err
		}
		if prof.RemoteID != "" {
			// What Publish needs as the remote id (a page id) is the one
			// the grant named.
			v.RemoteID = prof.RemoteID
		}
		prof = v
	}
	return s.saveAccount(ctx, p.AgencyID, workspaceID, network, g.InstanceURL, credentials{AccessToken: g.Credentials.AccessToken,
		RefreshToken: g.Credentials.RefreshToken, ExpiresAt: g.Credentials.ExpiresAt, Secret: g.Secret}, prof)
}

func pickNoun(network string) string {
	if network == "facebook" {
		return "Facebook Pages"
	}
	return "accounts"
}

func pickAAD(pickHash string) string { return "oauth-pick|" + pickHash }

// pickChoice is one choice as kept sealed, with its credentials.
type pickChoice struct {
	InstanceURL  string    `json:"instance_url"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	Secret       string    `json:"secret,omitempty"`
	RemoteID     string    `json:"remote_id"`
	Handle       string    `json:"handle,omitempty"`
	DisplayName  string    `json:"display_name,omitempty"`
	URL          string    `json:"url,omitempty"`
	Detail       string    `json:"detail,omitempty"`
}

func (c pickChoice) granted() GrantedAccount {
	return GrantedAccount{InstanceURL: c.InstanceURL, Secret: c.Secret, Detail: c.Detail,
		Credentials: provider.Credentials{AccessToken: c.AccessToken, RefreshToken: c.RefreshToken, ExpiresAt: c.ExpiresAt},
		Profile:     provider.Profile{RemoteID: c.RemoteID, Handle: c.Handle, DisplayName: c.DisplayName, URL: c.URL}}
}

// PickChoice is one page or account a pick offers, without its token.
type PickChoice struct {
	ID     string // the network's id for it (a page id)
	Name   string
	Handle string
	Detail string
}

// Pick is a grant waiting for the user to choose what to connect.
type Pick struct {
	WorkspaceID string
	Network     string
	Choices     []PickChoice
	ExpiresAt   time.Time
}

func (s *Service) storePick(ctx context.Context, p *Principal, workspaceID, network string, accts []GrantedAccount) (string, error) {
	choices := make([]pickChoice, 0, len(accts))
	seen := map[string]bool{}
	for _, a := range accts {
		if a.Profile.RemoteID == "" || seen[a.Profile.RemoteID] {
			continue
		}
		seen[a.Profile.RemoteID] = true
		choices = append(choices, pickChoice{InstanceURL: a.InstanceURL, AccessToken: a.Credentials.AccessToken, RefreshToken: a.Credentials.RefreshToken,
			ExpiresAt: a.Credentials.ExpiresAt, Secret: a.Secret, RemoteID: a.Profile.RemoteID, Handle: a.Profile.Handle,
			DisplayName: a.Profile.DisplayName, URL: a.Profile.URL, Detail: a.Detail})
	}
	raw, err := json.Marshal(choices)
	if err != nil {
		return "", err
	}
	token := newSecret("pick_")
	h := hashSecret(token)
	_, err = s.db.Exec(ctx, `INSERT INTO portal_oauth_picks (pick_hash, agency_id, workspace_id, user_id, session_hash, network, choices_sealed, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h, p.AgencyID, workspaceID, p.UserID, p.sessionHash, network, s.keys.seal(string(raw), pickAAD(h)),
		store.ToMicros(time.Now().Add(s.cfg.OAuthStateTTL)))
	if err != nil {
		return "", err
	}
	return token, nil
}

// loadPick reads a pick bound to p's session.
func (s *Service) loadPick(ctx context.Context, p *Principal, token string) (Pick, []pickChoice, error) {
	unknown := errs.E(errs.NotFound, "this choice of accounts is unknown or has expired; connect again")
	if token == "" || p.sessionHash == "" {
		return Pick{}, nil, unknown
	}
	h := hashSecret(token)
	var pk Pick
	var userID, sessionHash string
	var sealed []byte
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT workspace_id, user_id, session_hash, network, choices_sealed, expires_at FROM portal_oauth_picks
		WHERE pick_hash = ? AND agency_id = ?`, h, p.AgencyID).Scan(&pk.WorkspaceID, &userID, &sessionHash, &pk.Network, &sealed, &exp)
	if errors.Is(err, store.ErrNoRows) {
		return Pick{}, nil, unknown
	}
	if err != nil {
		return Pick{}, nil, err
	}
	pk.ExpiresAt = store.FromMicros(exp)
	if userID != p.UserID || sessionHash != p.sessionHash || !time.Now().Before(pk.ExpiresAt) {
		return Pick{}, nil, unknown
	}
	if _, err := s.authorize(ctx, s.db, p, pk.WorkspaceID, actAccounts); err != nil {
		return Pick{}, nil, err
	}
	raw, err := s.keys.open(sealed, pickAAD(h))
	if err != nil {
		return Pick{}, nil, err
	}
	var choices []pickChoice
	if err := json.Unmarshal([]byte(raw), &choices); err != nil {
		return Pick{}, nil, err
	}
	for _, c := range choices {
		pk.Choices = append(pk.Choices, PickChoice{ID: c.RemoteID, Name: c.DisplayName, Handle: c.Handle, Detail: c.Detail})
	}
	return pk, choices, nil
}

// GetPick lists what a pick token offers; it does not use the token up.
func (s *Service) GetPick(ctx context.Context, p *Principal, token string) (Pick, error) {
	pk, _, err := s.loadPick(ctx, p, token)
	return pk, err
}

// maxPicked bounds one pick; Pages lists at most a few thousand.
const maxPicked = 200

// doPickAccounts connects the chosen pages or accounts (ids from the pick's
// choices) and uses the pick token up: it works once.
func (s *Service) doPickAccounts(ctx context.Context, p *Principal, token string, ids []string) (Pick, []Account, error) {
	pk, choices, err := s.loadPick(ctx, p, token)
	if err != nil {
		return Pick{}, nil, err
	}
	var chosen []pickChoice
	var v errs.Fields
	for _, id := range ids {
		id = strings.TrimSpace(id)
		i := slices.IndexFunc(choices, func(c pickChoice) bool { return c.RemoteID == id })
		switch {
		case id == "":
		case i < 0:
			v.Add("ids", "%q is not one of the choices", id)
		case !slices.ContainsFunc(chosen, func(c pickChoice) bool { return c.RemoteID == id }):
			chosen = append(chosen, choices[i])
		}
	}
	if len(chosen) == 0 && v["ids"] == "" {
		v.Add("ids", "choose at least one")
	}
	if len(chosen) > maxPicked {
		v.Add("ids", "choose at most %d", maxPicked)
	}
	if err := v.Err(); err != nil {
		return pk, nil, err
	}
	// Single use: whoever deletes the row connects; a second request finds
	// nothing.
	r, err := s.db.Exec(ctx, `DELETE FROM portal_oauth_picks WHERE pick_hash = ? AND agency_id = ?`, hashSecret(token), p.AgencyID)
	if err != nil {
		return pk, nil, err
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return Pick{}, nil, errs.E(errs.NotFound, "this choice of accounts is unknown or has expired; connect again")
	}
	var out []Account
	for _, c := range chosen {
		a, err := s.saveGranted(ctx, p, pk.WorkspaceID, pk.Network, c.granted())
		if err != nil {
			return pk, out, err
		}
		out = append(out, a)
	}
	return pk, out, nil
}
