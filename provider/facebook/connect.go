package facebook

import (
	"context"

	"github.com/heraldhq/herald/provider/meta/graph"
)

// App is Herald's Meta app (id, secret, callback; hosts overridable for
// simnet).
type App = graph.App

// Connecting a page takes three calls:
//
//  1. AuthorizeURL, with a random state tied to the user's session: send
//     the browser there.
//  2. On the callback, after checking state, ExchangeCode turns the code
//     into a long-lived user token (about 60 days).
//  3. Pages lists the pages that user manages, with Page tokens; the user
//     picks which to connect, and each becomes an Account (RemoteID the
//     page id, AccessToken its page token, which does not expire). The
//     user token need not be kept.
//
// Their errors are errs errors, for the form that started them.

// AuthorizeURL is the Facebook Login dialog asking for Scopes.
func (p *Provider) AuthorizeURL(app App, state string) (string, error) {
	return graph.FacebookLogin(p.api, app, Scopes).AuthorizeURL(state)
}

// ExchangeCode turns the code from the callback into a long-lived user
// token.
func (p *Provider) ExchangeCode(ctx context.Context, app App, code string) (graph.Token, error) {
	return p.c.LongLivedUserToken(ctx, p.api, app, code)
}

// Pages lists the pages userToken's user manages, each with its Page
// token (GET /me/accounts).
func (p *Provider) Pages(ctx context.Context, app App, userToken string) ([]graph.Page, error) {
	return p.c.AppPages(ctx, p.api, app, userToken)
}
