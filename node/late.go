package node

import (
	"context"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/gen/herald/notification/v1/notificationv1connect"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/gen/herald/publisher/v1/publisherv1connect"
)

// Services call each other in a cycle (Portal asks Publisher to validate;
// Publisher asks Portal for the job), so a client may be needed before the
// service behind it exists. A late client forwards to whatever the node
// binds once every service is built; until then it reports Unavailable.

type latePortal struct {
	c portalv1connect.PortalServiceClient
}

func (l *latePortal) GetPublishJob(ctx context.Context, r *portalv1.GetPublishJobRequest) (*portalv1.GetPublishJobResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.GetPublishJob(ctx, r)
}

func (l *latePortal) ListRecipients(ctx context.Context, r *portalv1.ListRecipientsRequest) (*portalv1.ListRecipientsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListRecipients(ctx, r)
}

func (l *latePortal) UpdateCredentials(ctx context.Context, r *portalv1.UpdateCredentialsRequest) (*portalv1.UpdateCredentialsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.UpdateCredentials(ctx, r)
}

type latePublisher struct {
	c publisherv1connect.PublisherServiceClient
}

func (l *latePublisher) Validate(ctx context.Context, r *publisherv1.ValidateRequest) (*publisherv1.ValidateResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.Validate(ctx, r)
}

func (l *latePublisher) ListAttempts(ctx context.Context, r *publisherv1.ListAttemptsRequest) (*publisherv1.ListAttemptsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListAttempts(ctx, r)
}

type lateNotification struct {
	c notificationv1connect.NotificationServiceClient
}

func (l *lateNotification) ListNotifications(ctx context.Context, r *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListNotifications(ctx, r)
}

func (l *lateNotification) MarkRead(ctx context.Context, r *notificationv1.MarkReadRequest) (*notificationv1.MarkReadResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.MarkRead(ctx, r)
}

func (l *lateNotification) GetPreferences(ctx context.Context, r *notificationv1.GetPreferencesRequest) (*notificationv1.GetPreferencesResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.GetPreferences(ctx, r)
}

func (l *lateNotification) UpdatePreferences(ctx context.Context, r *notificationv1.UpdatePreferencesRequest) (*notificationv1.UpdatePreferencesResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.UpdatePreferences(ctx, r)
}

func (l *lateNotification) Unsubscribe(ctx context.Context, r *notificationv1.UnsubscribeRequest) (*notificationv1.UnsubscribeResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.Unsubscribe(ctx, r)
}

var errNotBound = errs.E(errs.Unavailable, "service is starting")

var (
	_ portalv1connect.PortalServiceClient             = (*latePortal)(nil)
	_ publisherv1connect.PublisherServiceClient       = (*latePublisher)(nil)
	_ notificationv1connect.NotificationServiceClient = (*lateNotification)(nil)
)
