package webhook

import (
	"context"

	"github.com/heraldhq/herald/provider"
)

// ConnectFields are the signed webhook's connect form: the endpoint and
// the secret its payloads are signed with.
func (p *Provider) ConnectFields() []provider.ConnectField {
	return []provider.ConnectField{
		{Name: "webhook_url", Label: "Endpoint URL", Placeholder: "https://example.com/herald",
			Help: "Herald POSTs each post there as JSON, signed; receivers deduplicate on Herald-Webhook-Id."},
		{Name: "secret", Label: "Signing secret", Secret: true, Placeholder: "whsec_…",
			Help: "At least 16 characters; the receiver checks Herald-Signature with it. Rotate by giving \"new,old\" for a while."},
	}
}

// ConnectForm checks the endpoint with a signed ping (see Connect).
func (p *Provider) ConnectForm(ctx context.Context, v map[string]string) (provider.Connected, error) {
	acct, err := p.Connect(ctx, v["webhook_url"], v["secret"])
	if err != nil {
		return provider.Connected{}, err
	}
	prof := provider.Profile{RemoteID: acct.RemoteID, Handle: acct.Handle, DisplayName: acct.Handle, URL: acct.InstanceURL}
	return provider.Connected{Account: acct, Profile: prof}, nil
}

var _ provider.FormConnector = (*Provider)(nil)
