package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// tokenRE is the shape of a bot token: the bot's id, a colon, a secret.
var tokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)

// envelope is every Bot API answer.
type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter      float64 `json:"retry_after"`
		MigrateToChatID int64   `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// call is one Bot API method call: body (with its content type) is sent as
// a POST, or nil for a GET. maybeApplied marks sends, whose lost answer is
// Unknown.
type call struct {
	method       string
	op           string
	body         io.Reader
	contentType  string
	maybeApplied bool
}

// baseFor is where acct's Bot API is.
func (p *Provider) baseFor(acct provider.Account) string {
	if acct.InstanceURL != "" {
		return strings.TrimSuffix(acct.InstanceURL, "/")
	}
	return p.base
}

func checkToken(token string) *provider.Error {
	if !tokenRE.MatchString(token) {
		return &provider.Error{Kind: provider.Disconnected, Message: "the account has no valid bot token; reconnect it with the token @BotFather gave"}
	}
	return nil
}

// do makes the call; result, when not nil, receives the answer's result.
func (p *Provider) do(ctx context.Context, base, token string, c call, result any) *provider.Error {
	if perr := checkToken(token); perr != nil {
		return perr
	}
	method := http.MethodGet
	if c.body != nil {
		method = http.MethodPost
	}
	endpoint := base + "/bot" + token + "/" + c.method
	req, perr := httpcall.NewRequest(ctx, method, endpoint, c.body, c.op)
	if perr != nil {
		perr.Err = httpcall.Redact(perr.Err, token)
		return perr
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	req.Header.Set("Accept", "application/json")
	ex, err := httpcall.Do(p.client, req)
	if err != nil {
		return httpcall.TransportError(httpcall.Redact(err, token), ex, c.op, "Telegram", c.maybeApplied)
	}
	var env envelope
	jsonErr := json.Unmarshal(ex.Body, &env)
	if ex.Res.StatusCode == http.StatusOK && jsonErr == nil && env.OK {
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(env.Result, result); err != nil {
			return unreadable(c, ex, err)
		}
		return nil
	}
	if ex.Res.StatusCode == http.StatusOK {
		// A 200 that is not {"ok":true}: something answered that is not
		// the Bot API, or an answer broke off.
		if jsonErr == nil && env.ErrorCode != 0 {
			return p.apiError(ex, env, c.op)
		}
		return unreadable(c, ex, jsonErr)
	}
	return p.apiError(ex, env, c.op)
}

func unreadable(c call, ex httpcall.Exchange, err error) *provider.Error {
	if err == nil {
		err = fmt.Errorf("telegram: unexpected answer %.200q", ex.Body)
	}
	kind := provider.Retry
	if c.maybeApplied {
		// Telegram said yes but not in a way we can read: the message
		// probably exists.
		kind = provider.Unknown
	}
	return &provider.Error{Kind: kind, Status: ex.Status(), Message: c.op + ": Telegram's answer could not be read", Err: err}
}

// accountProblems are 400 descriptions about the bot's place in the chat,
// not about the content: the account must be fixed, not the post.
var accountProblems = []string{
	"chat not found",
	"need administrator rights",
	"not enough rights",
	"have no rights to send",
	"chat_write_forbidden",
	"bot is not a member",
	"group chat was upgraded",
	"chat_admin_required",
}

// apiError maps a refusal. Telegram's error_code is the HTTP status and its
// description says why ("Forbidden: bot was kicked from the channel chat").
func (p *Provider) apiError(ex httpcall.Exchange, env envelope, op string) *provider.Error {
	code := env.ErrorCode
	if code == 0 {
		code = ex.Res.StatusCode
	}
	said := httpcall.Short(env.Description)
	msg := func(fallback string) string {
		if said != "" {
			return op + ": Telegram said " + said
		}
		return op + ": " + fallback
	}
	e := &provider.Error{Status: ex.Res.StatusCode}
	lower := strings.ToLower(said)
	switch {
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = provider.RateLimited, msg("rate limited by Telegram")
		e.RetryAfter = httpcall.After(p.now(), env.Parameters.RetryAfter)
		if env.Parameters.RetryAfter == 0 {
			e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
		}
		if e.RetryAfter.IsZero() {
			e.RetryAfter = p.now().Add(time.Minute)
		}
	case code == http.StatusUnauthorized, code == http.StatusNotFound:
		e.Kind, e.Message = provider.Disconnected, op+": Telegram refused the bot token (revoked or mistyped); reconnect with the bot's current token from @BotFather"
	case code == http.StatusForbidden:
		e.Kind, e.Message = provider.Disconnected, msg("Telegram refused the bot access to the chat")+"; add the bot to the chat again, then reconnect"
	case env.Parameters.MigrateToChatID != 0:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the group became a supergroup with chat id %d; reconnect the account with that id", op, env.Parameters.MigrateToChatID)
	case code == http.StatusBadRequest && containsAny(lower, accountProblems):
		e.Kind, e.Message = provider.Disconnected, msg("the bot may not post in the chat")+"; give the bot the right to post there (an administrator of a channel), then reconnect"
	case code == http.StatusRequestTimeout, code >= 500:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("Telegram answered %d", code))
		e.RetryAfter = httpcall.RetryAfter(ex.Res.Header, p.now())
	case code >= 300 && code < 400:
		e.Kind, e.Message = provider.Disconnected, fmt.Sprintf("%s: the Bot API address redirects elsewhere (%d); check the account's API address", op, code)
	case code >= 400:
		e.Kind, e.Message = provider.BadContent, msg(fmt.Sprintf("Telegram refused it (%d)", code))
	default:
		e.Kind, e.Message = provider.Retry, msg(fmt.Sprintf("unexpected answer %d from Telegram", code))
	}
	return e
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
