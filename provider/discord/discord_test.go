package discord_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/discord"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim  *simnet.Server
	url  string
	hook simnet.DiscordWebhook
	p    *discord.Provider
	acct provider.Account
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: func() time.Time { return fixedNow }})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	h := sim.CreateDiscordWebhook("Herald")
	p := discord.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}),
		discord.WithBaseURL(ts.URL+"/discord"), discord.WithClock(func() time.Time { return fixedNow }))
	return &env{
		sim: sim, url: ts.URL, hook: h, p: p,
		acct: provider.Account{
			ID: "acct_dc", Network: discord.Network,
			InstanceURL: ts.URL + "/discord/api/webhooks/" + h.ID + "/" + h.Token,
			RemoteID:    h.GuildID + "/" + h.ChannelID,
		},
	}
}

func file(name, mimeType, description string, size int) provider.Media {
	b := bytes.Repeat([]byte{1}, size)
	return provider.Media{
		FileName: name, MimeType: mimeType, Size: int64(size), Description: description,
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
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Hello @everyone"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.DiscordMessages()
	if len(msgs) != 1 || msgs[0].Content != "Hello @everyone" || strings.Join(msgs[0].AllowedMentions, ",") != "users" {
		t.Fatalf("messages = %+v", msgs)
	}
	want := "https://discord.com/channels/" + e.hook.GuildID + "/" + e.hook.ChannelID + "/" + msgs[0].ID
	if res.RemoteID != msgs[0].ID || res.RemoteURL != want {
		t.Errorf("result = %+v; want id %s, url %s", res, msgs[0].ID, want)
	}
	rl, ok := e.p.RateLimit(e.acct)
	if !ok || rl.Limit != simnet.DiscordDefaultRate || rl.Remaining != simnet.DiscordDefaultRate-1 || !rl.Reset.Equal(fixedNow.Add(simnet.DiscordDefaultWindow)) {
		t.Errorf("rate limit = %+v, %v", rl, ok)
	}
}

func TestPublishFiles(t *testing.T) {
	t.Parallel()
	e := setup(t)
	media := []provider.Media{file("a.png", "image/png", "a chart", 100), file(`C:\v\clip.mp4`, "video/mp4", "", 300)}
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Files", Media: media})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.DiscordMessages()
	if len(msgs) != 1 || msgs[0].Content != "Files" || len(msgs[0].Attachments) != 2 {
		t.Fatalf("messages = %+v", msgs)
	}
	a, b := msgs[0].Attachments[0], msgs[0].Attachments[1]
	if a.Filename != "a.png" || a.Description != "a chart" || a.Size != 100 || a.ContentType != "image/png" ||
		b.Filename != "clip.mp4" || b.Size != 300 || b.ContentType != "video/mp4" {
		t.Errorf("attachments = %+v", msgs[0].Attachments)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Fatal(err)
	}
	if !e.sim.DiscordMessages()[0].Deleted {
		t.Error("the message was not deleted")
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
		{"webhook deleted", func(e *env) (provider.Account, provider.Post) {
			e.sim.DeleteDiscordWebhook(e.hook.ID)
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "no such webhook"},
		{"token reset", func(e *env) (provider.Account, provider.Post) {
			a := e.acct
			a.InstanceURL = strings.Replace(a.InstanceURL, e.hook.Token, strings.Repeat("x", 68), 1)
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "token"},
		{"not a webhook URL", func(e *env) (provider.Account, provider.Post) {
			a := e.acct
			a.InstanceURL = "https://example.com/hook"
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "not a Discord webhook"},
		{"too long", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: strings.Repeat("😀", 1001)}
		}, provider.BadContent, "content: Must be 2000 or fewer in length."},
		{"empty", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: " "}
		}, provider.BadContent, "Cannot send an empty message"},
		{"files too large", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Media: []provider.Media{file("a.png", "image/png", "", 6<<20), file("b.png", "image/png", "", 6<<20)}}
		}, provider.BadContent, "too large"},
		{"unreadable attachment", func(e *env) (provider.Account, provider.Post) {
			bad := provider.Media{FileName: "b.png", MimeType: "image/png", Size: 1,
				Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("blob store down") }}
			return e.acct, provider.Post{Text: "x", Media: []provider.Media{bad, bad}}
		}, provider.Retry, "media[0] could not be read"},
		{"server error", func(e *env) (provider.Account, provider.Post) {
			_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 3 * time.Second})
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Retry, "503"},
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
			if strings.Contains(pe.Error(), e.hook.Token) {
				t.Errorf("the error shows the webhook token: %v", pe)
			}
			if c.name == "server error" && !pe.RetryAfter.Equal(fixedNow.Add(3*time.Second)) {
				t.Errorf("RetryAfter = %v", pe.RetryAfter)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.SetDiscordRate(1, 1500*time.Millisecond)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two"})
	pe := asProviderError(t, err)
	if pe.Kind != provider.RateLimited || pe.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v; want rate limited", pe)
	}
	// retry_after is 1.5 s in the JSON body; Retry-After rounds it up to 2.
	if want := fixedNow.Add(1500 * time.Millisecond); !pe.RetryAfter.Equal(want) {
		t.Errorf("RetryAfter = %v; want %v", pe.RetryAfter, want)
	}
	if rl, ok := e.p.RateLimit(e.acct); !ok || rl.Remaining != 0 || !rl.Exhausted(fixedNow) {
		t.Errorf("rate limit = %+v, %v; want exhausted", rl, ok)
	}
}

func TestLostResponseIsUnknown(t *testing.T) {
	t.Parallel()
	for _, media := range [][]provider.Media{nil, {file("a.png", "image/png", "", 10)}} {
		e := setup(t)
		_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
		_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "maybe", Media: media})
		pe := asProviderError(t, err)
		if pe.Kind != provider.Unknown || strings.Contains(pe.Error(), e.hook.Token) {
			t.Errorf("%d media: err = %v; want unknown, without the token", len(media), pe)
		}
		if n := len(e.sim.DiscordMessages()); n != 1 {
			t.Errorf("%d messages on the server; want 1", n)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := discord.New(nil)
	cases := []struct {
		name   string
		text   string
		media  []provider.Media
		fields []string
	}{
		{"fits", strings.Repeat("😀", 1000), nil, nil},
		{"too long", strings.Repeat("😀", 1000) + "a", nil, []string{"text"}},
		{"empty", "", nil, []string{"text"}},
		{"only files", "", []provider.Media{file("a.png", "image/png", "", 1)}, nil},
		{"pdf", "x", []provider.Media{file("a.pdf", "application/pdf", "", 1)}, []string{"media[0]"}},
		{"long alt text", "x", []provider.Media{file("a.png", "image/png", strings.Repeat("a", 1025), 1)}, []string{"media[0].description"}},
		{"too much together", "x", []provider.Media{file("a.png", "image/png", "", 6<<20), file("b.png", "image/png", "", 6<<20)}, []string{"media"}},
	}
	for _, c := range cases {
		var fields []string
		for _, v := range p.Validate(c.text, c.media) {
			fields = append(fields, v.Field)
		}
		if strings.Join(fields, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%s: fields %v; want %v", c.name, fields, c.fields)
		}
	}
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tok := strings.Repeat("Ab_-", 17)
	good := []string{
		"https://discord.com/api/webhooks/123456789012345678/" + tok,
		" https://discordapp.com/api/v10/webhooks/1/" + tok + "?wait=true ",
		"https://canary.discord.com/api/webhooks/1/" + tok,
	}
	for _, u := range good {
		w, err := discord.ValidateURL(u)
		if err != nil || w.Token != tok || strings.Contains(w.URL, "?") {
			t.Errorf("ValidateURL(%q) = %+v, %v", u, w, err)
		}
	}
	bad := []string{
		"",
		"http://discord.com/api/webhooks/1/" + tok,
		"https://evil.example/api/webhooks/1/" + tok,
		"https://discord.com/api/webhooks/1",
		"https://discord.com/api/webhooks/abc/" + tok,
		"https://discord.com/channels/1/2",
	}
	for _, u := range bad {
		_, err := discord.ValidateURL(u)
		if f, ok := errs.As(err); !ok || len(f.Fields) != 1 || f.Fields["webhook_url"] == "" {
			t.Errorf("ValidateURL(%q) = %v; want a webhook_url error", u, err)
		}
	}
}

func TestConnectAndVerify(t *testing.T) {
	t.Parallel()
	e := setup(t)
	acct, prof, err := e.p.Connect(t.Context(), e.acct.InstanceURL+"?thread_id=")
	if err != nil {
		t.Fatal(err)
	}
	if acct.InstanceURL != e.acct.InstanceURL || acct.RemoteID != e.acct.RemoteID || acct.Handle != "Herald" || prof.RemoteID != e.hook.ID {
		t.Errorf("account %+v, profile %+v", acct, prof)
	}
	if _, err := e.p.VerifyCredentials(t.Context(), acct); err != nil {
		t.Errorf("verify: %v", err)
	}
	e.sim.DeleteDiscordWebhook(e.hook.ID)
	_, err = e.p.VerifyCredentials(t.Context(), acct)
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("deleted webhook: %v", pe)
	}
}
