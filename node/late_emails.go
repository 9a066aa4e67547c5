package node

import (
	"context"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// The email dead-letter calls of lateNotification.

func (l *lateNotification) ListFailedEmails(ctx context.Context, r *notificationv1.ListFailedEmailsRequest) (*notificationv1.ListFailedEmailsResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ListFailedEmails(ctx, r)
}

func (l *lateNotification) ResendEmail(ctx context.Context, r *notificationv1.ResendEmailRequest) (*notificationv1.ResendEmailResponse, error) {
	if l.c == nil {
		return nil, errNotBound
	}
	return l.c.ResendEmail(ctx, r)
}
