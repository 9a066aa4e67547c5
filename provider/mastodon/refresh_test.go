package mastodon_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

func kindOf(err error) provider.Kind {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{AccessTokenTTL: time.Hour})
	ctx := t.Context()
	app, err := e.p.RegisterApp(ctx, e.url, mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback})
	if err != nil {
		t.Fatal(err)
	}
	g := e.sim.GrantToken(app.ClientID, "erin")
	acct := e.acct
	acct.AccessToken, acct.RefreshToken, acct.ExpiresAt, acct.Secret = g.AccessToken, g.RefreshToken, g.ExpiresAt, mastodon.AppSecret(app)

	if e.p.NeedsRefresh(acct, time.Now()) {
		t.Error("a token with an hour left needs no refresh")
	}
	if !e.p.NeedsRefresh(acct, g.ExpiresAt.Add(-time.Minute)) {
		t.Error("a token a minute from its expiry should be renewed")
	}
	if e.p.NeedsRefresh(e.acct, time.Now().Add(24*time.Hour)) {
		t.Error("a token without expiry or refresh token never needs a refresh")
	}

	// An expired token is Expired, not Disconnected: it can be renewed.
	e.sim.ExpireToken(acct.AccessToken)
	if _, err := e.p.Publish(ctx, acct, provider.Post{Text: "hi", IdempotencyKey: "k1"}); kindOf(err) != provider.Expired {
		t.Fatalf("publish with an expired token: %v", err)
	}
	cr, err := e.p.Refresh(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if cr.AccessToken == "" || cr.AccessToken == acct.AccessToken || cr.RefreshToken == "" || cr.ExpiresAt.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("renewed credentials = %+v", cr)
	}
	renewed := acct
	renewed.AccessToken, renewed.RefreshToken, renewed.ExpiresAt = cr.AccessToken, cr.RefreshToken, cr.ExpiresAt
	if _, err := e.p.Publish(ctx, renewed, provider.Post{Text: "hi", IdempotencyKey: "k1"}); err != nil {
		t.Fatalf("publish with the renewed token: %v", err)
	}

	// The old refresh token was used up; a refresh without the app's
	// credentials cannot be made. Both need a reconnect.
	if _, err := e.p.Refresh(ctx, acct); kindOf(err) != provider.Disconnected {
		t.Errorf("refresh with a spent refresh token: %v", err)
	}
	noApp := renewed
	noApp.Secret = ""
	if _, err := e.p.Refresh(ctx, noApp); kindOf(err) != provider.Disconnected {
		t.Errorf("refresh without the app's credentials: %v", err)
	}
	// A revoked token stays Disconnected.
	if _, err := e.p.Publish(ctx, acct, provider.Post{Text: "hi", IdempotencyKey: "k2"}); kindOf(err) != provider.Disconnected {
		t.Errorf("publish with the revoked old token: %v", err)
	}
	if n := e.sim.Refreshes(); n != 1 {
		t.Errorf("simnet renewed %d tokens, want 1", n)
	}
}

func TestExchangeCodeWithRefreshToken(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{AccessTokenTTL: time.Hour})
	ctx := t.Context()
	app, err := e.p.RegisterApp(ctx, e.url, mastodon.AppConfig{ClientName: "Herald", RedirectURI: callback})
	if err != nil {
		t.Fatal(err)
	}
	u, err := mastodon.AuthorizeURL(app, "state-1")
	if err != nil {
		t.Fatal(err)
	}
	back := authorizeAs(t, u, "erin")
	tok, err := e.p.ExchangeCode(ctx, app, back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.ExpiresAt.Before(time.Now().Add(50*time.Minute)) || tok.ExpiresAt.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("token = %+v, want a refresh token and an expiry an hour away", tok)
	}
}
