package telegram

import (
	"context"

	"github.com/heraldhq/herald/provider"
)

// ConnectFields are the Telegram connect form: the bot's token and the
// chat it posts to.
func (p *Provider) ConnectFields() []provider.ConnectField {
	return []provider.ConnectField{
		{Name: "bot_token", Label: "Bot token", Secret: true, Placeholder: "123456789:AAH…",
			Help: "From @BotFather. Add the bot to the channel or group as an administrator allowed to post."},
		{Name: "chat_id", Label: "Chat", Placeholder: "@brandchannel or -1001234567890",
			Help: "A public channel's @username, or the chat's numeric id."},
	}
}

// ConnectForm checks the bot and chat (see Connect). The account is the
// chat: its numeric id is the remote id Publish posts to.
func (p *Provider) ConnectForm(ctx context.Context, v map[string]string) (provider.Connected, error) {
	c, err := p.Connect(ctx, v["bot_token"], v["chat_id"])
	if err != nil {
		return provider.Connected{}, err
	}
	return provider.Connected{Account: c.Account, Profile: c.Chat}, nil
}

var _ provider.FormConnector = (*Provider)(nil)
