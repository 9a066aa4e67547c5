package notify

import (
	"context"
	"fmt"
	"net/mail"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Email statuses.
const (
	statusPending = "pending"
	statusSent    = "sent"
	statusFailed  = "failed"
	// statusHeld waits for the recipient's daily digest; statusDigested
	// went out in one; statusUnsubscribed was held when its recipient
	// unsubscribed, and is never sent.
	statusHeld         = "held"
	statusDigested     = "digested"
	statusUnsubscribed = "unsubscribed"
)

// prepared is an event ready to be recorded: its notice, who hears of it
// and the agency's branding.
type prepared struct {
	m     *bus.Message
	n     notice
	rcpts []*portalv1.Recipient
	brand brand
}

// recipientsOf asks Portal who a workspace's people are; a batch asks once
// per workspace (ask caches the answers of one batch).
type recipientsOf func(ctx context.Context, tenantID, workspaceID string) (*portalv1.ListRecipientsResponse, error)

func (s *Service) askPortal(ctx context.Context, tenantID, workspaceID string) (*portalv1.ListRecipientsResponse, error) {
	return s.portal.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: tenantID, WorkspaceId: workspaceID})
}

// handle consumes one event. An error asks the bus to deliver it again, so
// it is returned only for what a retry can fix (Portal or the store being
// unavailable); an event that can never make sense is logged and dropped.
func (s *Service) handle(ctx context.Context, m *bus.Message) error {
	ev, err := s.prepare(ctx, m, s.askPortal)
	if err != nil || ev == nil {
		return err
	}
	created, err := s.record(ctx, ev)
	if err != nil {
		return err
	}
	if len(created) > 0 {
		s.log.Debug("notify: notified", "topic", m.Topic, "event_id", m.ID, "recipients", len(created))
	}
	return nil
}

// prepare decodes an event and finds its recipients. It returns nil, nil
// for an event to drop (logged), and an error only for what a retry can
// fix.
func (s *Service) prepare(ctx context.Context, m *bus.Message, ask recipientsOf) (*prepared, error) {
	n, err := decodeNotice(m)
	if err != nil {
		s.log.Error("notify: dropping event", "topic", m.Topic, "event_id", m.ID, "err", err)
		return nil, nil
	}
	// Portal is asked before the transaction: a network call must not hold
	// a write transaction open.
	scope := n.workspaceID
	if n.inviteEmail != "" {
		scope = n.inviteWorkspace
	}
	var res *portalv1.ListRecipientsResponse
	if scope != "" {
		res, err = ask(ctx, n.tenantID, scope)
	}
	switch {
	case scope == "":
		res = &portalv1.ListRecipientsResponse{}
	case errs.Is(err, errs.NotFound) && n.inviteEmail != "":
		// The workspace is gone but the invitee may still accept (or learn
		// that the invitation lapsed): the email goes out unbranded.
		res = &portalv1.ListRecipientsResponse{}
	case errs.Is(err, errs.NotFound):
		// The workspace is gone: nobody is left to tell.
		s.log.Info("notify: workspace not found, nobody to notify", "topic", m.Topic, "event_id", m.ID,
			"tenant_id", n.tenantID, "workspace_id", n.workspaceID)
		return nil, nil
	case errs.Is(err, errs.Invalid):
		// Asking again would be refused again.
		s.log.Error("notify: dropping event: Portal refused it as invalid", "topic", m.Topic, "event_id", m.ID, "err", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("notify: recipients of workspace %s: %w", scope, err)
	}
	var rcpts []*portalv1.Recipient
	if n.inviteEmail == "" {
		rcpts = n.to.pick(res.GetRecipients())
	}
	return &prepared{m: m, n: n, rcpts: rcpts, brand: brandOf(res.GetBranding())}, nil
}

// uniqueRecipients drops recipients without a user id and repeats, so a
// user listed twice is told once.
func uniqueRecipients(rs []*portalv1.Recipient) []*portalv1.Recipient {
	seen := make(map[string]bool, len(rs))
	out := rs[:0:0]
	for _, r := range rs {
		if r.GetUserId() == "" || seen[r.GetUserId()] {
			continue
		}
		seen[r.GetUserId()] = true
		out = append(out, r)
	}
	return out
}

// record stores, in one transaction with the event id, what each
// recipient asked for of n's kind (an in-app notification, an email queued
// or held for their digest, both or nothing), then pushes the
// notifications to the live streams. The event's webhook deliveries are
// queued in the same transaction. It returns nothing when the event was
// handled before.
func (s *Service) record(ctx context.Context, ev *prepared) ([]*notificationv1.Notification, error) {
	var created []*notificationv1.Notification
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		created, err = s.recordIn(ctx, tx, ev, s.now().UTC())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: event %s: %w", ev.m.ID, err)
	}
	return created, nil
}

// recordIn records one event within tx (see record); the pushes to live
// streams happen after tx commits.
func (s *Service) recordIn(ctx context.Context, tx *store.Tx, ev *prepared, now time.Time) ([]*notificationv1.Notification, error) {
	m, n, rcpts, b, eventID := ev.m, ev.n, ev.rcpts, ev.brand, ev.m.ID
	var created []*notificationv1.Notification
	err := func() error {
		first, err := s.outbox.FirstDelivery(ctx, tx, eventID)
		if err != nil || !first {
			return err
		}
		if err := s.queueHooks(ctx, tx, m, n); err != nil {
			return err
		}
		if n.inviteEmail != "" {
			return s.queueEmail(ctx, tx, n, b, "", n.inviteEmail, "", "", now)
		}
		for _, r := range rcpts {
			channel, err := channelOf(ctx, tx, n.tenantID, r.GetUserId(), n.kind)
			if err != nil {
				return err
			}
			var notificationID string
			if inApp(channel) {
				nt := &notificationv1.Notification{
					NotificationId: id.New("ntf"),
					TenantId:       n.tenantID,
					UserId:         r.GetUserId(),
					WorkspaceId:    n.workspaceID,
					Kind:           n.kind,
					Title:          n.title,
					Body:           n.body,
					Link:           n.link,
					CreatedAt:      timestamppb.New(now),
				}
				if _, err := tx.Exec(ctx, `INSERT INTO notify_notifications
					(notification_id, tenant_id, user_id, workspace_id, event_id, kind, title, body, link, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					nt.NotificationId, nt.TenantId, nt.UserId, nt.WorkspaceId, eventID, nt.Kind,
					nt.Title, nt.Body, nt.Link, store.ToMicros(now)); err != nil {
					return fmt.Errorf("storing notification: %w", err)
				}
				created = append(created, nt)
				notificationID = nt.NotificationId
			}
			if !byMail(channel) || s.smtp == nil || r.GetEmail() == "" {
				continue
			}
			if _, err := mail.ParseAddress(r.GetEmail()); err != nil {
				// The in-app notification still reaches the user.
				s.log.Warn("notify: recipient has an unusable email address", "user_id", r.GetUserId(), "err", err)
				continue
			}
			if err := s.queueEmail(ctx, tx, n, b, r.GetUserId(), r.GetEmail(), r.GetName(), notificationID, now); err != nil {
				return err
			}
		}
		tx.AfterCommit(func() {
			for _, nt := range created {
				s.pushLocal(nt)
			}
			s.wakeMail()
		})
		return nil
	}()
	return created, err
}

// queueEmail renders n for one address and queues it, or holds it for the
// user's digest when they chose one. userID is empty for an invitee.
func (s *Service) queueEmail(ctx context.Context, tx *store.Tx, n notice, b brand, userID, to, name, notificationID string, now time.Time) error {
	if s.smtp == nil {
		return nil
	}
	status := statusPending
	var unsub string
	if userID != "" {
		d, err := digestOf(ctx, tx, n.tenantID, userID)
		if err != nil {
			return err
		}
		if d.enabled {
			status = statusHeld
		}
		unsub = s.unsubURL(n.tenantID, userID, n.kind)
	}
	e, err := renderEmail(n, b, s.cfg.BaseURL, name, unsub)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO notify_emails
		(email_id, tenant_id, notification_id, to_address, to_name, subject, text_body, html_body, status, next_try_at, created_at,
		 user_id, category, from_name, unsubscribe_url, brand, title, body, link)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id.New("eml"), n.tenantID, notificationID, to, name, e.subject, e.text, e.html,
		status, store.ToMicros(now), store.ToMicros(now),
		userID, n.kind, b.sender(), unsub, b.encode(), n.title, n.body, n.item(s.cfg.BaseURL).Link); err != nil {
		return fmt.Errorf("queueing email: %w", err)
	}
	return nil
}
