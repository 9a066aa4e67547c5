package portal

import (
	"context"
	"net/http"
	"net/url"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// ListNotifications returns the principal's own notifications, newest
// first, and how many are unread.
func (s *Service) ListNotifications(ctx context.Context, p *Principal, limit int, unreadOnly bool) (*notificationv1.ListNotificationsResponse, error) {
	if limit < 0 || limit > 200 {
		return nil, errs.Fields{"limit": "must be between 1 and 200"}.Err()
	}
	if limit == 0 {
		limit = 50
	}
	res, err := s.notification.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{
		TenantId: p.AgencyID, UserId: p.UserID, Limit: int32(limit), UnreadOnly: unreadOnly,
	})
	if err != nil {
		return nil, remoteError(ctx, err, "notifications are unavailable right now")
	}
	return res, nil
}

// MarkNotificationsRead marks some of the principal's notifications read,
// or all of them when ids is empty, and says how many changed.
func (s *Service) MarkNotificationsRead(ctx context.Context, p *Principal, ids []string) (int, error) {
	if len(ids) > 500 {
		return 0, errs.Fields{"ids": "at most 500 at once"}.Err()
	}
	res, err := s.notification.MarkRead(ctx, &notificationv1.MarkReadRequest{TenantId: p.AgencyID, UserId: p.UserID, NotificationIds: ids})
	if err != nil {
		return 0, remoteError(ctx, err, "notifications are unavailable right now")
	}
	return int(res.GetMarked()), nil
}

// remoteError keeps the kind of an answer from another service when it has
// one (invalid input stays invalid) and otherwise reports the service as
// unavailable.
func remoteError(ctx context.Context, err error, msg string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotFound, errs.Forbidden:
		return err
	}
	return errs.Wrap(err, errs.Unavailable, msg)
}

// ServeNotificationStream hands the request to Notification's live stream
// for the principal. Whatever tenant or user the client put in the query is
// replaced: the stream only ever shows the principal's own notifications.
func (s *Service) ServeNotificationStream(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if s.notificationStream == nil {
		return errs.E(errs.Unavailable, "live notifications are not available")
	}
	r2 := r.Clone(r.Context())
	q := url.Values{}
	q.Set("tenant_id", p.AgencyID)
	q.Set("user_id", p.UserID)
	r2.URL.RawQuery = q.Encode()
	r2.RequestURI = r2.URL.RequestURI()
	// The stream is reached only through Portal: credentials stay here.
	r2.Header.Del("Cookie")
	r2.Header.Del("Authorization")
	s.notificationStream.ServeHTTP(w, r2)
	return nil
}
