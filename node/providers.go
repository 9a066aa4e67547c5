package node

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/mediaurl"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/bluesky"
	"github.com/heraldhq/herald/provider/discord"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/provider/instagram"
	"github.com/heraldhq/herald/provider/linkedin"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/provider/meta/graph"
	"github.com/heraldhq/herald/provider/slack"
	"github.com/heraldhq/herald/provider/telegram"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/provider/webhook"
	"github.com/heraldhq/herald/provider/x"
)

// providers are the networks this node publishes to and connects accounts
// of, each making its calls through out (the SSRF-safe client), and the
// OAuth connect flows of the networks connected through an app of
// Herald's own (X, LinkedIn, Facebook, Instagram, Threads) whose app is
// configured; baseURL is Herald's public address, which the flows'
// callbacks live under. With networks.simnet_url, every network with a
// fixed address (its API, authorization and token endpoints) is sent to
// that simnet instead.
//
// media signs the links to a post's media that Instagram, Threads and
// signed-webhook receivers fetch (Portal serves them under baseURL, which
// must be reachable from the network for those to work).
func providers(out *http.Client, baseURL string, cfg config.Networks, media *mediaurl.Signer) (map[string]provider.Provider, map[string]portal.AppOAuthFlow) {
	var (
		tg  []telegram.Option
		dc  []discord.Option
		sl  []slack.Option
		wh  = []webhook.Option{webhook.WithMediaURLs(signedLink(media))}
		xo  []x.Option
		lo  []linkedin.Option
		sim = strings.TrimSuffix(cfg.SimnetURL, "/")
	)
	// The networks' API bases, stored with their accounts.
	xBase, liBase, fbBase, thBase := x.DefaultBaseURL, linkedin.DefaultBaseURL, graph.FacebookBaseURL, graph.ThreadsBaseURL
	metaApp := graph.App{ClientID: cfg.Meta.AppID, ClientSecret: cfg.Meta.AppSecret}
	threadsApp := graph.App{ClientID: cfg.Threads.AppID, ClientSecret: cfg.Threads.AppSecret,
		RedirectURL: portal.RedirectURI(baseURL, threads.Network)}
	xApp := x.App{ClientID: cfg.X.ClientID, ClientSecret: cfg.X.ClientSecret, RedirectURL: portal.RedirectURI(baseURL, x.Network)}
	liApp := linkedin.App{ClientID: cfg.LinkedIn.ClientID, ClientSecret: cfg.LinkedIn.ClientSecret, RedirectURL: portal.RedirectURI(baseURL, linkedin.Network)}
	if sim != "" {
		tg = append(tg, telegram.WithBaseURL(sim+"/telegram"))
		dc = append(dc, discord.WithBaseURL(sim+"/discord"))
		sl = append(sl, slack.WithBaseURL(sim+"/slack"))
		wh = append(wh, webhook.WithInsecureHTTP())
		xBase, liBase, fbBase, thBase = sim+"/x", sim+"/linkedin", sim+"/graph", sim+"/threads"
		xApp.AuthURL, xApp.TokenURL = sim+"/x/i/oauth2/authorize", sim+"/x/2/oauth2/token"
		liApp.AuthURL, liApp.TokenURL = sim+"/linkedin/oauth/v2/authorization", sim+"/linkedin/oauth/v2/accessToken"
		metaApp.GraphURL, metaApp.DialogURL = fbBase, sim+"/facebook"
		threadsApp.GraphURL, threadsApp.DialogURL = thBase, thBase
	}
	flows := map[string]portal.AppOAuthFlow{}
	if xApp.ClientID != "" {
		xo = append(xo, x.WithOAuth(x.OAuthConfig(xApp)))
	}
	if liApp.ClientID != "" {
		lo = append(lo, linkedin.WithOAuth(linkedin.OAuthConfig(liApp)))
	}
	// Photos are uploaded; videos (up to 1 GB) go by a signed link that
	// Facebook downloads, rather than through this node.
	fb := facebook.New(out, facebook.WithVideoURL(signedLink(media)))
	ig := instagram.New(out, instagram.WithMediaURL(signedLink(media)))
	th := threads.New(out, threads.WithMediaURL(signedLink(media)))
	xp, lip := x.New(out, xo...), linkedin.New(out, lo...)
	if xApp.ClientID != "" {
		flows[x.Network] = portal.XOAuth(xp, xBase)
	}
	if liApp.ClientID != "" {
		flows[linkedin.Network] = portal.LinkedInOAuth(lip, liBase)
	}
	if metaApp.ClientID != "" {
		fbApp, igApp := metaApp, metaApp
		fbApp.RedirectURL = portal.RedirectURI(baseURL, facebook.Network)
		igApp.RedirectURL = portal.RedirectURI(baseURL, instagram.Network)
		flows[facebook.Network] = portal.FacebookOAuth(fb, fbApp, fbBase)
		flows[instagram.Network] = portal.InstagramOAuth(ig, igApp, fbBase)
	}
	if threadsApp.ClientID != "" {
		flows[threads.Network] = portal.ThreadsOAuth(th, threadsApp, thBase)
	}
	list := []provider.Provider{
		mastodon.New(out),
		bluesky.New(out),
		telegram.New(out, tg...),
		discord.New(out, dc...),
		slack.New(out, sl...),
		webhook.New(out, wh...),
		fb, ig, th, xp, lip,
	}
	m := make(map[string]provider.Provider, len(list))
	for _, p := range list {
		m[p.Network()] = p
	}
	return m, flows
}

// signedLink gives a provider a public link to a medium: signed, for an
// hour.
func signedLink(s *mediaurl.Signer) func(ctx context.Context, m provider.Media) (string, error) {
	return func(_ context.Context, m provider.Media) (string, error) {
		if m.Key == "" {
			return "", errors.New("the attachment has no key in media storage")
		}
		return s.URL(m.Key, mediaurl.DefaultTTL), nil
	}
}
