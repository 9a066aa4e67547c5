package instagram

import (
	"context"
	"net/http"
	"net/url"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// VerifyCredentials reads the account with acct's token
// (GET /{ig-user-id}?fields=id,username,name).
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	v, err := p.verifyCredentials(ctx, acct)
	return v, graph.WithoutRefresh(err)
}

func (p *Provider) verifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	const op = "checking the Instagram account"
	var out struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	}
	u := api.URL("/"+url.PathEscape(acct.RemoteID), url.Values{"fields": {"id,username,name"}})
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &out); err != nil {
		return provider.Profile{}, err
	}
	if out.ID == "" || out.Username == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no username"}
	}
	name := out.Name
	if name == "" {
		name = out.Username
	}
	return provider.Profile{RemoteID: out.ID, Handle: "@" + out.Username, DisplayName: name, URL: "https://www.instagram.com/" + out.Username + "/"}, nil
}

// App is Herald's Meta app.
type App = graph.App

// Account is an Instagram account the user can connect: a page's linked
// professional account, with the page's token to publish with (it does
// not expire, unlike the user's).
type Account struct {
	ID          string
	Username    string
	PageID      string
	PageName    string
	AccessToken string
}

// Connecting is Facebook Login with Scopes: AuthorizeURL, then
// ExchangeCode on the callback (after checking state), then Accounts lists
// the Instagram accounts linked to the user's pages; each one the user
// picks becomes an Account with RemoteID its ID. Errors are errs errors.

// AuthorizeURL is the Facebook Login dialog asking for Scopes.
func (p *Provider) AuthorizeURL(app App, state string) (string, error) {
	return graph.FacebookLogin(p.api, app, Scopes).AuthorizeURL(state)
}

// ExchangeCode turns the callback's code into a long-lived user token.
func (p *Provider) ExchangeCode(ctx context.Context, app App, code string) (graph.Token, error) {
	return p.c.LongLivedUserToken(ctx, p.api, app, code)
}

// Accounts lists the Instagram professional accounts linked to the pages
// userToken's user manages.
func (p *Provider) Accounts(ctx context.Context, app App, userToken string) ([]Account, error) {
	pages, err := p.c.AppPages(ctx, p.api, app, userToken)
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, pg := range pages {
		if pg.InstagramID != "" {
			out = append(out, Account{ID: pg.InstagramID, Username: pg.InstagramUsername, PageID: pg.ID, PageName: pg.Name, AccessToken: pg.AccessToken})
		}
	}
	return out, nil
}
