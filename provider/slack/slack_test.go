package slack_test

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
	"github.com/heraldhq/herald/provider/slack"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim  *simnet.Server
	hook simnet.SlackWebhook
	p    *slack.Provider
	acct provider.Account
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: func() time.Time { return fixedNow }})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	h := sim.CreateSlackWebhook("#launches")
	return &env{
		sim: sim, hook: h,
		p: slack.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}),
			slack.WithBaseURL(ts.URL+"/slack"), slack.WithClock(func() time.Time { return fixedNow })),
		acct: provider.Account{ID: "acct_sl", Network: slack.Network, InstanceURL: ts.URL + h.Path()},
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

func TestPublishEscapesMrkdwn(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Q&A <!channel> at 5 > 4 https://example.com"}); err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.SlackMessages()
	if len(msgs) != 1 || msgs[0].Text != "Q&amp;A &lt;!channel&gt; at 5 &gt; 4 https://example.com" || msgs[0].Channel != "#launches" {
		t.Errorf("messages = %+v", msgs)
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
		{"archived", func(e *env) (provider.Account, provider.Post) {
			e.sim.ArchiveSlackChannel("#launches")
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "channel_is_archived"},
		{"removed", func(e *env) (provider.Account, provider.Post) {
			e.sim.RemoveSlackWebhook(e.hook.ID)
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "no_service"},
		{"revoked", func(e *env) (provider.Account, provider.Post) {
			e.sim.RevokeSlackWebhook(e.hook.ID)
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Disconnected, "invalid_token"},
		{"no text", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: "  "}
		}, provider.BadContent, "no_text"},
		{"media", func(e *env) (provider.Account, provider.Post) {
			return e.acct, provider.Post{Text: "x", Media: []provider.Media{{FileName: "a.png"}}}
		}, provider.BadContent, "uploaded images"},
		{"not a webhook", func(e *env) (provider.Account, provider.Post) {
			a := e.acct
			a.InstanceURL = "https://hooks.slack.com/triggers/T1/2/x"
			return a, provider.Post{Text: "hi"}
		}, provider.Disconnected, "not a Slack incoming webhook"},
		{"server error", func(e *env) (provider.Account, provider.Post) {
			_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 500, RetryAfter: 4 * time.Second})
			return e.acct, provider.Post{Text: "hi"}
		}, provider.Retry, "500"},
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
			if c.name == "server error" && !pe.RetryAfter.Equal(fixedNow.Add(4*time.Second)) {
				t.Errorf("RetryAfter = %v", pe.RetryAfter)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.SetSlackRate(1, 3*time.Second)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two"})
	pe := asProviderError(t, err)
	if pe.Kind != provider.RateLimited || pe.Status != http.StatusTooManyRequests || !pe.RetryAfter.Equal(fixedNow.Add(3*time.Second)) {
		t.Errorf("err = %v (retry after %v); want rate limited for 3s", pe, pe.RetryAfter)
	}
}

func TestLostResponseIsUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "maybe"})
	pe := asProviderError(t, err)
	if pe.Kind != provider.Unknown || strings.Contains(pe.Error(), e.hook.Token) {
		t.Errorf("err = %v; want unknown, without the webhook token", pe)
	}
	if n := len(e.sim.SlackMessages()); n != 1 {
		t.Errorf("%d messages; want 1 (it was posted)", n)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := slack.New(nil)
	img := provider.Media{FileName: "a.png", MimeType: "image/png", Size: 1,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil }}
	cases := []struct {
		name   string
		text   string
		media  []provider.Media
		fields []string
	}{
		{"fits", strings.Repeat("a", slack.MaxTextChars), nil, nil},
		{"escaping counts", strings.Repeat("a", slack.MaxTextChars-4) + "&", nil, []string{"text"}},
		{"empty", "", nil, []string{"text"}},
		{"image", "look", []provider.Media{img}, []string{"media"}},
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
	if l := p.Limits(); l.MaxMedia != 0 || l.MaxTextChars != slack.MaxTextChars {
		t.Errorf("limits = %+v", l)
	}
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	good := "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	if got, err := slack.ValidateURL(" " + good + " "); err != nil || got != good {
		t.Errorf("ValidateURL(good) = %q, %v", got, err)
	}
	for _, bad := range []string{"", "http://hooks.slack.com/services/T0/B0/XXXXXXXXXXXX", "https://example.com/services/T00/B00/XXXXXXXXXXXX", "https://hooks.slack.com/triggers/T00/B00/XXXXXXXXXXXX", "https://hooks.slack.com/services/T00/B00"} {
		_, err := slack.ValidateURL(bad)
		if f, ok := errs.As(err); !ok || f.Fields["webhook_url"] == "" {
			t.Errorf("ValidateURL(%q) = %v; want a webhook_url error", bad, err)
		}
	}
}

func TestConnectAndVerifyPostNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	acct, err := e.p.Connect(t.Context(), e.acct.InstanceURL)
	if err != nil {
		t.Fatal(err)
	}
	if acct.InstanceURL != e.acct.InstanceURL || acct.RemoteID != e.hook.Team+"/"+e.hook.ID {
		t.Errorf("account = %+v", acct)
	}
	if n := len(e.sim.SlackMessages()); n != 0 {
		t.Errorf("connecting posted %d messages", n)
	}
	e.sim.ArchiveSlackChannel("#launches")
	_, err = e.p.VerifyCredentials(t.Context(), acct)
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || !strings.Contains(pe.Message, "archived") {
		t.Errorf("archived: %v", pe)
	}
}
