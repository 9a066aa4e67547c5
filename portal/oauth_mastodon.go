package portal

import (
	"context"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
)

// mastodonOAuth adapts the Mastodon provider's OAuth helpers to OAuthFlow.
type mastodonOAuth struct {
	p *mastodon.Provider
	// website is shown with Herald's name on the consent page.
	website string
}

func (m mastodonOAuth) app(instanceURL, redirectURI string, app OAuthApp) mastodon.App {
	return mastodon.App{InstanceURL: instanceURL, ClientID: app.ClientID, ClientSecret: app.ClientSecret,
		RedirectURI: redirectURI, Scopes: app.Scopes}
}

func (m mastodonOAuth) RegisterApp(ctx context.Context, instanceURL, redirectURI string) (OAuthApp, error) {
	app, err := m.p.RegisterApp(ctx, instanceURL, mastodon.AppConfig{ClientName: "Herald", RedirectURI: redirectURI, Website: m.website})
	if err != nil {
		return OAuthApp{}, err
	}
	return OAuthApp{ClientID: app.ClientID, ClientSecret: app.ClientSecret, Scopes: app.Scopes}, nil
}

func (m mastodonOAuth) AuthorizeURL(instanceURL, redirectURI string, app OAuthApp, state string) (string, error) {
	return mastodon.AuthorizeURL(m.app(instanceURL, redirectURI, app), state)
}

func (m mastodonOAuth) ExchangeCode(ctx context.Context, instanceURL, redirectURI string, app OAuthApp, code string) (string, error) {
	tok, err := m.p.ExchangeCode(ctx, m.app(instanceURL, redirectURI, app), code)
	return tok.AccessToken, err
}

// ExchangeCredentials is ExchangeCode with the renewal an instance that
// expires its tokens sends; the app's client credentials become the
// account's secret, which renewing needs.
func (m mastodonOAuth) ExchangeCredentials(ctx context.Context, instanceURL, redirectURI string, app OAuthApp, code string) (provider.Credentials, string, error) {
	a := m.app(instanceURL, redirectURI, app)
	tok, err := m.p.ExchangeCode(ctx, a, code)
	if err != nil {
		return provider.Credentials{}, "", err
	}
	cr := provider.Credentials{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: tok.ExpiresAt}
	if tok.RefreshToken == "" {
		return cr, "", nil
	}
	return cr, mastodon.AppSecret(a), nil
}

var (
	_ OAuthFlow            = mastodonOAuth{}
	_ OAuthCredentialsFlow = mastodonOAuth{}
)
