package portal

import (
	"context"
	"strings"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/provider/instagram"
	"github.com/heraldhq/herald/provider/linkedin"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/provider/x"
)

// AppOAuthFlow is a network connected through OAuth with one app of
// Herald's own, configured by the operator (X, LinkedIn, Facebook,
// Instagram, Threads), where OAuthFlow registers an app per server
// (Mastodon). Its errors are errs errors or *provider.Error, like
// OAuthFlow's.
type AppOAuthFlow interface {
	// AuthorizeURL is where to send the user's browser. verifier is a
	// fresh PKCE verifier that Portal keeps sealed with state until the
	// callback; a network without PKCE ignores it.
	AuthorizeURL(state, verifier string) (string, error)
	// Exchange trades the callback's code, with the verifier AuthorizeURL
	// was given, for what the grant lets Herald publish as.
	Exchange(ctx context.Context, code, verifier string) (OAuthGrant, error)
}

// OAuthGrant is what an AppOAuthFlow's callback yields: one account, or
// (Pick) the pages or accounts the user may publish as, to choose from.
type OAuthGrant struct {
	Accounts []GrantedAccount
	Pick     bool
}

// GrantedAccount is one account a grant can connect. A Profile without a
// RemoteID is asked of the network with the credentials (VerifyCredentials).
type GrantedAccount struct {
	// InstanceURL is the network API's base URL the account is stored
	// with (the network's own, or simnet's).
	InstanceURL string
	Credentials provider.Credentials
	Secret      string
	Profile     provider.Profile
	// Detail says more about the choice in a picker ("Instagram account
	// of the page Dana's Cafe").
	Detail string
}

// RedirectURI is Herald's OAuth callback for network, as Portal sends it:
// what an app of Herald's own must register.
func RedirectURI(baseURL, network string) string {
	return strings.TrimSuffix(baseURL, "/") + "/oauth/" + network + "/callback"
}

// XOAuth is X's flow (authorization code with PKCE S256; offline.access
// brings a refresh token, which X rotates): p must have been built with
// x.WithOAuth for Herald's app. apiBase is where the accounts' API calls go.
func XOAuth(p *x.Provider, apiBase string) AppOAuthFlow { return xFlow{p, apiBase} }

type xFlow struct {
	p    *x.Provider
	base string
}

func (f xFlow) AuthorizeURL(state, verifier string) (string, error) {
	return f.p.AuthorizeURL(state, verifier)
}

func (f xFlow) Exchange(ctx context.Context, code, verifier string) (OAuthGrant, error) {
	cr, err := f.p.Exchange(ctx, code, verifier)
	if err != nil {
		return OAuthGrant{}, err
	}
	return OAuthGrant{Accounts: []GrantedAccount{{InstanceURL: f.base, Credentials: cr}}}, nil
}

// LinkedInOAuth is LinkedIn's flow (authorization code bound by state;
// LinkedIn offers web apps no PKCE): p must have been built with
// linkedin.WithOAuth.
func LinkedInOAuth(p *linkedin.Provider, apiBase string) AppOAuthFlow {
	return linkedinFlow{p, apiBase}
}

type linkedinFlow struct {
	p    *linkedin.Provider
	base string
}

func (f linkedinFlow) AuthorizeURL(state, _ string) (string, error) { return f.p.AuthorizeURL(state) }

func (f linkedinFlow) Exchange(ctx context.Context, code, _ string) (OAuthGrant, error) {
	cr, err := f.p.Exchange(ctx, code)
	if err != nil {
		return OAuthGrant{}, err
	}
	return OAuthGrant{Accounts: []GrantedAccount{{InstanceURL: f.base, Credentials: cr}}}, nil
}

// ThreadsOAuth is the Threads authorization: a long-lived token (60 days)
// that the Threads provider renews before it expires.
func ThreadsOAuth(p *threads.Provider, app threads.App, apiBase string) AppOAuthFlow {
	return threadsFlow{p, app, apiBase}
}

type threadsFlow struct {
	p    *threads.Provider
	app  threads.App
	base string
}

func (f threadsFlow) AuthorizeURL(state, _ string) (string, error) {
	return f.p.AuthorizeURL(f.app, state)
}

func (f threadsFlow) Exchange(ctx context.Context, code, _ string) (OAuthGrant, error) {
	c, err := f.p.Connect(ctx, f.app, code)
	if err != nil {
		return OAuthGrant{}, err
	}
	return OAuthGrant{Accounts: []GrantedAccount{{InstanceURL: f.base, Credentials: c.Credentials, Profile: c.Profile}}}, nil
}

// FacebookOAuth is Facebook Login for Pages: the user's long-lived token
// lists the pages they may post as, each with its page token; the user
// picks pages, each becomes an account with its page token, and the user
// token is dropped.
func FacebookOAuth(p *facebook.Provider, app facebook.App, apiBase string) AppOAuthFlow {
	return facebookFlow{p, app, apiBase}
}

type facebookFlow struct {
	p    *facebook.Provider
	app  facebook.App
	base string
}

func (f facebookFlow) AuthorizeURL(state, _ string) (string, error) {
	return f.p.AuthorizeURL(f.app, state)
}

func (f facebookFlow) Exchange(ctx context.Context, code, _ string) (OAuthGrant, error) {
	tok, err := f.p.ExchangeCode(ctx, f.app, code)
	if err != nil {
		return OAuthGrant{}, err
	}
	pages, err := f.p.Pages(ctx, f.app, tok.AccessToken)
	if err != nil {
		return OAuthGrant{}, err
	}
	g := OAuthGrant{Pick: true}
	for _, pg := range pages {
		if !pg.CanPublish() || pg.AccessToken == "" {
			continue
		}
		g.Accounts = append(g.Accounts, GrantedAccount{InstanceURL: f.base, Credentials: provider.Credentials{AccessToken: pg.AccessToken},
			Profile: provider.Profile{RemoteID: pg.ID, DisplayName: pg.Name}, Detail: "Facebook Page"})
	}
	return g, nil
}

// InstagramOAuth is Facebook Login for Instagram: the Instagram
// professional accounts linked to the user's pages, to pick from, each
// published to with its page's token.
func InstagramOAuth(p *instagram.Provider, app instagram.App, apiBase string) AppOAuthFlow {
	return instagramFlow{p, app, apiBase}
}

type instagramFlow struct {
	p    *instagram.Provider
	app  instagram.App
	base string
}

func (f instagramFlow) AuthorizeURL(state, _ string) (string, error) {
	return f.p.AuthorizeURL(f.app, state)
}

func (f instagramFlow) Exchange(ctx context.Context, code, _ string) (OAuthGrant, error) {
	tok, err := f.p.ExchangeCode(ctx, f.app, code)
	if err != nil {
		return OAuthGrant{}, err
	}
	accts, err := f.p.Accounts(ctx, f.app, tok.AccessToken)
	if err != nil {
		return OAuthGrant{}, err
	}
	g := OAuthGrant{Pick: true}
	for _, a := range accts {
		if a.AccessToken == "" {
			continue
		}
		g.Accounts = append(g.Accounts, GrantedAccount{InstanceURL: f.base, Credentials: provider.Credentials{AccessToken: a.AccessToken},
			Profile: provider.Profile{RemoteID: a.ID, Handle: "@" + a.Username, DisplayName: a.Username}, Detail: "linked to the Facebook Page " + a.PageName})
	}
	return g, nil
}
