package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

type user struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username"`
}

type chatMember struct {
	Status          string `json:"status"`
	CanPostMessages bool   `json:"can_post_messages"`
	CanSendMessages *bool  `json:"can_send_messages"`
}

var chatIDRE = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)

// VerifyCredentials checks the bot token (getMe) and that the bot still
// sees the chat (getChat), and returns the chat as the account's profile.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	if perr := account(acct); perr != nil {
		return provider.Profile{}, perr
	}
	base := p.baseFor(acct)
	var bot user
	if perr := p.do(ctx, base, acct.AccessToken, call{method: "getMe", op: "checking the bot token"}, &bot); perr != nil {
		return provider.Profile{}, perr
	}
	c, perr := p.getChat(ctx, base, acct.AccessToken, acct.RemoteID)
	if perr != nil {
		return provider.Profile{}, perr
	}
	return chatProfile(c), nil
}

func chatProfile(c chat) provider.Profile {
	pr := provider.Profile{RemoteID: strconv.FormatInt(c.ID, 10), DisplayName: c.Title, Handle: c.Title}
	if c.Username != "" {
		pr.Handle = "@" + c.Username
		pr.URL = "https://t.me/" + c.Username
	}
	return pr
}

func (p *Provider) getChat(ctx context.Context, base, token, chatID string) (chat, *provider.Error) {
	body, _ := json.Marshal(map[string]string{"chat_id": chatID})
	var c chat
	perr := p.do(ctx, base, token, call{method: "getChat", op: "finding the chat", body: bytes.NewReader(body), contentType: "application/json"}, &c)
	return c, perr
}

// Connection is what Connect found: the account to store and who is who.
type Connection struct {
	// Account has Network, AccessToken, RemoteID (the chat's numeric id,
	// which stays when a channel's @username changes), Handle and, when
	// the provider's Bot API address is not the public one, InstanceURL.
	Account provider.Account
	Bot     provider.Profile
	Chat    provider.Profile
}

// Connect checks a bot token and chat as a user typed them into the
// connect form: the token's shape and that Telegram takes it (getMe), that
// the chat exists for the bot (getChat) and that the bot may post there
// (getChatMember: an administrator with the right to post in a channel, a
// member not barred from sending in a group), against the provider's Bot
// API address (WithBaseURL). Malformed input is an errs.Fields error on "bot_token"
// or "chat_id"; what Telegram refuses is a *provider.Error whose Message
// says what to fix.
func (p *Provider) Connect(ctx context.Context, token, chatID string) (Connection, error) {
	token, chatID = strings.TrimSpace(token), strings.TrimSpace(chatID)
	var f errs.Fields
	if !tokenRE.MatchString(token) {
		f.Add("bot_token", "is not a bot token; @BotFather gives one shaped like 123456789:AAH…")
	}
	if !chatIDRE.MatchString(chatID) {
		f.Add("chat_id", "must be a chat id such as -1001234567890 or a public channel's @username")
	}
	if err := f.Err(); err != nil {
		return Connection{}, err
	}
	base := p.base
	var bot user
	if perr := p.do(ctx, base, token, call{method: "getMe", op: "checking the bot token"}, &bot); perr != nil {
		return Connection{}, perr
	}
	c, perr := p.getChat(ctx, base, token, chatID)
	if perr != nil {
		if perr.Kind == provider.Disconnected || perr.Kind == provider.BadContent {
			perr.Kind = provider.Disconnected
			perr.Message += fmt.Sprintf(" (add @%s to the chat first)", bot.Username)
		}
		return Connection{}, perr
	}
	body, _ := json.Marshal(map[string]any{"chat_id": c.ID, "user_id": bot.ID})
	var m chatMember
	if perr := p.do(ctx, base, token, call{method: "getChatMember", op: "checking the bot's rights in the chat", body: bytes.NewReader(body), contentType: "application/json"}, &m); perr != nil {
		return Connection{}, perr
	}
	if problem := postingProblem(c, m); problem != "" {
		return Connection{}, &provider.Error{Kind: provider.Disconnected, Message: fmt.Sprintf("@%s %s", bot.Username, problem)}
	}
	chatProf := chatProfile(c)
	acct := provider.Account{
		Network:     Network,
		AccessToken: token,
		RemoteID:    chatProf.RemoteID,
		Handle:      chatProf.Handle,
	}
	if base != DefaultBaseURL {
		acct.InstanceURL = base
	}
	botProf := provider.Profile{RemoteID: strconv.FormatInt(bot.ID, 10), Handle: "@" + bot.Username, DisplayName: bot.FirstName, URL: "https://t.me/" + bot.Username}
	return Connection{Account: acct, Bot: botProf, Chat: chatProf}, nil
}

// postingProblem says why a member with m cannot post in c, or "".
func postingProblem(c chat, m chatMember) string {
	switch m.Status {
	case "creator":
		return ""
	case "administrator":
		if c.Type == "channel" && !m.CanPostMessages {
			return "is an administrator of the channel without the right to post messages; allow it to post"
		}
		return ""
	case "member":
		if c.Type == "channel" {
			return "must be an administrator of the channel to post; make it one with the right to post messages"
		}
		return ""
	case "restricted":
		if m.CanSendMessages != nil && *m.CanSendMessages {
			return ""
		}
		return "is barred from sending messages in the chat; lift the restriction"
	case "kicked":
		return "was removed from the chat; add it again"
	default:
		return "is not a member of the chat; add it first"
	}
}
