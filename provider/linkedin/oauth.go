package linkedin

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// LinkedIn's OAuth 2.0 endpoints.
const (
	AuthURL  = "https://www.linkedin.com/oauth/v2/authorization"
	TokenURL = "https://www.linkedin.com/oauth/v2/accessToken"
)

// Scopes are what Herald asks for: OpenID Connect's openid and profile
// (whose account it is) and w_member_social (post as the member). Posting
// as an organization needs w_organization_social as well, granted to apps
// approved for LinkedIn's Community Management API.
var Scopes = []string{"openid", "profile", "w_member_social"}

// App is Herald registered as an app in LinkedIn's developer portal.
type App struct {
	ClientID, ClientSecret string
	// RedirectURL is the callback registered with the app.
	RedirectURL string
	// Scopes default to Scopes.
	Scopes []string
	// AuthURL and TokenURL override LinkedIn's (simnet:
	// BASE/linkedin/oauth/v2/authorization and .../accessToken).
	AuthURL, TokenURL string
}

// OAuthConfig builds the OAuth 2.0 configuration for app, for WithOAuth.
// LinkedIn takes the client credentials in the token request's body.
func OAuthConfig(app App) *oauth2.Config {
	ep := oauth2.Endpoint{AuthURL: AuthURL, TokenURL: TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	if app.AuthURL != "" {
		ep.AuthURL = app.AuthURL
	}
	if app.TokenURL != "" {
		ep.TokenURL = app.TokenURL
	}
	scopes := app.Scopes
	if len(scopes) == 0 {
		scopes = Scopes
	}
	return &oauth2.Config{ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURL: app.RedirectURL, Endpoint: ep, Scopes: append([]string(nil), scopes...)}
}

// AuthorizeURL is where to send the user's browser. state must be random
// and tied to the user's session (LinkedIn offers web apps no PKCE; state
// is what binds the callback to the session).
func (p *Provider) AuthorizeURL(state string) (string, error) {
	if p.oauth == nil {
		return "", errs.E(errs.Unavailable, "Herald has no LinkedIn app configured")
	}
	if state == "" {
		var v errs.Fields
		v.Add("state", "must not be empty")
		return "", v.Err()
	}
	return p.oauth.AuthCodeURL(state), nil
}

// Exchange turns the code LinkedIn sent back (after the caller checked
// state) into credentials. Errors are errs errors, for the connect
// callback. VerifyCredentials then gives the member's URN.
func (p *Provider) Exchange(ctx context.Context, code string) (provider.Credentials, error) {
	if p.oauth == nil {
		return provider.Credentials{}, errs.E(errs.Unavailable, "Herald has no LinkedIn app configured")
	}
	return httpcall.ExchangeCode(ctx, p.client, p.oauth, "LinkedIn", code, "")
}

// Refresh renews acct's access token with its refresh token. LinkedIn
// keeps the refresh token (its year runs from the first grant), so the
// result usually has none and the stored one stays.
func (p *Provider) Refresh(ctx context.Context, acct provider.Account) (provider.Credentials, error) {
	if p.oauth == nil {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: "renewing the access token: Herald has no LinkedIn app configured"}
	}
	return httpcall.Refresh(ctx, p.client, p.oauth, "LinkedIn", acct.RefreshToken)
}
