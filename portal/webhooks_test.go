package portal

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/notify"
	"github.com/heraldhq/herald/outbound"
)

// The fake Notification has no endpoints; tests of webhooks run the real
// service (setupRealNotification).
var errNoWebhooks = errs.E(errs.Unavailable, "the fake Notification has no webhooks")

func (f *fakeNotification) CreateEndpoint(context.Context, *notificationv1.CreateEndpointRequest) (*notificationv1.CreateEndpointResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) ListEndpoints(context.Context, *notificationv1.ListEndpointsRequest) (*notificationv1.ListEndpointsResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) UpdateEndpoint(context.Context, *notificationv1.UpdateEndpointRequest) (*notificationv1.UpdateEndpointResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) DeleteEndpoint(context.Context, *notificationv1.DeleteEndpointRequest) (*notificationv1.DeleteEndpointResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) RotateSecret(context.Context, *notificationv1.RotateSecretRequest) (*notificationv1.RotateSecretResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) ListDeliveries(context.Context, *notificationv1.ListDeliveriesRequest) (*notificationv1.ListDeliveriesResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) GetDelivery(context.Context, *notificationv1.GetDeliveryRequest) (*notificationv1.GetDeliveryResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) Redeliver(context.Context, *notificationv1.RedeliverRequest) (*notificationv1.RedeliverResponse, error) {
	return nil, errNoWebhooks
}
func (f *fakeNotification) SendTest(context.Context, *notificationv1.SendTestRequest) (*notificationv1.SendTestResponse, error) {
	return nil, errNoWebhooks
}

// nobodyPortal answers Notification's questions about recipients: nobody,
// which these tests do not look at.
type nobodyPortal struct {
	portalv1connect.PortalServiceClient
}

func (nobodyPortal) ListRecipients(context.Context, *portalv1.ListRecipientsRequest) (*portalv1.ListRecipientsResponse, error) {
	return &portalv1.ListRecipientsResponse{}, nil
}

// setupRealNotification runs the real Notification service in-process on
// the same store and bus, posting to loopback (the tests' receivers).
func setupRealNotification(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, func(d *Deps) {
		ns, err := notify.New(notify.DefaultConfig(), notify.Deps{DB: d.DB, Bus: d.Bus, Portal: nobodyPortal{},
			Outbound: outbound.Policy{AllowLoopback: true}, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := ns.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ns.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		d.Notification = ns
	})
}

// TestWebhookAPI: owners and managers manage a workspace's endpoints; the
// secret is shown on creation and rotation only; a test delivery and a
// redelivery show up in the log.
func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	b := setupRealNotification(t)
	a := b.firstAgency(t)
	var hits atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("thanks"))
	}))
	t.Cleanup(rc.Close)
	base := "/api/v1/workspaces/" + a.workspace + "/webhooks"

	// Refused field by field, nothing stored.
	bad := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", base, map[string]any{
		"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data/", "topics": []string{"post.due"}})).json(t)
	fields, _ := bad["error"].(map[string]any)["fields"].(map[string]any)
	if fields["url"] == nil || fields["topics[0]"] == nil {
		t.Fatalf("errors %v, want url and topics[0]", bad)
	}
	if res := a.owner.must(http.StatusOK, a.owner.do("GET", base, nil)).json(t); len(res["webhooks"].([]any)) != 0 {
		t.Fatalf("a refused endpoint was stored: %v", res)
	}

	created := a.owner.must(http.StatusCreated, a.owner.do("POST", base, map[string]any{
		"kind": "webhook", "url": rc.URL + "/hook", "description": "CRM", "topics": []string{"post.published", "post.failed"}})).json(t)
	epID, _ := created["id"].(string)
	if secret, _ := created["secret"].(string); len(secret) < 20 {
		t.Fatalf("created %v: no secret", created)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", base, nil)).json(t)["webhooks"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["secret"] != nil || list[0].(map[string]any)["description"] != "CRM" {
		t.Fatalf("list %v: want the endpoint, without its secret", list)
	}

	manager := b.invite(t, a, "manager@agency.example", RoleManager)
	upd := manager.must(http.StatusOK, manager.do("PATCH", base+"/"+epID, map[string]any{"topics": []string{"*"}, "enabled": false})).json(t)
	if upd["enabled"] != false || upd["topics"].([]any)[0] != "*" {
		t.Fatalf("updated %v", upd)
	}
	manager.must(http.StatusOK, manager.do("PATCH", base+"/"+epID, map[string]any{"enabled": true}))
	rot := manager.must(http.StatusOK, manager.do("POST", base+"/"+epID+"/rotate", nil)).json(t)
	if rot["secret"] == created["secret"] || rot["previous_secret_until"] == nil {
		t.Fatalf("rotated %v", rot)
	}

	test := a.owner.must(http.StatusOK, a.owner.do("POST", base+"/"+epID+"/test", nil)).json(t)
	att := test["attempt"].(map[string]any)
	if att["status_code"] != float64(http.StatusAccepted) || att["response"] != "thanks" || hits.Load() != 1 {
		t.Fatalf("test %v", test)
	}
	dlv := test["delivery"].(map[string]any)["id"].(string)
	logged := a.owner.must(http.StatusOK, a.owner.do("GET", base+"/"+epID+"/deliveries", nil)).json(t)["deliveries"].([]any)
	if len(logged) != 1 || logged[0].(map[string]any)["status"] != "delivered" {
		t.Fatalf("log %v", logged)
	}
	got := a.owner.must(http.StatusOK, a.owner.do("GET", base+"/"+epID+"/deliveries/"+dlv, nil)).json(t)
	if len(got["attempts"].([]any)) != 1 || got["payload"] == "" {
		t.Fatalf("delivery %v", got)
	}
	a.owner.must(http.StatusAccepted, a.owner.do("POST", base+"/"+epID+"/deliveries/"+dlv+"/redeliver", nil))
	if res := a.owner.must(http.StatusOK, a.owner.do("GET", base+"/"+epID+"/deliveries?dead=true", nil)).json(t); len(res["deliveries"].([]any)) != 0 {
		t.Fatalf("dead letters %v", res)
	}
	manager.must(http.StatusNoContent, manager.do("DELETE", base+"/"+epID, nil))
	a.owner.must(http.StatusNotFound, a.owner.do("GET", base+"/"+epID+"/deliveries", nil))
}

// TestWebhookAccess: client approvers and other agencies find no webhooks
// at all, not even that the workspace has some.
func TestWebhookAccess(t *testing.T) {
	t.Parallel()
	b := setupRealNotification(t)
	a := b.firstAgency(t)
	base := "/api/v1/workspaces/" + a.workspace + "/webhooks"
	created := a.owner.must(http.StatusCreated, a.owner.do("POST", base, map[string]any{
		"kind": "slack", "url": "https://hooks.slack.example/services/T/B/X", "topics": []string{"*"}})).json(t)
	epID := created["id"].(string)
	if created["secret"] != nil {
		t.Errorf("a Slack endpoint got a secret: %v", created)
	}

	approver := b.invite(t, a, "approver@client.example", RoleClientApprover)
	other := b.otherAgency(t, "beta")
	for name, c := range map[string]*client{"approver": approver, "another agency": other.owner} {
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"GET", base, nil},
			{"POST", base, map[string]any{"kind": "webhook", "url": "https://x.example/h", "topics": []string{"*"}}},
			{"PATCH", base + "/" + epID, map[string]any{"enabled": false}},
			{"DELETE", base + "/" + epID, nil},
			{"POST", base + "/" + epID + "/rotate", nil},
			{"POST", base + "/" + epID + "/test", nil},
			{"GET", base + "/" + epID + "/deliveries", nil},
		} {
			if res := c.do(tc.method, tc.path, tc.body); res.Status != http.StatusNotFound {
				t.Errorf("%s %s %s: %d %s", name, tc.method, tc.path, res.Status, res.Body)
			}
		}
	}
	// Another agency's own workspace does not reach this endpoint either.
	if res := other.owner.do("PATCH", "/api/v1/workspaces/"+other.workspace+"/webhooks/"+epID, map[string]any{"enabled": false}); res.Status != http.StatusNotFound {
		t.Errorf("another agency through its own workspace: %d %s", res.Status, res.Body)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", base, nil)).json(t)["webhooks"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["enabled"] != true {
		t.Fatalf("a refused request changed the endpoints: %v", list)
	}
}
