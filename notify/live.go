package notify

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/store"
)

// With more than one Notification node, the node that handles an event is
// not necessarily the one holding the user's live stream. The node that
// records a notification pushes it to its own streams at once; every node
// also sweeps, while it has streams, the notifications recorded in the last
// liveWindow by anyone, and pushes those it has not pushed yet. A stream on
// another node therefore hears of a notification within a sweep period.
// The window is wider than the period so that a transaction committing
// late, or a writer whose clock is a little behind, is still seen; the
// pushed set, kept as long as the window, makes each push happen once.

// liveWindow is how far back a sweep reads.
const liveWindow = 15 * time.Second

// pushed remembers the notifications this node pushed to its streams.
type pushed struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

// first marks id pushed and reports whether it was not yet.
func (p *pushed) first(id string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids = map[string]time.Time{}
	}
	if _, seen := p.ids[id]; seen {
		return false
	}
	p.ids[id] = now
	return true
}

// forget drops what is older than the window: a sweep no longer reads it.
func (p *pushed) forget(before time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, at := range p.ids {
		if at.Before(before) {
			delete(p.ids, id)
		}
	}
}

// pushLocal hands a notification this node recorded to its streams.
func (s *Service) pushLocal(nt *notificationv1.Notification) {
	if s.pushed.first(nt.GetNotificationId(), s.now()) {
		s.hub.publish(nt.GetTenantId(), nt.GetUserId(), update{notification: nt})
	}
}

func (s *Service) liveLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.LiveSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.hub.count() == 0 {
			continue
		}
		if err := s.sweep(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("notify: sweeping recent notifications for live streams", "err", err)
		}
	}
}

// sweep pushes the recent notifications of users with a stream here that
// this node has not pushed yet.
func (s *Service) sweep(ctx context.Context, now time.Time) error {
	from := now.Add(-liveWindow)
	s.pushed.forget(from.Add(-liveWindow))
	rows, err := s.db.Query(ctx, `SELECT notification_id, tenant_id, user_id, workspace_id, kind, title, body, link, created_at
		FROM notify_notifications WHERE created_at >= ? ORDER BY created_at, notification_id`, store.ToMicros(from))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		nt := &notificationv1.Notification{}
		var created int64
		if err := rows.Scan(&nt.NotificationId, &nt.TenantId, &nt.UserId, &nt.WorkspaceId, &nt.Kind, &nt.Title, &nt.Body, &nt.Link, &created); err != nil {
			return err
		}
		if !s.hub.has(nt.TenantId, nt.UserId) {
			continue
		}
		nt.CreatedAt = timestamppb.New(store.FromMicros(created))
		if s.pushed.first(nt.NotificationId, now) {
			s.hub.publish(nt.TenantId, nt.UserId, update{notification: nt})
		}
	}
	return rows.Err()
}
