package facebook

import (
	"context"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/provider/meta/graph"
)

// App is Herald's Meta app, as Portal configures it.
type App struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is Herald's callback, one of the app's valid OAuth
	// redirect URIs.
	RedirectURL string
	// GraphURL and DialogURL override Meta's hosts (simnet); empty means
	// graph.facebook.com and www.facebook.com.
	GraphURL  string
	DialogURL string
}

// Connecting a page takes three calls:
//
//  1. AuthorizeURL, with a random state tied to the user's session: send
//     the browser there.
//  2. On the callback, after checking state, ExchangeCode turns the code
//     into a long-lived user token (about 60 days).
//  3. Pages lists the pages that user manages, with Page tokens; the user
//     picks which to connect, and each becomes an Account (RemoteID the
//     page id, AccessToken its page token). The user token need not be
//     kept.
//
// Their errors are errs errors, for the form that started them.

func (p *Provider) oauth(app App, scopes []string) graph.OAuth {
	api := p.appAPI(app)
	dialog := app.DialogURL
	if dialog == "" {
		dialog = graph.FacebookDialogURL
	}
	return graph.OAuth{
		AuthURL:      strings.TrimSuffix(dialog, "/") + "/" + api.Version + "/dialog/oauth",
		TokenURL:     api.URL("/oauth/access_token", nil),
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		RedirectURL:  app.RedirectURL,
		Scopes:       scopes,
	}
}

func (p *Provider) appAPI(app App) graph.API {
	api := p.api
	if app.GraphURL != "" {
		api.BaseURL = app.GraphURL
	}
	return api
}

// AuthorizeURL is the Facebook Login dialog asking for Scopes.
func (p *Provider) AuthorizeURL(app App, state string) (string, error) {
	return p.oauth(app, Scopes).AuthorizeURL(state)
}

// AuthorizeURLWithScopes is AuthorizeURL for other permissions (the
// instagram provider asks for its own).
func (p *Provider) AuthorizeURLWithScopes(app App, state string, scopes []string) (string, error) {
	return p.oauth(app, scopes).AuthorizeURL(state)
}

// ExchangeCode turns the code from the callback into a long-lived user
// token (GET /oauth/access_token with grant_type=fb_exchange_token).
func (p *Provider) ExchangeCode(ctx context.Context, app App, code string) (graph.Token, error) {
	short, err := p.c.ExchangeCode(ctx, p.oauth(app, Scopes), code)
	if err != nil {
		return graph.Token{}, err
	}
	q := url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {app.ClientID},
		"client_secret":     {app.ClientSecret},
		"fb_exchange_token": {short.AccessToken},
	}
	long, err := p.c.GetToken(ctx, p.appAPI(app).URL("/oauth/access_token", q), "getting a long-lived token")
	if err != nil {
		return graph.Token{}, graph.ConnectError(err)
	}
	return long, nil
}

// Pages lists the pages userToken's user manages, each with its Page
// token (GET /me/accounts).
func (p *Provider) Pages(ctx context.Context, app App, userToken string) ([]graph.Page, error) {
	pages, err := p.c.Pages(ctx, p.appAPI(app), userToken)
	if err != nil {
		return nil, graph.ConnectError(err)
	}
	return pages, nil
}
