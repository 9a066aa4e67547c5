package node

import (
	"context"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// The webhook calls of lateNotification.

func (l *lateNotification) CreateEndpoint(ctx context.Context, r *notificationv1.CreateEndpointRequest) (*notificationv1.CreateEndpointResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.CreateEndpoint(ctx, r)
}

func (l *lateNotification) ListEndpoints(ctx context.Context, r *notificationv1.ListEndpointsRequest) (*notificationv1.ListEndpointsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListEndpoints(ctx, r)
}

func (l *lateNotification) UpdateEndpoint(ctx context.Context, r *notificationv1.UpdateEndpointRequest) (*notificationv1.UpdateEndpointResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.UpdateEndpoint(ctx, r)
}

func (l *lateNotification) DeleteEndpoint(ctx context.Context, r *notificationv1.DeleteEndpointRequest) (*notificationv1.DeleteEndpointResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.DeleteEndpoint(ctx, r)
}

func (l *lateNotification) RotateSecret(ctx context.Context, r *notificationv1.RotateSecretRequest) (*notificationv1.RotateSecretResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.RotateSecret(ctx, r)
}

func (l *lateNotification) ListDeliveries(ctx context.Context, r *notificationv1.ListDeliveriesRequest) (*notificationv1.ListDeliveriesResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListDeliveries(ctx, r)
}

func (l *lateNotification) GetDelivery(ctx context.Context, r *notificationv1.GetDeliveryRequest) (*notificationv1.GetDeliveryResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.GetDelivery(ctx, r)
}

func (l *lateNotification) Redeliver(ctx context.Context, r *notificationv1.RedeliverRequest) (*notificationv1.RedeliverResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.Redeliver(ctx, r)
}

func (l *lateNotification) SendTest(ctx context.Context, r *notificationv1.SendTestRequest) (*notificationv1.SendTestResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.SendTest(ctx, r)
}
