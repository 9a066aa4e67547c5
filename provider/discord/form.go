package discord

import (
	"context"

	"github.com/heraldhq/herald/provider"
)

// ConnectFields are the Discord connect form: a channel webhook's URL.
func (p *Provider) ConnectFields() []provider.ConnectField {
	return []provider.ConnectField{
		{Name: "webhook_url", Label: "Webhook URL", Secret: true, Placeholder: "https://discord.com/api/webhooks/…",
			Help: "Channel settings › Integrations › Webhooks › Copy Webhook URL."},
	}
}

// ConnectForm checks the webhook (see Connect). Its URL is the credential,
// so it is stored sealed as the access token; the account shows Discord's
// address only.
func (p *Provider) ConnectForm(ctx context.Context, v map[string]string) (provider.Connected, error) {
	acct, prof, err := p.Connect(ctx, v["webhook_url"])
	if err != nil {
		return provider.Connected{}, err
	}
	acct.AccessToken, acct.InstanceURL = acct.InstanceURL, shownAddress
	if acct.RemoteID != "" {
		prof.RemoteID = acct.RemoteID
	}
	return provider.Connected{Account: acct, Profile: prof}, nil
}

var _ provider.FormConnector = (*Provider)(nil)

// shownAddress is the account's address as Portal shows it.
const shownAddress = "https://discord.com"
