package x

import (
	"context"
	"strings"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// X's OAuth 2.0 endpoints.
const (
	AuthURL  = "https://x.com/i/oauth2/authorize"
	TokenURL = "https://api.x.com/2/oauth2/token"
)

// Scopes are what Herald asks for: read and write posts, say whose account
// it is, upload media, and a refresh token (offline.access).
var Scopes = []string{"tweet.read", "tweet.write", "users.read", "media.write", "offline.access"}

// App is Herald registered as an app in X's developer portal.
type App struct {
	ClientID string
	// ClientSecret is empty for a public client; a confidential one
	// authenticates to the token endpoint with HTTP Basic, as X requires.
	ClientSecret string
	// RedirectURL is the callback registered with the app.
	RedirectURL string
	// AuthURL and TokenURL override X's (simnet: BASE/x/i/oauth2/authorize
	// and BASE/x/2/oauth2/token).
	AuthURL, TokenURL string
}

// OAuthConfig builds the OAuth 2.0 configuration for app, for WithOAuth.
func OAuthConfig(app App) *oauth2.Config {
	ep := oauth2.Endpoint{AuthURL: AuthURL, TokenURL: TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	if app.AuthURL != "" {
		ep.AuthURL = app.AuthURL
	}
	if app.TokenURL != "" {
		ep.TokenURL = app.TokenURL
	}
	if app.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURL: app.RedirectURL, Endpoint: ep, Scopes: append([]string(nil), Scopes...)}
}

// AuthorizeURL is where to send the user's browser. state must be random
// and tied to the user's session; verifier is a fresh
// oauth2.GenerateVerifier() kept with it until the callback, whose S256
// challenge goes in the URL.
func (p *Provider) AuthorizeURL(state, verifier string) (string, error) {
	var v errs.Fields
	if p.oauth == nil {
		return "", errs.E(errs.Unavailable, "Herald has no X app configured")
	}
	if state == "" {
		v.Add("state", "must not be empty")
	}
	if len(verifier) < 43 {
		v.Add("verifier", "must be a PKCE verifier of 43 to 128 characters (oauth2.GenerateVerifier)")
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	return p.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange turns the code X sent back (after the caller checked state)
// into credentials, proving the flow with verifier. Errors are errs
// errors, for the connect callback. VerifyCredentials then says whose
// account it is.
func (p *Provider) Exchange(ctx context.Context, code, verifier string) (provider.Credentials, error) {
	if p.oauth == nil {
		return provider.Credentials{}, errs.E(errs.Unavailable, "Herald has no X app configured")
	}
	if strings.TrimSpace(verifier) == "" {
		var v errs.Fields
		v.Add("verifier", "must not be empty")
		return provider.Credentials{}, v.Err()
	}
	return httpcall.ExchangeCode(ctx, p.client, p.oauth, "X", code, verifier)
}

// Refresh renews acct's access token with its refresh token. X rotates
// refresh tokens: the result carries the new one, which replaces the old.
// A refused refresh token is Disconnected.
func (p *Provider) Refresh(ctx context.Context, acct provider.Account) (provider.Credentials, error) {
	if p.oauth == nil {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: "renewing the access token: Herald has no X app configured"}
	}
	return httpcall.Refresh(ctx, p.client, p.oauth, "X", acct.RefreshToken)
}
