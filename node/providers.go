package node

import (
	"net/http"
	"strings"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/bluesky"
	"github.com/heraldhq/herald/provider/discord"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/provider/instagram"
	"github.com/heraldhq/herald/provider/linkedin"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/provider/slack"
	"github.com/heraldhq/herald/provider/telegram"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/provider/webhook"
	"github.com/heraldhq/herald/provider/x"
)

// providers are the networks this node publishes to and connects accounts
// of, each making its calls through out (the SSRF-safe client).
//
// Networks connected through OAuth with an app of Herald's own (X,
// LinkedIn, Facebook, Instagram, Threads) publish with the tokens their
// accounts hold; their connect flows need the app's credentials, which are
// not configurable yet, so only accounts connected by other means (the
// REST API with a token) use them today.
func providers(out *http.Client, cfg config.Networks) map[string]provider.Provider {
	var (
		tg  []telegram.Option
		dc  []discord.Option
		sl  []slack.Option
		wh  []webhook.Option
		sim = strings.TrimSuffix(cfg.SimnetURL, "/")
	)
	if sim != "" {
		tg = append(tg, telegram.WithBaseURL(sim+"/telegram"))
		dc = append(dc, discord.WithBaseURL(sim+"/discord"))
		sl = append(sl, slack.WithBaseURL(sim+"/slack"))
		wh = append(wh, webhook.WithInsecureHTTP())
	}
	list := []provider.Provider{
		mastodon.New(out),
		bluesky.New(out),
		telegram.New(out, tg...),
		discord.New(out, dc...),
		slack.New(out, sl...),
		webhook.New(out, wh...),
		facebook.New(out),
		instagram.New(out),
		threads.New(out),
		x.New(out),
		linkedin.New(out),
	}
	m := make(map[string]provider.Provider, len(list))
	for _, p := range list {
		m[p.Network()] = p
	}
	return m
}
