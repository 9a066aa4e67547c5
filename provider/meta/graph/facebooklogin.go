package graph

import (
	"context"
	"net/url"
	"strings"
)

// App is Herald's Meta app, as Portal configures it.
type App struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is Herald's callback, one of the app's valid OAuth
	// redirect URIs.
	RedirectURL string
	// GraphURL and DialogURL override Meta's hosts (simnet); empty means
	// the network's own.
	GraphURL  string
	DialogURL string
}

// api is def with the app's GraphURL, if it has one.
func (a App) api(def API) API {
	if a.GraphURL != "" {
		def.BaseURL = a.GraphURL
	}
	return def
}

// FacebookLogin is the Facebook Login flow for app on api, asking for
// scopes; Facebook Pages and Instagram (with Facebook Login) both use it.
func FacebookLogin(api API, app App, scopes []string) OAuth {
	api = app.api(api)
	dialog := app.DialogURL
	if dialog == "" {
		dialog = FacebookDialogURL
	}
	return OAuth{
		AuthURL:      strings.TrimSuffix(dialog, "/") + "/" + api.Version + "/dialog/oauth",
		TokenURL:     api.URL("/oauth/access_token", nil),
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		RedirectURL:  app.RedirectURL,
		Scopes:       scopes,
	}
}

// LongLivedUserToken exchanges a Facebook Login code for a user token and
// that for a long-lived one (about 60 days; grant_type=fb_exchange_token).
// Errors are errs errors.
func (c *Client) LongLivedUserToken(ctx context.Context, api API, app App, code string) (Token, error) {
	short, err := c.ExchangeCode(ctx, FacebookLogin(api, app, nil), code)
	if err != nil {
		return Token{}, err
	}
	q := url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {app.ClientID},
		"client_secret":     {app.ClientSecret},
		"fb_exchange_token": {short.AccessToken},
	}
	long, err := c.GetToken(ctx, app.api(api).URL("/oauth/access_token", q), "getting a long-lived token")
	if err != nil {
		return Token{}, ConnectError(err)
	}
	return long, nil
}

// AppPages is Pages on the app's Graph URL, with errs errors.
func (c *Client) AppPages(ctx context.Context, api API, app App, userToken string) ([]Page, error) {
	pages, err := c.Pages(ctx, app.api(api), userToken)
	if err != nil {
		return nil, ConnectError(err)
	}
	return pages, nil
}
