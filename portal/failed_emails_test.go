package portal

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// The fake Notification's dead letters: one failed email per tenant that
// asks, until it is resent.
var fakeResent sync.Map // tenant -> email id resent

func (f *fakeNotification) ListFailedEmails(_ context.Context, req *notificationv1.ListFailedEmailsRequest) (*notificationv1.ListFailedEmailsResponse, error) {
	if _, done := fakeResent.Load(req.GetTenantId()); done {
		return &notificationv1.ListFailedEmailsResponse{}, nil
	}
	return &notificationv1.ListFailedEmailsResponse{Emails: []*notificationv1.FailedEmail{{
		EmailId: "eml_" + req.GetTenantId(), ToAddress: "gone@client.test", Subject: "Failed to publish", Attempts: 8,
		LastError: "550 mailbox unavailable", CreatedAt: timestamppb.Now(), LastTriedAt: timestamppb.Now()}}}, nil
}

func (f *fakeNotification) ResendEmail(_ context.Context, req *notificationv1.ResendEmailRequest) (*notificationv1.ResendEmailResponse, error) {
	if req.GetEmailId() != "eml_"+req.GetTenantId() {
		return nil, errs.E(errs.NotFound, "no failed email %s", req.GetEmailId())
	}
	fakeResent.Store(req.GetTenantId(), req.GetEmailId())
	return &notificationv1.ResendEmailResponse{}, nil
}

func TestFailedEmailsAreShownToOwnersAndResent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/agency/failed-emails", nil)).json(t)["emails"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["last_error"] != "550 mailbox unavailable" {
		t.Fatalf("failed emails %v", list)
	}
	emailID := list[0].(map[string]any)["id"].(string)
	// Another agency's owner cannot resend it; a manager cannot see them.
	other.owner.must(http.StatusNotFound, other.owner.do("POST", "/api/v1/agency/failed-emails/"+emailID+"/resend", nil))
	manager := b.invite(t, a, "max@acme.test", RoleManager)
	manager.must(http.StatusForbidden, manager.do("GET", "/api/v1/agency/failed-emails", nil))

	c := a.browser(t, b)
	wantText(t, c.must(http.StatusOK, c.get("/settings/emails")).Body, "gone@client.test", "550 mailbox unavailable", "Send again")
	c.must(http.StatusSeeOther, c.post("/settings/emails/"+emailID+"/resend", url.Values{"csrf_token": {c.csrf()}}), "/settings/emails")
	wantText(t, c.must(http.StatusOK, c.get("/settings/emails")).Body, "Every email was delivered")
}
