package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/discord"
	"github.com/heraldhq/herald/provider/telegram"
	"github.com/heraldhq/herald/simnet"
)

// withChatNetworks runs Portal with the real Telegram and Discord providers
// against a simulated server on loopback (and the fake Mastodon the other
// tests use).
func withChatNetworks(t *testing.T) (*bundle, *simnet.Server, string) {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	out := outbound.NewClient(outbound.Policy{AllowLoopback: true})
	b := setupWith(t, func(d *Deps) {
		d.Providers["telegram"] = telegram.New(out, telegram.WithBaseURL(srv.URL+"/telegram"))
		d.Providers["discord"] = discord.New(out, discord.WithBaseURL(srv.URL+"/discord"))
	})
	return b, sim, srv.URL
}

func TestConnectWithForm(t *testing.T) {
	t.Parallel()
	b, sim, simURL := withChatNetworks(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	accounts := "/api/v1/workspaces/" + a.workspace + "/accounts"

	networks := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/networks", nil)).json(t)["networks"].([]any)
	var tg map[string]any
	for _, n := range networks {
		if m := n.(map[string]any); m["network"] == "telegram" {
			tg = m
		}
	}
	if tg == nil || tg["connect"] != "form" || len(tg["fields"].([]any)) != 2 {
		t.Fatalf("GET /api/v1/networks: telegram is %v, want a form of two fields", tg)
	}

	token := sim.CreateTelegramBot("brand_bot")
	chat := sim.CreateTelegramChat(simnet.TelegramChat{Type: "channel", Title: "Brand news", Username: "brandnews"})
	before := b.count(t, "portal_accounts")
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string // a field in error, or a word of the message
	}{
		{"nothing given", map[string]any{}, "fields.bot_token"},
		{"token of the wrong shape", map[string]any{"bot_token": "nope", "chat_id": "@brandnews"}, "fields.bot_token"},
		{"bot not in the chat", map[string]any{"bot_token": token, "chat_id": "@brandnews"}, "@brand_bot"},
	} {
		res := a.owner.do("POST", accounts, map[string]any{"network": "telegram", "fields": tc.fields})
		body := string(res.Body)
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 422 naming %q", tc.name, res.Status, body, tc.want)
		}
		if strings.Contains(body, token) {
			t.Errorf("%s: the bot token came back in the error: %s", tc.name, body)
		}
	}
	if n := b.count(t, "portal_accounts"); n != before {
		t.Fatalf("refused connects stored %d accounts", n-before)
	}

	sim.SetTelegramMember(chat.ID, token, "administrator")
	acct := a.owner.must(http.StatusCreated, a.owner.do("POST", accounts, map[string]any{"network": "telegram",
		"fields": map[string]any{"bot_token": token, "chat_id": "@brandnews"}})).json(t)
	if acct["network"] != "telegram" || acct["handle"] != "@brandnews" || acct["status"] != AccountActive {
		t.Fatalf("connected account = %v", acct)
	}

	hook := sim.CreateDiscordWebhook("Brand")
	hookURL := simURL + "/discord/api/webhooks/" + hook.ID + "/" + hook.Token
	res := a.owner.do("POST", accounts, map[string]any{"network": "discord", "fields": map[string]any{"webhook_url": hookURL}})
	if res.Status != http.StatusCreated || strings.Contains(string(res.Body), hook.Token) {
		t.Fatalf("discord connect: %d %s (the webhook's token must not be shown)", res.Status, res.Body)
	}
	dc := res.json(t)
	if dc["instance_url"] != "https://discord.com" {
		t.Errorf("discord account shows %v, want Discord's address only", dc["instance_url"])
	}

	// Publisher gets what each network needs.
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Hello channels", "account_ids": []string{acct["id"].(string), dc["id"].(string)}, "scheduled_at": future()})).json(t)
	job, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: post["id"].(string), Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]*portalv1.Target{}
	for _, tgt := range job.GetJob().GetTargets() {
		targets[tgt.GetNetwork()] = tgt
	}
	if tgt := targets["telegram"]; tgt.GetAccessToken() != token || tgt.GetRemoteId() != acct["remote_id"] ||
		!strings.HasPrefix(tgt.GetRemoteId(), "-100") {
		t.Errorf("telegram target = %v, want the bot token and the channel's numeric id", tgt)
	}
	if tgt := targets["discord"]; tgt.GetAccessToken() != hookURL {
		t.Errorf("discord target's credential = %q, want the webhook URL", tgt.GetAccessToken())
	}
	// The providers publish with exactly that.
	p := telegram.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), telegram.WithBaseURL(simURL+"/telegram"))
	tgt := targets["telegram"]
	if _, err := p.Publish(ctx, provider.Account{Network: tgt.GetNetwork(), InstanceURL: tgt.GetInstanceUrl(),
		AccessToken: tgt.GetAccessToken(), RemoteID: tgt.GetRemoteId()}, provider.Post{Text: "Hello channels", IdempotencyKey: "k1"}); err != nil {
		t.Fatalf("publishing with the stored telegram credentials: %v", err)
	}
	if msgs := sim.TelegramMessages(); len(msgs) != 1 {
		t.Errorf("telegram messages %v, want 1", msgs)
	}

	// A network that connects with a token, not a form, says so.
	if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", accounts, map[string]any{"network": "mastodon",
		"fields": map[string]any{"x": "y"}})).errorFields(t); f["network"] == nil {
		t.Errorf("fields for mastodon: %v, want an error on network", f)
	}
}

// TestUIConnectWithForm: the workspace page offers a form per form
// network; a refused one comes back with the problem and without the
// secret typed, an accepted one connects the account.
func TestUIConnectWithForm(t *testing.T) {
	t.Parallel()
	b, sim, _ := withChatNetworks(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	path := "/workspaces/" + a.workspace
	page := c.must(http.StatusOK, c.get(path)).Body
	wantText(t, page, "Connect a Telegram account")
	if !strings.Contains(page, `name="bot_token" type="password"`) {
		t.Error("the bot token is not typed into a password input")
	}
	token := c.csrf()

	bot := sim.CreateTelegramBot("brand_bot")
	chat := sim.CreateTelegramChat(simnet.TelegramChat{Type: "channel", Title: "Brand", Username: "brandui"})
	res := c.must(http.StatusUnprocessableEntity, c.post(path+"/accounts/form", url.Values{
		"network": {"telegram"}, "bot_token": {bot}, "chat_id": {"@brandui"}, "csrf_token": {token}}))
	wantText(t, res.Body, "@brand_bot")
	if strings.Contains(res.Body, bot) {
		t.Error("the refused page shows the bot token")
	}
	if !strings.Contains(res.Body, `id="connect-telegram" open`) {
		t.Error("the refused form is not shown open")
	}
	sim.SetTelegramMember(chat.ID, bot, "administrator")
	c.must(http.StatusSeeOther, c.post(path+"/accounts/form", url.Values{
		"network": {"telegram"}, "bot_token": {bot}, "chat_id": {"@brandui"}, "csrf_token": {token}}), path+"#accounts")
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "is connected. You can now schedule posts to it.")
}
