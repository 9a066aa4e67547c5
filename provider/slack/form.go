package slack

import (
	"context"

	"github.com/heraldhq/herald/provider"
)

// ConnectFields are the Slack connect form: an incoming webhook's URL.
func (p *Provider) ConnectFields() []provider.ConnectField {
	return []provider.ConnectField{
		{Name: "webhook_url", Label: "Webhook URL", Secret: true, Placeholder: "https://hooks.slack.com/services/…",
			Help: "From a Slack app with Incoming Webhooks turned on, for the channel to post to."},
	}
}

// ConnectForm checks the webhook (see Connect). Its URL is the credential,
// so it is stored sealed as the access token; the account shows Slack's
// address only.
func (p *Provider) ConnectForm(ctx context.Context, v map[string]string) (provider.Connected, error) {
	acct, err := p.Connect(ctx, v["webhook_url"])
	if err != nil {
		return provider.Connected{}, err
	}
	acct.AccessToken, acct.InstanceURL = acct.InstanceURL, shownAddress
	prof := provider.Profile{RemoteID: acct.RemoteID, Handle: acct.Handle, DisplayName: acct.Handle}
	return provider.Connected{Account: acct, Profile: prof}, nil
}

var _ provider.FormConnector = (*Provider)(nil)

// shownAddress is the account's address as Portal shows it.
const shownAddress = "https://hooks.slack.com"
