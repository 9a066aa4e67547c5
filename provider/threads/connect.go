package threads

import (
	"context"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// App is Herald's Threads app (the Threads app id and secret, which differ
// from the Meta app's). GraphURL and DialogURL override graph.threads.net
// and threads.net (simnet).
type App = graph.App

// Connection is what connecting a Threads profile yields: a long-lived
// token (60 days) and whose it is.
type Connection struct {
	Credentials provider.Credentials
	Profile     provider.Profile
}

// Connecting is AuthorizeURL (with a random state tied to the session),
// then Connect on the callback after checking state. Errors are errs
// errors.

func (p *Provider) oauth(app App) graph.OAuth {
	base := p.api.BaseURL
	if app.GraphURL != "" {
		base = app.GraphURL
	}
	dialog := app.DialogURL
	if dialog == "" {
		dialog = graph.ThreadsDialogURL
	}
	return graph.OAuth{
		AuthURL:      strings.TrimSuffix(dialog, "/") + "/oauth/authorize",
		TokenURL:     strings.TrimSuffix(base, "/") + "/oauth/access_token",
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		RedirectURL:  app.RedirectURL,
		Scopes:       Scopes,
	}
}

// AuthorizeURL is the Threads authorization window asking for Scopes.
func (p *Provider) AuthorizeURL(app App, state string) (string, error) {
	return p.oauth(app).AuthorizeURL(state)
}

// Connect exchanges the callback's code for a short-lived token, that for
// a long-lived one (GET /access_token, grant_type=th_exchange_token), and
// reads whose it is.
func (p *Provider) Connect(ctx context.Context, app App, code string) (Connection, error) {
	short, err := p.c.ExchangeCode(ctx, p.oauth(app), code)
	if err != nil {
		return Connection{}, err
	}
	api := p.api
	if app.GraphURL != "" {
		api.BaseURL = app.GraphURL
	}
	q := url.Values{"grant_type": {"th_exchange_token"}, "client_secret": {app.ClientSecret}, "access_token": {short.AccessToken}}
	long, err := p.c.GetToken(ctx, api.Unversioned("/access_token", q), "getting a long-lived Threads token")
	if err != nil {
		return Connection{}, graph.ConnectError(err)
	}
	prof, err := p.me(ctx, api, long.AccessToken, "")
	if err != nil {
		return Connection{}, graph.ConnectError(err)
	}
	return Connection{Credentials: provider.Credentials{AccessToken: long.AccessToken, ExpiresAt: long.ExpiresAt}, Profile: prof}, nil
}
