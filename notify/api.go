package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

const (
	defaultLimit = 50
	maxLimit     = 200
	// maxMarkIDs bounds one MarkRead, so one request cannot build an
	// unbounded statement.
	maxMarkIDs = 500
)

// ListNotifications returns a user's notifications, newest first, with the
// number still unread.
func (s *Service) ListNotifications(ctx context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	var v errs.Fields
	checkUser(&v, req.GetTenantId(), req.GetUserId())
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = defaultLimit
	case limit < 0 || limit > maxLimit:
		v.Add("limit", "must be between 1 and %d", maxLimit)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	q := `SELECT notification_id, tenant_id, user_id, workspace_id, kind, title, body, link, created_at, read_at
		FROM notify_notifications WHERE tenant_id = ? AND user_id = ?`
	if req.GetUnreadOnly() {
		q += ` AND read_at = 0`
	}
	// notification_id breaks ties: ids sort by creation time.
	q += ` ORDER BY created_at DESC, notification_id DESC LIMIT ?`
	rows, err := s.db.Query(ctx, q, req.GetTenantId(), req.GetUserId(), limit)
	if err != nil {
		return nil, fmt.Errorf("notify: listing notifications: %w", err)
	}
	defer rows.Close()
	res := &notificationv1.ListNotificationsResponse{}
	for rows.Next() {
		var (
			n               notificationv1.Notification
			created, readAt int64
		)
		if err := rows.Scan(&n.NotificationId, &n.TenantId, &n.UserId, &n.WorkspaceId, &n.Kind,
			&n.Title, &n.Body, &n.Link, &created, &readAt); err != nil {
			return nil, fmt.Errorf("notify: reading notification: %w", err)
		}
		n.CreatedAt = timestamppb.New(store.FromMicros(created))
		if readAt != 0 {
			n.ReadAt = timestamppb.New(store.FromMicros(readAt))
		}
		res.Notifications = append(res.Notifications, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notify: listing notifications: %w", err)
	}
	unread, err := countUnread(ctx, s.db, req.GetTenantId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	res.Unread = int32(unread)
	return res, nil
}

// MarkRead marks the given notifications of a user read, or all of them
// when no id is given. An id that is not one of the user's notifications
// fails the whole request with NotFound, and nothing is marked.
func (s *Service) MarkRead(ctx context.Context, req *notificationv1.MarkReadRequest) (*notificationv1.MarkReadResponse, error) {
	var v errs.Fields
	checkUser(&v, req.GetTenantId(), req.GetUserId())
	ids := req.GetNotificationIds()
	if len(ids) > maxMarkIDs {
		v.Add("notification_ids", "must hold at most %d ids", maxMarkIDs)
	}
	seen := make(map[string]bool, len(ids))
	var unique []string
	for i, nid := range ids {
		if !id.HasPrefix(nid, "ntf") {
			v.Add(fmt.Sprintf("notification_ids[%d]", i), "is not a notification id")
			continue
		}
		if !seen[nid] {
			seen[nid] = true
			unique = append(unique, nid)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	tenantID, userID := req.GetTenantId(), req.GetUserId()
	now := store.ToMicros(time.Now())
	var marked int64
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		q := `UPDATE notify_notifications SET read_at = ? WHERE tenant_id = ? AND user_id = ? AND read_at = 0`
		args := []any{now, tenantID, userID}
		if len(unique) > 0 {
			if err := checkOwned(ctx, tx, tenantID, userID, unique); err != nil {
				return err
			}
			q += ` AND notification_id IN (` + placeholders(len(unique)) + `)`
			for _, nid := range unique {
				args = append(args, nid)
			}
		}
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("notify: marking read: %w", err)
		}
		if marked, err = res.RowsAffected(); err != nil {
			return err
		}
		unread, err := countUnread(ctx, tx, tenantID, userID)
		if err != nil {
			return err
		}
		// Other open tabs of the user learn the new count.
		tx.AfterCommit(func() { s.hub.publish(tenantID, userID, update{unread: unread}) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &notificationv1.MarkReadResponse{Marked: int32(marked)}, nil
}

// checkOwned fails with NotFound unless every id is a notification of the
// user: another user's or tenant's id looks exactly like a missing one.
func checkOwned(ctx context.Context, tx *store.Tx, tenantID, userID string, ids []string) error {
	args := []any{tenantID, userID}
	for _, nid := range ids {
		args = append(args, nid)
	}
	rows, err := tx.Query(ctx, `SELECT notification_id FROM notify_notifications
		WHERE tenant_id = ? AND user_id = ? AND notification_id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return fmt.Errorf("notify: looking up notifications: %w", err)
	}
	defer rows.Close()
	found := make(map[string]bool, len(ids))
	for rows.Next() {
		var nid string
		if err := rows.Scan(&nid); err != nil {
			return err
		}
		found[nid] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, nid := range ids {
		if !found[nid] {
			return errs.E(errs.NotFound, "notification %s not found", nid)
		}
	}
	return nil
}

func countUnread(ctx context.Context, q store.Querier, tenantID, userID string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM notify_notifications WHERE tenant_id = ? AND user_id = ? AND read_at = 0`,
		tenantID, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("notify: counting unread: %w", err)
	}
	return n, nil
}

// checkUser requires the scope every request carries.
func checkUser(v *errs.Fields, tenantID, userID string) {
	if strings.TrimSpace(tenantID) == "" {
		v.Add("tenant_id", "is required")
	}
	if strings.TrimSpace(userID) == "" {
		v.Add("user_id", "is required")
	}
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
