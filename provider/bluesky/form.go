package bluesky

import (
	"context"

	"github.com/heraldhq/herald/provider"
)

// ConnectFields are the Bluesky connect form: a handle and an app
// password, and the PDS for accounts not hosted by Bluesky itself. The app
// password is used once, to open the session, and never stored.
func (p *Provider) ConnectFields() []provider.ConnectField {
	return []provider.ConnectField{
		{Name: "handle", Label: "Handle", Placeholder: "brand.bsky.social", Help: "The account's handle or the email it signs in with."},
		{Name: "app_password", Label: "App password", Secret: true, Placeholder: "xxxx-xxxx-xxxx-xxxx",
			Help: "Made in Bluesky's Settings › Privacy and security › App passwords; not the account's password."},
		{Name: "pds_url", Label: "Server", Optional: true, Placeholder: DefaultPDS,
			Help: "Only for an account on its own server (PDS)."},
	}
}

// ConnectForm signs in with the form's values (see Connect).
func (p *Provider) ConnectForm(ctx context.Context, v map[string]string) (provider.Connected, error) {
	c, err := p.Connect(ctx, v["pds_url"], v["handle"], v["app_password"])
	if err != nil {
		return provider.Connected{}, err
	}
	return provider.Connected{Account: c.Account(), Profile: c.Profile}, nil
}

var _ provider.FormConnector = (*Provider)(nil)
