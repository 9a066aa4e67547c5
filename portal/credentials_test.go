package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/provider"
)

func TestUpdateCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ctx := context.Background()
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Hello", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)
	target := func() *portalv1.Target {
		t.Helper()
		res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: post["id"].(string), Revision: 1})
		if err != nil || len(res.GetJob().GetTargets()) != 1 {
			t.Fatalf("GetPublishJob: %v, %v", res, err)
		}
		return res.GetJob().GetTargets()[0]
	}

	tg := target()
	if tg.GetRemoteId() == "" || tg.GetCredentialsVersion() != 1 || tg.GetRefreshToken() != "" || tg.ExpiresAt != nil || tg.GetSecret() != "" {
		t.Fatalf("token-only account's target = %v", tg)
	}

	// A reconnect through a flow that issues renewable credentials.
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	if _, err := b.svc.saveAccount(ctx, a.id, a.workspace, "mastodon", tg.GetInstanceUrl(),
		credentials{AccessToken: "access-1", RefreshToken: "refresh-1", ExpiresAt: expires, Secret: "app-secret"},
		provider.Profile{RemoteID: tg.GetRemoteId(), Handle: tg.GetHandle()}); err != nil {
		t.Fatal(err)
	}
	tg = target()
	if tg.GetAccessToken() != "access-1" || tg.GetRefreshToken() != "refresh-1" || tg.GetSecret() != "app-secret" ||
		!tg.GetExpiresAt().AsTime().Equal(expires) || tg.GetCredentialsVersion() != 2 {
		t.Fatalf("reconnected target = %v", tg)
	}
	// Sealed at rest, like the access token.
	var refreshSealed, secretSealed []byte
	if err := b.svc.db.QueryRow(ctx, `SELECT refresh_sealed, secret_sealed FROM portal_accounts WHERE id = ?`, a.account).Scan(&refreshSealed, &secretSealed); err != nil {
		t.Fatal(err)
	}
	if len(refreshSealed) == 0 || string(refreshSealed) == "refresh-1" || len(secretSealed) == 0 || string(secretSealed) == "app-secret" {
		t.Fatalf("refresh token or secret stored in the clear: %q, %q", refreshSealed, secretSealed)
	}

	// A refresh without a new refresh token keeps the stored one.
	later := expires.Add(time.Hour)
	res, err := b.svc.UpdateCredentials(ctx, &portalv1.UpdateCredentialsRequest{TenantId: a.id, AccountId: a.account,
		BasedOnVersion: 2, AccessToken: "access-2", ExpiresAt: timestamppb.New(later)})
	if err != nil || !res.GetUpdated() {
		t.Fatalf("UpdateCredentials: %v, %v", res, err)
	}
	if got := res.GetTarget(); got.GetAccessToken() != "access-2" || got.GetRefreshToken() != "refresh-1" || got.GetCredentialsVersion() != 3 {
		t.Fatalf("updated target = %v", got)
	}
	tg = target()
	if tg.GetAccessToken() != "access-2" || tg.GetRefreshToken() != "refresh-1" || !tg.GetExpiresAt().AsTime().Equal(later) || tg.GetSecret() != "app-secret" {
		t.Fatalf("target after refresh = %v", tg)
	}

	// A refresh from stale credentials changes nothing and says what is stored.
	res, err = b.svc.UpdateCredentials(ctx, &portalv1.UpdateCredentialsRequest{TenantId: a.id, AccountId: a.account,
		BasedOnVersion: 2, AccessToken: "access-stale", RefreshToken: "refresh-stale"})
	if err != nil || res.GetUpdated() || res.GetTarget().GetAccessToken() != "access-2" {
		t.Fatalf("stale UpdateCredentials: %v, %v", res, err)
	}

	// A rotated refresh token replaces the stored one.
	res, err = b.svc.UpdateCredentials(ctx, &portalv1.UpdateCredentialsRequest{TenantId: a.id, AccountId: a.account,
		BasedOnVersion: 3, AccessToken: "access-3", RefreshToken: "refresh-3"})
	if err != nil || !res.GetUpdated() || res.GetTarget().GetRefreshToken() != "refresh-3" || res.GetTarget().ExpiresAt != nil {
		t.Fatalf("rotating UpdateCredentials: %v, %v", res, err)
	}

	if _, err := b.svc.UpdateCredentials(ctx, &portalv1.UpdateCredentialsRequest{TenantId: "agency_other", AccountId: a.account,
		BasedOnVersion: 4, AccessToken: "x"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("another tenant's account: %v", err)
	}
	if _, err := b.svc.UpdateCredentials(ctx, &portalv1.UpdateCredentialsRequest{TenantId: a.id, AccountId: a.account}); !errs.Is(err, errs.Invalid) {
		t.Errorf("no version or token: %v", err)
	}
}

// UpdateCredentials is reachable however services are bound: a method
// call, gRPC or Connect over HTTP, with its error kinds kept.
func TestUpdateCredentialsBindings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	const token = "internal-token"
	mux := http.NewServeMux()
	mux.Handle(portalv1connect.NewPortalServiceHandler(b.svc, bind.HandlerOptions(token)...))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	for _, transport := range []string{config.TransportLocal, config.TransportGRPC, config.TransportConnect} {
		c, err := bind.New(token).Portal(config.Endpoint{Transport: transport, URL: srv.URL}, b.svc)
		if err != nil {
			t.Fatal(err)
		}
		// Version 1 is the account's as connected: the first update applies,
		// a second from the same version does not.
		res, err := c.UpdateCredentials(t.Context(), &portalv1.UpdateCredentialsRequest{TenantId: a.id, AccountId: a.account,
			BasedOnVersion: 1, AccessToken: "token-" + transport})
		if err != nil {
			t.Fatalf("%s: %v", transport, err)
		}
		if transport == config.TransportLocal {
			if !res.GetUpdated() || res.GetTarget().GetAccessToken() != "token-local" {
				t.Errorf("%s: %v", transport, res)
			}
		} else if res.GetUpdated() || res.GetTarget().GetAccessToken() != "token-local" {
			t.Errorf("%s: a stale update applied: %v", transport, res)
		}
		if _, err := c.UpdateCredentials(t.Context(), &portalv1.UpdateCredentialsRequest{TenantId: a.id}); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: invalid request: %v", transport, err)
		}
	}
}
