package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/webhook"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim  *simnet.Server
	url  string
	rc   simnet.WebhookReceiver
	p    *webhook.Provider
	acct provider.Account
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, opts ...webhook.Option) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: func() time.Time { return fixedNow }})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	rc := sim.CreateWebhookReceiver()
	opts = append([]webhook.Option{webhook.WithInsecureHTTP(), webhook.WithClock(func() time.Time { return fixedNow })}, opts...)
	return &env{
		sim: sim, url: ts.URL, rc: rc,
		p:    webhook.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), opts...),
		acct: provider.Account{ID: "acct_wh", Network: webhook.Network, Handle: "ops", InstanceURL: ts.URL + rc.Path(), Secret: rc.Secret},
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

func TestPublish(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Shipped", IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	all := e.sim.WebhookDeliveries()
	if len(all) != 1 {
		t.Fatalf("%d deliveries", len(all))
	}
	ev := all[0].Event
	if ev.ID != "att_1" || ev.Type != webhook.TypePublished || ev.Text != "Shipped" || ev.Account.ID != "acct_wh" || ev.Account.Handle != "ops" || !ev.CreatedAt.Equal(fixedNow) || ev.Media != nil {
		t.Errorf("event = %+v", ev)
	}
	if res.RemoteID != all[0].ID || !strings.HasSuffix(res.RemoteURL, "/posts/"+all[0].ID) || res.Ref != "att_1" {
		t.Errorf("result = %+v", res)
	}
}

func TestPublishMediaAsURLs(t *testing.T) {
	t.Parallel()
	e := setup(t, webhook.WithMediaURLs(func(_ context.Context, m provider.Media) (string, error) {
		return "https://media.example/" + m.FileName, nil
	}))
	media := []provider.Media{{FileName: "a.png", MimeType: "image/png", Size: 3, Description: "a chart"}}
	if v := e.p.Validate("with media", media); len(v) != 0 {
		t.Fatalf("Validate = %+v", v)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "with media", Media: media, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	got := e.sim.WebhookDeliveries()[0].Event.Media
	if len(got) != 1 || got[0].URL != "https://media.example/a.png" || got[0].MimeType != "image/png" || got[0].Description != "a chart" {
		t.Errorf("media = %+v", got)
	}
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	next := webhook.NewSecret()
	// Herald signs with both while the receiver still has only the old one…
	acct := e.acct
	acct.Secret = next + "," + e.rc.Secret
	if _, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "one", IdempotencyKey: "k1"}); err != nil {
		t.Fatalf("receiver on the old secret: %v", err)
	}
	// …and after it switched.
	e.sim.SetWebhookSecrets(e.rc.ID, next)
	if _, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "two", IdempotencyKey: "k2"}); err != nil {
		t.Fatalf("receiver on the new secret: %v", err)
	}
	// Herald dropping the new one too early is refused.
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "three", IdempotencyKey: "k3"})
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || pe.Status != http.StatusUnauthorized || !strings.Contains(pe.Message, "signing secret") {
		t.Errorf("old secret only: %v", pe)
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		arrange func(e *env) provider.Account
		kind    provider.Kind
		status  int
		after   time.Duration
	}{
		{"gone", func(e *env) provider.Account { e.sim.RemoveWebhookReceiver(e.rc.ID); return e.acct }, provider.Disconnected, 410, 0},
		{"no such endpoint", func(e *env) provider.Account {
			a := e.acct
			a.InstanceURL = e.url + "/webhook/999"
			return a
		}, provider.Disconnected, 404, 0},
		{"rate limited", func(e *env) provider.Account {
			e.sim.SetWebhookRate(0, 10*time.Second)
			return e.acct
		}, provider.RateLimited, 429, 10 * time.Second},
		{"server error", func(e *env) provider.Account {
			_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 5 * time.Second})
			return e.acct
		}, provider.Retry, 503, 5 * time.Second},
		{"bad request", func(e *env) provider.Account {
			_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 422})
			return e.acct
		}, provider.BadContent, 422, 0},
		{"https required", func(e *env) provider.Account { return e.acct }, provider.Disconnected, 0, 0},
		{"short secret", func(e *env) provider.Account {
			a := e.acct
			a.Secret = "short"
			return a
		}, provider.Disconnected, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			acct := c.arrange(e)
			p := e.p
			if c.name == "https required" {
				p = webhook.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}))
			}
			_, err := p.Publish(t.Context(), acct, provider.Post{Text: "hi", IdempotencyKey: "k"})
			pe := asProviderError(t, err)
			if pe.Kind != c.kind || pe.Status != c.status {
				t.Errorf("err = %v; want %s with status %d", pe, c.kind, c.status)
			}
			if c.after != 0 && !pe.RetryAfter.Equal(fixedNow.Add(c.after)) {
				t.Errorf("RetryAfter = %v; want in %s", pe.RetryAfter, c.after)
			}
			if strings.Contains(pe.Error(), e.rc.Secret) {
				t.Errorf("the error shows the secret: %v", pe)
			}
		})
	}
}

func TestLostResponseThenRepeatIsDeduped(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "maybe", IdempotencyKey: "att_9"})
	if pe := asProviderError(t, err); pe.Kind != provider.Unknown {
		t.Fatalf("err = %v; want unknown", pe)
	}
	// The Publisher settles Unknown by repeating with the same key; the
	// receiver dedupes on Herald-Webhook-Id and names the first delivery.
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "maybe", IdempotencyKey: "att_9"})
	if err != nil {
		t.Fatal(err)
	}
	all := e.sim.WebhookDeliveries()
	if len(all) != 1 || all[0].Repeats != 1 || res.RemoteID != all[0].ID {
		t.Errorf("deliveries = %+v, result %+v; want one, repeated once", all, res)
	}
}

func TestTimeoutIsUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_ = e.sim.SetFaults(simnet.Faults{Latency: 2 * time.Second})
	client := outbound.NewClient(outbound.Policy{AllowLoopback: true})
	client.Timeout = 200 * time.Millisecond
	p := webhook.New(client, webhook.WithInsecureHTTP())
	_, err := p.Publish(t.Context(), e.acct, provider.Post{Text: "slow", IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Unknown {
		t.Errorf("err = %v; want unknown", pe)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := webhook.New(nil)
	media := []provider.Media{{FileName: "a.png", MimeType: "image/png", Size: 1}}
	if v := p.Validate("", nil); len(v) != 1 || v[0].Field != "text" {
		t.Errorf("empty: %+v", v)
	}
	if v := p.Validate(strings.Repeat("👍🏽", webhook.MaxTextChars), nil); len(v) != 0 {
		t.Errorf("graphemes at the limit: %+v", v)
	}
	if v := p.Validate(strings.Repeat("a", webhook.MaxTextChars+1), nil); len(v) != 1 || v[0].Field != "text" {
		t.Errorf("too long: %+v", v)
	}
	if v := p.Validate("x", media); len(v) != 1 || v[0].Field != "media" {
		t.Errorf("media without media URLs: %+v", v)
	}
	if l := p.Limits(); l.MaxMedia != 0 {
		t.Errorf("limits without media URLs = %+v", l)
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	e := setup(t)
	acct, err := e.p.Connect(t.Context(), " "+e.acct.InstanceURL+" ", e.rc.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if acct.InstanceURL != e.acct.InstanceURL || acct.Secret != e.rc.Secret || e.sim.WebhookPings() != 1 || len(e.sim.WebhookDeliveries()) != 0 {
		t.Errorf("account %+v, pings %d", acct, e.sim.WebhookPings())
	}
	_, err = e.p.Connect(t.Context(), e.acct.InstanceURL, webhook.NewSecret())
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("wrong secret: %v", pe)
	}
	_, err = webhook.New(nil).Connect(t.Context(), "http://example.com/hook", "x")
	f, ok := errs.As(err)
	if !ok || f.Fields["webhook_url"] == "" || f.Fields["secret"] == "" {
		t.Errorf("bad input: %v; want errors on webhook_url and secret", err)
	}
}
