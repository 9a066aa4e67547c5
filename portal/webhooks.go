package portal

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// Webhooks: the endpoints a workspace's events are posted to (signed
// webhooks and Slack incoming webhooks). Notification owns and delivers
// them; Portal decides who may see and change them — the workspace's
// managers and the agency's owners — and passes the call on scoped to the
// principal's agency and the workspace.

const webhooksUnavailable = "webhooks are unavailable right now"

// webhookWorkspace loads a workspace whose webhooks the principal may
// manage. Anyone else, a client approver included, finds no such
// workspace: endpoints carry secrets and internal URLs.
func (s *Service) webhookWorkspace(ctx context.Context, p *Principal, workspaceID string) (Workspace, error) {
	ws, err := s.workspaceRole(ctx, s.db, p, workspaceID)
	if err != nil {
		return Workspace{}, err
	}
	if ws.Role != RoleOwner && ws.Role != RoleManager {
		return Workspace{}, errs.E(errs.NotFound, "workspace not found")
	}
	return ws, nil
}

// WebhookInput is an endpoint as a client writes it. In updates, nil
// fields are left as they are.
type WebhookInput struct {
	Kind        string
	URL         *string
	Description *string
	Topics      []string // nil: unchanged
	Enabled     *bool
}

func (s *Service) ListWebhooks(ctx context.Context, p *Principal, workspaceID string) ([]*notificationv1.Endpoint, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, err
	}
	res, err := s.notification.ListEndpoints(ctx, &notificationv1.ListEndpointsRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID})
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	return res.GetEndpoints(), nil
}

// doCreateWebhook adds an endpoint and returns it with its secret, which is
// never shown again.
func (s *Service) doCreateWebhook(ctx context.Context, p *Principal, workspaceID string, in WebhookInput) (*notificationv1.Endpoint, string, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, "", err
	}
	req := &notificationv1.CreateEndpointRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, Kind: in.Kind, Topics: in.Topics}
	if in.URL != nil {
		req.Url = *in.URL
	}
	if in.Description != nil {
		req.Description = *in.Description
	}
	res, err := s.notification.CreateEndpoint(ctx, req)
	if err != nil {
		return nil, "", remoteError(ctx, err, webhooksUnavailable)
	}
	return res.GetEndpoint(), res.GetSecret(), nil
}

func (s *Service) doUpdateWebhook(ctx context.Context, p *Principal, workspaceID, endpointID string, in WebhookInput) (*notificationv1.Endpoint, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, err
	}
	res, err := s.notification.UpdateEndpoint(ctx, &notificationv1.UpdateEndpointRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID,
		EndpointId: endpointID, Url: in.URL, Description: in.Description, SetTopics: in.Topics != nil, Topics: in.Topics, Enabled: in.Enabled})
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	return res.GetEndpoint(), nil
}

func (s *Service) doDeleteWebhook(ctx context.Context, p *Principal, workspaceID, endpointID string) error {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return err
	}
	_, err := s.notification.DeleteEndpoint(ctx, &notificationv1.DeleteEndpointRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, EndpointId: endpointID})
	if err != nil {
		return remoteError(ctx, err, webhooksUnavailable)
	}
	return nil
}

// doRotateWebhookSecret gives an endpoint a new secret and returns it once.
func (s *Service) doRotateWebhookSecret(ctx context.Context, p *Principal, workspaceID, endpointID string) (*notificationv1.Endpoint, string, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, "", err
	}
	res, err := s.notification.RotateSecret(ctx, &notificationv1.RotateSecretRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, EndpointId: endpointID})
	if err != nil {
		return nil, "", remoteError(ctx, err, webhooksUnavailable)
	}
	return res.GetEndpoint(), res.GetSecret(), nil
}

// ListWebhookDeliveries returns a page of an endpoint's deliveries, newest
// first. Notification pages them; its cursor travels inside a signed Portal
// cursor bound to the endpoint and filter, so a cursor of another list or
// agency, or an edited one, is refused here like any other list's.
func (s *Service) ListWebhookDeliveries(ctx context.Context, p *Principal, workspaceID, endpointID string, deadOnly bool, limit int, cursor string) (*notificationv1.ListDeliveriesResponse, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, err
	}
	pg, err := s.openPage(fmt.Sprintf("deliveries:%s:%s:%s:%t", p.AgencyID, workspaceID, endpointID, deadOnly), PageRequest{Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, err
	}
	req := &notificationv1.ListDeliveriesRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID,
		EndpointId: endpointID, DeadOnly: deadOnly, Limit: int32(pg.limit)}
	if pg.after != nil {
		req.Cursor = pg.after.ID
	}
	res, err := s.notification.ListDeliveries(ctx, req)
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	if c := res.GetNextCursor(); c != "" {
		res.NextCursor = s.makeCursor(pg.scope, pagePlace{ID: c})
	}
	return res, nil
}

// GetWebhookDelivery returns a delivery of the endpoint with its attempts;
// a delivery of another endpoint is not found.
func (s *Service) GetWebhookDelivery(ctx context.Context, p *Principal, workspaceID, endpointID, deliveryID string) (*notificationv1.GetDeliveryResponse, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, err
	}
	res, err := s.notification.GetDelivery(ctx, &notificationv1.GetDeliveryRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, DeliveryId: deliveryID})
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	if res.GetDelivery().GetEndpointId() != endpointID {
		return nil, errs.E(errs.NotFound, "delivery %s not found", deliveryID)
	}
	return res, nil
}

// RedeliverWebhook queues a new attempt of a delivery (a dead letter
// included) now.
func (s *Service) RedeliverWebhook(ctx context.Context, p *Principal, workspaceID, endpointID, deliveryID string) (*notificationv1.Delivery, error) {
	if _, err := s.GetWebhookDelivery(ctx, p, workspaceID, endpointID, deliveryID); err != nil {
		return nil, err
	}
	res, err := s.notification.Redeliver(ctx, &notificationv1.RedeliverRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, DeliveryId: deliveryID})
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	return res.GetDelivery(), nil
}

// TestWebhook posts a test payload to an endpoint now.
func (s *Service) TestWebhook(ctx context.Context, p *Principal, workspaceID, endpointID string) (*notificationv1.SendTestResponse, error) {
	if _, err := s.webhookWorkspace(ctx, p, workspaceID); err != nil {
		return nil, err
	}
	res, err := s.notification.SendTest(ctx, &notificationv1.SendTestRequest{TenantId: p.AgencyID, WorkspaceId: workspaceID, EndpointId: endpointID})
	if err != nil {
		return nil, remoteError(ctx, err, webhooksUnavailable)
	}
	return res, nil
}
