package portal

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// Account statuses.
const (
	AccountActive         = "active"
	AccountNeedsReconnect = "needs_reconnect"
)

// Account is a connected social account. Its access token never leaves
// Portal except through GetPublishJob.
type Account struct {
	ID           string
	WorkspaceID  string
	Network      string
	InstanceURL  string
	RemoteID     string
	Handle       string
	DisplayName  string
	ProfileURL   string
	Status       string
	StatusReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AccountInput connects an account with an access token the user already has.
type AccountInput struct {
	Network     string
	InstanceURL string
	AccessToken string
}

// parseInstanceURL normalizes a server's base URL to scheme://host[:port],
// refusing anything that is not a plain http(s) origin.
func parseInstanceURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("is required")
	}
	// A bare host, as people type it ("mastodon.social"), means https.
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", errors.New("must start with https://")
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("must name a server, as in https://mastodon.social")
	case u.User != nil:
		return "", errors.New("must not contain a user name or password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", errors.New("must be the server's address only, without a path, as in https://mastodon.social")
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

func originOf(base string) string {
	o, err := parseInstanceURL(strings.TrimSuffix(base, "/"))
	if err != nil {
		return base
	}
	return o
}

// tokenAAD binds a sealed token to the account's natural key (stable when a
// reconnect replaces the token).
func tokenAAD(workspaceID, network, instanceURL, remoteID string) string {
	return "account|" + workspaceID + "|" + network + "|" + instanceURL + "|" + remoteID
}

// checkNetwork returns the provider for network or records a field error.
func (s *Service) checkNetwork(v *errs.Fields, network string) provider.Provider {
	if network == "" {
		v.Add("network", "is required")
		return nil
	}
	p, ok := s.providers[network]
	if !ok {
		v.Add("network", "%q is not a supported network", network)
		return nil
	}
	return p
}

// verify asks the network whose token this is. A refused token is a field
// error on access_token; a server that cannot be reached or answers
// nonsense is one on instance_url.
func (s *Service) verify(ctx context.Context, prov provider.Provider, acct provider.Account) (provider.Profile, error) {
	prof, err := prov.VerifyCredentials(ctx, acct)
	if err == nil {
		if prof.RemoteID == "" {
			return prof, errs.Fields{"instance_url": "the server did not say whose token this is"}.Err()
		}
		return prof, nil
	}
	if ctx.Err() != nil {
		return prof, ctx.Err()
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch {
		// Disconnected with an HTTP status is the server refusing the
		// token; without one, the address itself was refused or unusable.
		case (pe.Kind == provider.Disconnected || pe.Kind == provider.Expired) && pe.Status != 0:
			return prof, errs.Fields{"access_token": "the server refused this access token"}.Err()
		case pe.Kind == provider.RateLimited:
			return prof, errs.Wrap(err, errs.Unavailable, "the server asks us to slow down; try again in a minute")
		}
		msg := pe.Message
		if msg == "" {
			msg = string(pe.Kind)
		}
		return prof, errs.Fields{"instance_url": "could not verify the account with this server: " + msg}.Err()
	}
	return prof, errs.Fields{"instance_url": "could not verify the account with this server: " + errs.PublicMessage(err)}.Err()
}

// doConnectAccount verifies an access token with its network and stores the
// account with the token encrypted. Connecting an account that is already
// connected to the workspace replaces its token (a reconnect).
func (s *Service) doConnectAccount(ctx context.Context, p *Principal, workspaceID string, in AccountInput) (Account, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actAccounts); err != nil {
		return Account{}, err
	}
	var v errs.Fields
	network := strings.TrimSpace(in.Network)
	prov := s.checkNetwork(&v, network)
	instance, err := parseInstanceURL(in.InstanceURL)
	if err != nil {
		v.Add("instance_url", "%s", err.Error())
	}
	token := strings.TrimSpace(in.AccessToken)
	if token == "" {
		v.Add("access_token", "is required")
	} else if len(token) > 4096 {
		v.Add("access_token", "is too long")
	}
	if err := v.Err(); err != nil {
		return Account{}, err
	}
	prof, err := s.verify(ctx, prov, provider.Account{Network: network, InstanceURL: instance, AccessToken: token})
	if err != nil {
		return Account{}, err
	}
	return s.saveAccount(ctx, p.AgencyID, workspaceID, network, instance, credentials{AccessToken: token}, prof)
}

// credentials are an account's secrets as a connect flow yields them.
type credentials struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Secret       string
}

// The refresh token and the other secret are sealed like the access token,
// each under its own label so that one sealed value cannot pass for another.
func refreshAAD(workspaceID, network, instanceURL, remoteID string) string {
	return "refresh|" + tokenAAD(workspaceID, network, instanceURL, remoteID)
}

func secretAAD(workspaceID, network, instanceURL, remoteID string) string {
	return "secret|" + tokenAAD(workspaceID, network, instanceURL, remoteID)
}

// sealOptional seals v, or returns nil (NULL) for an empty v.
func (s *Service) sealOptional(v, aad string) []byte {
	if v == "" {
		return nil
	}
	return s.keys.seal(v, aad)
}

// openOptional opens what sealOptional sealed.
func (s *Service) openOptional(sealed []byte, aad string) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	return s.keys.open(sealed, aad)
}

// saveAccount stores a newly connected account, or replaces a reconnected
// one's credentials: a reconnect is a new grant, so all of them are
// replaced, and their version grows so that a refresh begun from the old
// ones is not stored over them.
func (s *Service) saveAccount(ctx context.Context, agencyID, workspaceID, network, instance string, cr credentials, prof provider.Profile) (Account, error) {
	now := time.Now().UTC()
	a := Account{ID: id.New("acct"), WorkspaceID: workspaceID, Network: network, InstanceURL: instance,
		RemoteID: prof.RemoteID, Handle: prof.Handle, DisplayName: prof.DisplayName, ProfileURL: prof.URL,
		Status: AccountActive, CreatedAt: now, UpdatedAt: now}
	sealed := s.keys.seal(cr.AccessToken, tokenAAD(workspaceID, network, instance, prof.RemoteID))
	refresh := s.sealOptional(cr.RefreshToken, refreshAAD(workspaceID, network, instance, prof.RemoteID))
	secret := s.sealOptional(cr.Secret, secretAAD(workspaceID, network, instance, prof.RemoteID))
	var created int64
	err := s.db.QueryRow(ctx, `INSERT INTO portal_accounts (id, agency_id, workspace_id, network, instance_url, remote_id, handle,
			display_name, profile_url, token_sealed, refresh_sealed, secret_sealed, expires_at, credentials_version,
			status, status_reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, '', ?, ?)
		ON CONFLICT (workspace_id, network, instance_url, remote_id) DO UPDATE SET
			handle = excluded.handle, display_name = excluded.display_name, profile_url = excluded.profile_url,
			token_sealed = excluded.token_sealed, refresh_sealed = excluded.refresh_sealed,
			secret_sealed = excluded.secret_sealed, expires_at = excluded.expires_at,
			credentials_version = portal_accounts.credentials_version + 1,
			status = excluded.status, status_reason = '', updated_at = excluded.updated_at
		RETURNING id, created_at`,
		a.ID, agencyID, workspaceID, network, instance, prof.RemoteID, prof.Handle, prof.DisplayName, prof.URL,
		sealed, refresh, secret, store.ToMicros(cr.ExpiresAt), AccountActive, store.ToMicros(now), store.ToMicros(now)).Scan(&a.ID, &created)
	if err != nil {
		return Account{}, err
	}
	s.invalidate(ctx, accountsScope(agencyID, workspaceID))
	a.CreatedAt = store.FromMicros(created)
	return a, nil
}

const accountColumns = `id, workspace_id, network, instance_url, remote_id, handle, display_name, profile_url,
	status, status_reason, created_at, updated_at`

func scanAccount(sc interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var c, u int64
	err := sc.Scan(&a.ID, &a.WorkspaceID, &a.Network, &a.InstanceURL, &a.RemoteID, &a.Handle, &a.DisplayName, &a.ProfileURL,
		&a.Status, &a.StatusReason, &c, &u)
	a.CreatedAt, a.UpdatedAt = store.FromMicros(c), store.FromMicros(u)
	return a, err
}

// ListAccounts lists a workspace's connected accounts.
func (s *Service) ListAccounts(ctx context.Context, p *Principal, workspaceID string) ([]Account, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actViewAccounts); err != nil {
		return nil, err
	}
	scope := accountsScope(p.AgencyID, workspaceID)
	key := scope + ":" + s.reads.c.Generation(ctx, scope)
	return s.reads.accounts.Get(ctx, key, func(ctx context.Context) ([]Account, error) {
		rows, err := s.db.Query(ctx, `SELECT `+accountColumns+` FROM portal_accounts WHERE agency_id = ? AND workspace_id = ? ORDER BY handle, id`,
			p.AgencyID, workspaceID)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := []Account{}
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, rows.Err()
	})
}

// GetAccount returns one account.
func (s *Service) GetAccount(ctx context.Context, p *Principal, accountID string) (Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM portal_accounts WHERE agency_id = ? AND id = ?`, p.AgencyID, accountID))
	if err != nil {
		return Account{}, store.NotFound(err, "account")
	}
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actViewAccounts); err != nil {
		return Account{}, err
	}
	return a, nil
}

// doDeleteAccount disconnects an account from Herald (its token is deleted).
// Posts that still had to be published to it record that as a failure.
func (s *Service) doDeleteAccount(ctx context.Context, p *Principal, accountID string) error {
	a, err := s.GetAccount(ctx, p, accountID)
	if err != nil {
		return err
	}
	// Seeing an account (GetAccount) is not managing it.
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actAccounts); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		s.markStale(ctx, tx, accountsScope(p.AgencyID, a.WorkspaceID), postsScope(p.AgencyID, a.WorkspaceID))
		rows, err := tx.Query(ctx, `SELECT post_id FROM portal_post_targets WHERE agency_id = ? AND account_id = ? AND status = ?`,
			p.AgencyID, a.ID, TargetPending)
		if err != nil {
			return err
		}
		var posts []string
		for rows.Next() {
			var pid string
			if err := rows.Scan(&pid); err != nil {
				rows.Close()
				return err
			}
			posts = append(posts, pid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := store.ToMicros(time.Now())
		if _, err := tx.Exec(ctx, `UPDATE portal_post_targets SET status = ?, error = ?, updated_at = ?
			WHERE agency_id = ? AND account_id = ? AND status = ?`,
			TargetFailed, "the account was disconnected from Herald", now, p.AgencyID, a.ID, TargetPending); err != nil {
			return err
		}
		for _, pid := range posts {
			if err := recomputePostStatus(ctx, tx, p.AgencyID, pid); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM portal_accounts WHERE agency_id = ? AND id = ?`, p.AgencyID, a.ID)
		return err
	})
}

// markNeedsReconnect records that a network refused an account's token.
func markNeedsReconnect(ctx context.Context, tx *store.Tx, agencyID, accountID, reason string) error {
	if reason == "" {
		reason = "the network refused the account's credentials"
	}
	_, err := tx.Exec(ctx, `UPDATE portal_accounts SET status = ?, status_reason = ?, updated_at = ? WHERE agency_id = ? AND id = ?`,
		AccountNeedsReconnect, reason, store.ToMicros(time.Now()), agencyID, accountID)
	return err
}

// --- OAuth ---

func (s *Service) redirectURI(network string) string {
	return strings.TrimSuffix(s.cfg.BaseURL, "/") + "/oauth/" + network + "/callback"
}

func appAAD(network, instance, redirect string) string {
	return "oauth-app|" + network + "|" + instance + "|" + redirect
}

// oauthApp returns Herald's client registration on an instance, registering
// it the first time. Registrations are kept: one per instance, not per user.
func (s *Service) oauthApp(ctx context.Context, flow OAuthFlow, network, instance string) (OAuthApp, error) {
	redirect := s.redirectURI(network)
	load := func() (OAuthApp, bool, error) {
		var app OAuthApp
		var sealed []byte
		err := s.db.QueryRow(ctx, `SELECT client_id, client_secret_sealed, scopes FROM portal_oauth_apps
			WHERE network = ? AND instance_url = ? AND redirect_uri = ?`, network, instance, redirect).Scan(&app.ClientID, &sealed, &app.Scopes)
		if errors.Is(err, store.ErrNoRows) {
			return OAuthApp{}, false, nil
		}
		if err != nil {
			return OAuthApp{}, false, err
		}
		app.ClientSecret, err = s.keys.open(sealed, appAAD(network, instance, redirect))
		return app, err == nil, err
	}
	if app, ok, err := load(); ok || err != nil {
		return app, err
	}
	app, err := flow.RegisterApp(ctx, instance, redirect)
	if err != nil {
		return OAuthApp{}, flowError(ctx, err, "instance_url", "could not register Herald with this server: ")
	}
	// Two first connections may race; the first registration stored wins
	// and both use it.
	if _, err := s.db.Exec(ctx, `INSERT INTO portal_oauth_apps (network, instance_url, redirect_uri, client_id, client_secret_sealed, scopes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (network, instance_url, redirect_uri) DO NOTHING`,
		network, instance, redirect, app.ClientID, s.keys.seal(app.ClientSecret, appAAD(network, instance, redirect)), app.Scopes,
		store.ToMicros(time.Now())); err != nil {
		return OAuthApp{}, err
	}
	app, _, err = load()
	return app, err
}

// flowError passes on an error of an OAuth step that already says what is
// wrong (an errs error of a kind other than internal) and otherwise makes
// it a field error with what the provider said.
func flowError(ctx context.Context, err error, field, prefix string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		return err
	}
	return errs.Fields{field: prefix + providerMessage(err)}.Err()
}

func providerMessage(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message
	}
	return errs.PublicMessage(err)
}

// StartOAuth begins connecting an account through the network's OAuth
// flow and returns where to send the browser. The flow is bound to the
// principal's session: only that browser can finish it. instanceURL is
// the server for a network that has several (Mastodon) and is ignored for
// a network connected through Herald's own app.
func (s *Service) StartOAuth(ctx context.Context, p *Principal, workspaceID, network, instanceURL string) (string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actAccounts); err != nil {
		return "", err
	}
	if p.sessionHash == "" {
		return "", errs.E(errs.Forbidden, "connecting through OAuth needs a signed-in browser; with an API token, connect with an access token")
	}
	var v errs.Fields
	s.checkNetwork(&v, network)
	flow, appFlow := s.oauth[network], s.appOAuth[network]
	if v["network"] == "" && flow == nil && appFlow == nil {
		v.Add("network", "%q accounts cannot be connected through OAuth on this server", network)
	}
	var instance string
	if appFlow == nil {
		var err error
		if instance, err = parseInstanceURL(instanceURL); err != nil {
			v.Add("instance_url", "%s", err.Error())
		}
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	state := newSecret("")
	var app OAuthApp
	var verifier string
	var sealedVerifier []byte
	if appFlow != nil {
		verifier = oauth2.GenerateVerifier()
		sealedVerifier = s.keys.seal(verifier, verifierAAD(hashSecret(state)))
	} else {
		var err error
		if app, err = s.oauthApp(ctx, flow, network, instance); err != nil {
			return "", err
		}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_oauth_states (state_hash, agency_id, workspace_id, user_id, session_hash, network, instance_url,
			verifier_sealed, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashSecret(state), p.AgencyID, workspaceID, p.UserID, p.sessionHash, network, instance,
		sealedVerifier, store.ToMicros(time.Now().Add(s.cfg.OAuthStateTTL)))
	if err != nil {
		return "", err
	}
	var u string
	if appFlow != nil {
		u, err = appFlow.AuthorizeURL(state, verifier)
	} else {
		u, err = flow.AuthorizeURL(instance, s.redirectURI(network), app, state)
	}
	if err != nil {
		return "", flowError(ctx, err, "instance_url", "")
	}
	return u, nil
}

// verifierAAD binds a sealed PKCE verifier to its state.
func verifierAAD(stateHash string) string { return "oauth-verifier|" + stateHash }

// OAuthResult is how an OAuth callback ended. WorkspaceID is set as soon as
// the state was recognised, also on failure, so the browser can be sent back
// to the workspace with the error. Pick, when set, is the single-use token
// of the choices the user must pick from (Facebook pages, Instagram
// accounts) before any account is connected.
type OAuthResult struct {
	WorkspaceID string
	Account     Account
	Pick        string
}

// FinishOAuth completes a flow started by StartOAuth in the same session:
// it exchanges the code for a token, verifies it and stores the account.
// denial is the error the server redirected with instead of a code, if any.
func (s *Service) FinishOAuth(ctx context.Context, p *Principal, network, state, code, denial string) (OAuthResult, error) {
	unknown := errs.E(errs.NotFound, "this connection attempt is unknown or has expired; start again")
	if state == "" {
		return OAuthResult{}, unknown
	}
	var workspaceID, userID, sessionHash, stNetwork, instance string
	var sealedVerifier []byte
	var exp int64
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT workspace_id, user_id, session_hash, network, instance_url, verifier_sealed, expires_at FROM portal_oauth_states
			WHERE state_hash = ? AND agency_id = ?`, hashSecret(state), p.AgencyID).
			Scan(&workspaceID, &userID, &sessionHash, &stNetwork, &instance, &sealedVerifier, &exp)
		if errors.Is(err, store.ErrNoRows) {
			return unknown
		}
		if err != nil {
			return err
		}
		// A state is single-use, whatever happens next.
		_, err = tx.Exec(ctx, `DELETE FROM portal_oauth_states WHERE state_hash = ?`, hashSecret(state))
		return err
	})
	if err != nil {
		return OAuthResult{}, err
	}
	if sessionHash != p.sessionHash || userID != p.UserID || stNetwork != network || !time.Now().Before(store.FromMicros(exp)) {
		return OAuthResult{}, unknown
	}
	res := OAuthResult{WorkspaceID: workspaceID}
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actAccounts); err != nil {
		return OAuthResult{}, err
	}
	if denial != "" || code == "" {
		return res, errs.E(errs.Invalid, "the server did not grant access")
	}
	if f := s.appOAuth[network]; f != nil {
		verifier, err := s.openOptional(sealedVerifier, verifierAAD(hashSecret(state)))
		if err != nil {
			return res, err
		}
		return s.finishAppOAuth(ctx, p, res, f, network, code, verifier)
	}
	flow, prov := s.oauth[network], s.providers[network]
	if flow == nil || prov == nil {
		return res, errs.E(errs.Invalid, "%q accounts cannot be connected through OAuth", network)
	}
	app, err := s.oauthApp(ctx, flow, network, instance)
	if err != nil {
		return res, err
	}
	var cr credentials
	if cf, ok := flow.(OAuthCredentialsFlow); ok {
		var c provider.Credentials
		c, cr.Secret, err = cf.ExchangeCredentials(ctx, instance, s.redirectURI(network), app, code)
		cr.AccessToken, cr.RefreshToken, cr.ExpiresAt = c.AccessToken, c.RefreshToken, c.ExpiresAt
	} else {
		cr.AccessToken, err = flow.ExchangeCode(ctx, instance, s.redirectURI(network), app, code)
	}
	if err != nil {
		return res, flowError(ctx, err, "code", "the server did not accept the authorization: ")
	}
	prof, err := s.verify(ctx, prov, provider.Account{Network: network, InstanceURL: instance, AccessToken: cr.AccessToken,
		RefreshToken: cr.RefreshToken, ExpiresAt: cr.ExpiresAt, Secret: cr.Secret})
	if err != nil {
		return res, err
	}
	a, err := s.saveAccount(ctx, p.AgencyID, workspaceID, network, instance, cr, prof)
	if err != nil {
		return res, err
	}
	res.Account = a
	return res, nil
}
