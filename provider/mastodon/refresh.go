package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/provider"
)

// Renewing access tokens.
//
// Stock Mastodon issues access tokens that never expire, and then there is
// nothing to renew: the token answer has no refresh_token, Account has no
// RefreshToken, and NeedsRefresh is false. An instance whose OAuth server
// (Doorkeeper) is set to expire access tokens answers the token request
// with expires_in and a refresh_token, and takes
// POST /oauth/token grant_type=refresh_token from the app that obtained
// it; Refresh does that.
//
// The refresh grant authenticates the app, so the account must carry the
// app's client credentials: a connect flow stores AppSecret(app) as the
// account's Secret.

// refreshMargin is how long before its expiry a token is renewed, so that
// a call begun just before the expiry does not fail midway.
const refreshMargin = 2 * time.Minute

// appCredentials are the OAuth client credentials kept in Account.Secret.
type appCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// AppSecret encodes app's client credentials for Account.Secret, which
// Refresh needs. The encoding is this package's own.
func AppSecret(app App) string {
	b, _ := json.Marshal(appCredentials{ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	return string(b)
}

// NeedsRefresh reports whether acct's access token expires within
// refreshMargin of now and can be renewed.
func (p *Provider) NeedsRefresh(acct provider.Account, now time.Time) bool {
	return acct.RefreshToken != "" && !acct.ExpiresAt.IsZero() && !now.Before(acct.ExpiresAt.Add(-refreshMargin))
}

// Refresh renews acct's access token with its refresh token. A refused
// refresh token or app registration is Disconnected: the account must be
// connected again.
func (p *Provider) Refresh(ctx context.Context, acct provider.Account) (provider.Credentials, error) {
	const op = "renewing the access token"
	base, problem := parseInstanceURL(acct.InstanceURL)
	if problem != "" {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the account's instance address " + problem}
	}
	var app appCredentials
	if acct.RefreshToken == "" || json.Unmarshal([]byte(acct.Secret), &app) != nil || app.ClientID == "" || app.ClientSecret == "" {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected,
			Message: op + ": the account was connected without a way to renew its access; reconnect the account"}
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {acct.RefreshToken},
		"client_id":     {app.ClientID},
		"client_secret": {app.ClientSecret},
	}
	ex, err := p.postForm(ctx, base+"/oauth/token", form)
	if err != nil {
		// Nothing is published by a refresh: a lost answer is a retry,
		// at worst with a refresh token the instance has rotated, which
		// then fails as Disconnected.
		return provider.Credentials{}, transportError(err, ex, op, false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		var e apiError
		_ = json.Unmarshal(ex.Body, &e)
		switch e.Error {
		case "invalid_grant":
			return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Status: ex.Res.StatusCode,
				Message: op + ": the instance refused the refresh token; reconnect the account"}
		case "invalid_client", "unauthorized_client":
			return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Status: ex.Res.StatusCode,
				Message: op + ": the instance no longer recognises Herald's registration; reconnect the account"}
		}
		return provider.Credentials{}, p.statusError(ex, op)
	}
	t, ok := p.parseToken(ex.Body)
	if !ok {
		return provider.Credentials{}, &provider.Error{Kind: provider.Retry, Message: op + ": the instance's answer could not be read",
			Err: errors.New("mastodon: unreadable token answer")}
	}
	return provider.Credentials{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresAt: t.ExpiresAt}, nil
}

var _ provider.Refresher = (*Provider)(nil)
