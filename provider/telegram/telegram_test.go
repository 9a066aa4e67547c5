package telegram_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/telegram"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim   *simnet.Server
	base  string
	p     *telegram.Provider
	acct  provider.Account
	token string
	chat  simnet.TelegramChat
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// setup starts simnet with a bot that administers a public channel,
// @heraldnews, and a provider allowed to reach loopback.
func setup(t *testing.T) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: func() time.Time { return fixedNow }})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	tok := sim.CreateTelegramBot("herald_bot")
	c := sim.CreateTelegramChat(simnet.TelegramChat{Type: "channel", Title: "Herald News", Username: "heraldnews"})
	sim.SetTelegramMember(c.ID, tok, "administrator")
	base := ts.URL + "/telegram"
	return &env{
		sim: sim, base: base, token: tok, chat: c,
		p: telegram.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), telegram.WithClock(func() time.Time { return fixedNow }), telegram.WithBaseURL(base)),
		acct: provider.Account{
			ID: "acct_tg", Network: telegram.Network, InstanceURL: base,
			AccessToken: tok, RemoteID: "@heraldnews",
		},
	}
}

func image(name, mimeType string, size int) provider.Media {
	b := bytes.Repeat([]byte{0x89}, size)
	return provider.Media{
		FileName: name, MimeType: mimeType, Size: int64(size),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

func asProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T); want *provider.Error", err, err)
	}
	return pe
}

func TestPublishText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Launch day 🚀", IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.TelegramMessages()
	if len(msgs) != 1 || msgs[0].Text != "Launch day 🚀" || msgs[0].ChatID != e.chat.ID {
		t.Fatalf("messages = %+v", msgs)
	}
	if res.RemoteID != "1" || res.RemoteURL != "https://t.me/heraldnews/1" {
		t.Errorf("result = %+v", res)
	}
}

func TestPublishThreadReplies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "1/2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "2/2", ReplyTo: &first}); err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.TelegramMessages()
	if len(msgs) != 2 || msgs[1].ReplyTo != 1 {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestPublishOnePhoto(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "A picture", Media: []provider.Media{image(`C:\pics\a.png`, "image/png", 2048)}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.TelegramMessages()
	if len(msgs) != 1 || msgs[0].Caption != "A picture" || msgs[0].Photo == nil ||
		msgs[0].Photo.Size != 2048 || msgs[0].Photo.FileName != "a.png" || msgs[0].Photo.MimeType != "image/png" {
		t.Fatalf("messages = %+v", msgs)
	}
	if res.RemoteID != "1" {
		t.Errorf("result = %+v", res)
	}
}

func TestPublishMediaGroup(t *testing.T) {
	t.Parallel()
	e := setup(t)
	media := []provider.Media{image("a.jpg", "image/jpeg", 10), image("b.png", "image/png", 20), image("c.webp", "image/webp", 30)}
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Three", Media: media})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.TelegramMessages()
	if len(msgs) != 3 || msgs[0].Caption != "Three" || msgs[1].Caption != "" || msgs[0].MediaGroupID == "" || msgs[2].MediaGroupID != msgs[0].MediaGroupID || msgs[2].Photo.Size != 30 {
		t.Fatalf("messages = %+v", msgs)
	}
	if res.RemoteID != "1" || !strings.HasSuffix(res.Ref, " 1 2 3") {
		t.Errorf("result = %+v", res)
	}
	// Delete removes every message of the group.
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.sim.TelegramMessages() {
		if !m.Deleted {
			t.Errorf("message %d not deleted", m.MessageID)
		}
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Errorf("deleting again: %v; want nil (already gone)", err)
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		arrange func(e *env) (provider.Account, provider.Post)
		kind    provider.Kind
		says    string
	}{
		{"revoked token", func(e *env) (provider.Account, provider.Post) {
			e.sim.RevokeTelegramBot(e.token)
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "@BotFather"},
		{"malformed token", func(e *env) (provider.Account, provider.Post) {
			a := e.acct
			a.AccessToken = "nope"
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "bot token"},
		{"bot kicked", func(e *env) (provider.Account, provider.Post) {
			e.sim.SetTelegramMember(e.chat.ID, e.token, "kicked")
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "bot was kicked from the channel chat"},
		{"bot no longer admin", func(e *env) (provider.Account, provider.Post) {
			e.sim.SetTelegramMember(e.chat.ID, e.token, "member")
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "need administrator rights"},
		{"blocked by user", func(e *env) (provider.Account, provider.Post) {
			c := e.sim.CreateTelegramChat(simnet.TelegramChat{Type: "private"})
			e.sim.SetTelegramMember(c.ID, e.token, "kicked")
			a := e.acct
			a.RemoteID = itoa(c.ID)
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "blocked by the user"},
		{"group became a supergroup", func(e *env) (provider.Account, provider.Post) {
			g := e.sim.CreateTelegramChat(simnet.TelegramChat{Type: "group", Title: "Team"})
			e.sim.SetTelegramMember(g.ID, e.token, "member")
			e.sim.UpgradeTelegramGroup(g.ID)
			a := e.acct
			a.RemoteID = itoa(g.ID)
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "became a supergroup with chat id -100"},
		{"chat gone", func(e *env) (provider.Account, provider.Post) {
			a := e.acct
			a.RemoteID = "@nosuchchannel"
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "chat not found"},
		{"text too long", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: strings.Repeat("x", 4097)}
		}, provider.BadContent, "message is too long"},
		{"empty photo", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: "x", Media: []provider.Media{image("a.png", "image/png", 0)}}
		}, provider.BadContent, "file must be non-empty"},
		{"unreadable attachment", func(e *env) (provider.Account, provider.Post) {
			bad := provider.Media{FileName: "b.png", MimeType: "image/png", Size: 1,
				Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("blob store down") }}
			return e.acct, provider.Post{Text: "x", Media: []provider.Media{bad, bad}}
		}, provider.Retry, "media[0] could not be read"},
		{"server error", func(e *env) (provider.Account, provider.Post) {
			_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 502, RetryAfter: 7 * time.Second})
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Retry, "502"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			acct, post := c.arrange(e)
			_, err := e.p.Publish(t.Context(), acct, post)
			pe := asProviderError(t, err)
			if pe.Kind != c.kind || !strings.Contains(pe.Message, c.says) {
				t.Errorf("err = %v; want %s saying %q", pe, c.kind, c.says)
			}
			if strings.Contains(pe.Error(), e.token) {
				t.Errorf("the error shows the bot token: %v", pe)
			}
			if c.name == "server error" && !pe.RetryAfter.Equal(fixedNow.Add(7*time.Second)) {
				t.Errorf("RetryAfter = %v; want Retry-After honoured", pe.RetryAfter)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.SetTelegramRate(1, time.Minute)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two"})
	pe := asProviderError(t, err)
	if pe.Kind != provider.RateLimited || pe.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v; want rate limited", pe)
	}
	// simnet's clock stands still, so the window has a full minute to go.
	if want := fixedNow.Add(time.Minute); !pe.RetryAfter.Equal(want) {
		t.Errorf("RetryAfter = %v; want %v from parameters.retry_after", pe.RetryAfter, want)
	}
}

func TestLostResponseIsUnknown(t *testing.T) {
	t.Parallel()
	for _, media := range [][]provider.Media{nil, {image("a.png", "image/png", 10)}, {image("a.png", "image/png", 10), image("b.png", "image/png", 10)}} {
		e := setup(t)
		_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
		_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "maybe", Media: media})
		pe := asProviderError(t, err)
		if pe.Kind != provider.Unknown {
			t.Errorf("%d media: err = %v; want unknown", len(media), pe)
		}
		if strings.Contains(pe.Error(), e.token) {
			t.Errorf("the error shows the bot token: %v", pe)
		}
		// The message was posted: Unknown was the truth.
		if n := len(e.sim.TelegramMessages()); n != max(len(media), 1) {
			t.Errorf("%d media: %d messages on the server", len(media), n)
		}
	}
}

func TestUnreachableIsRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	acct := e.acct
	acct.InstanceURL = "http://127.0.0.1:1/telegram"
	_, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "hi"})
	if pe := asProviderError(t, err); pe.Kind != provider.Retry || strings.Contains(pe.Error(), e.token) {
		t.Errorf("err = %v; want retry without the token", pe)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := telegram.New(nil)
	emoji := strings.Repeat("😀", 2048) // 4096 UTF-16 units
	cases := []struct {
		name   string
		text   string
		media  []provider.Media
		fields []string
	}{
		{"fits", emoji, nil, nil},
		{"one unit too many", emoji + "a", nil, []string{"text"}},
		{"empty", " ", nil, []string{"text"}},
		{"caption fits", strings.Repeat("a", 1024), []provider.Media{image("a.png", "image/png", 1)}, nil},
		{"caption too long", strings.Repeat("a", 1025), []provider.Media{image("a.png", "image/png", 1)}, []string{"text"}},
		{"gif", "x", []provider.Media{image("a.gif", "image/gif", 1)}, []string{"media[0]"}},
		{"too big", "x", []provider.Media{image("a.png", "image/png", 10<<20+1)}, []string{"media[0]"}},
		{"eleven", "x", func() []provider.Media {
			m := make([]provider.Media, 11)
			for i := range m {
				m[i] = image("a.png", "image/png", 1)
			}
			return m
		}(), []string{"media"}},
	}
	for _, c := range cases {
		got := p.Validate(c.text, c.media)
		var fields []string
		for _, v := range got {
			fields = append(fields, v.Field)
		}
		if strings.Join(fields, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%s: violations %+v; want fields %v", c.name, got, c.fields)
		}
	}
}

func TestVerifyCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t)
	prof, err := e.p.VerifyCredentials(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	if prof.RemoteID != itoa(e.chat.ID) || prof.Handle != "@heraldnews" || prof.URL != "https://t.me/heraldnews" || prof.DisplayName != "Herald News" {
		t.Errorf("profile = %+v", prof)
	}
	e.sim.RevokeTelegramBot(e.token)
	_, err = e.p.VerifyCredentials(t.Context(), e.acct)
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("revoked: err = %v; want disconnected", pe)
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	e := setup(t)
	conn, err := e.p.Connect(t.Context(), " "+e.token+" ", "@HeraldNews")
	if err != nil {
		t.Fatal(err)
	}
	if conn.Account.RemoteID != itoa(e.chat.ID) || conn.Account.AccessToken != e.token || conn.Account.InstanceURL != e.base ||
		conn.Bot.Handle != "@herald_bot" || conn.Chat.Handle != "@heraldnews" {
		t.Errorf("connection = %+v", conn)
	}
	// The stored numeric id publishes.
	if _, err := e.p.Publish(t.Context(), conn.Account, provider.Post{Text: "connected"}); err != nil {
		t.Errorf("publishing with the connected account: %v", err)
	}

	group := e.sim.CreateTelegramChat(simnet.TelegramChat{Type: "group", Title: "Team"})
	e.sim.SetTelegramMember(group.ID, e.token, "member")
	if _, err := e.p.Connect(t.Context(), e.token, itoa(group.ID)); err != nil {
		t.Errorf("a group member may post: %v", err)
	}

	channel := e.sim.CreateTelegramChat(simnet.TelegramChat{Type: "channel", Title: "Other"})
	e.sim.SetTelegramMember(channel.ID, e.token, "member")
	_, err = e.p.Connect(t.Context(), e.token, itoa(channel.ID))
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || !strings.Contains(pe.Message, "administrator") {
		t.Errorf("a channel member who is not an admin: err = %v", pe)
	}

	_, err = e.p.Connect(t.Context(), e.token, "@nosuchchannel")
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || !strings.Contains(pe.Message, "add @herald_bot") {
		t.Errorf("unknown chat: err = %v", pe)
	}

	_, err = e.p.Connect(t.Context(), "123", "news")
	fe, ok := errs.As(err)
	if !ok || len(fe.Fields) != 2 {
		t.Errorf("malformed input: err = %#v; want errors on bot_token and chat_id", err)
	}
}
