package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// digestLoop sends the digests that are due until ctx is cancelled.
func (s *Service) digestLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.DigestPoll)
	defer t.Stop()
	for {
		if _, err := s.sendDigests(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("notify: sending digests", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastDigestAt is the latest digest instant at or before now for d: today
// at d.hour in d.zone, or yesterday's if that is still to come.
func lastDigestAt(now time.Time, d digestSetting) time.Time {
	loc, err := time.LoadLocation(d.zone)
	if err != nil {
		loc = time.UTC
	}
	l := now.In(loc)
	at := digestOn(l.Year(), l.Month(), l.Day(), d.hour, loc)
	if at.After(now) {
		at = digestOn(l.Year(), l.Month(), l.Day()-1, d.hour, loc)
	}
	return at
}

// digestOn is hour o'clock of a day in loc or, on the day clocks skip that
// hour, the first instant after the gap.
func digestOn(y int, m time.Month, day, hour int, loc *time.Location) time.Time {
	at := time.Date(y, m, day, hour, 0, 0, 0, loc)
	if at.Hour() != hour {
		// Go may resolve a skipped wall time to the hour before the gap.
		at = at.Add(time.Hour)
	}
	return at
}

// errTaken says another node made the digest first.
var errTaken = errors.New("digest taken by another node")

// sendDigests turns each user's held emails from before their latest
// digest instant into one queued email, and releases those of users who
// turned the digest off. It returns how many digests it queued.
func (s *Service) sendDigests(ctx context.Context) (int, error) {
	type user struct{ tenant, id string }
	rows, err := s.db.Query(ctx, `SELECT DISTINCT tenant_id, user_id FROM notify_emails WHERE status = ?`, statusHeld)
	if err != nil {
		return 0, fmt.Errorf("notify: listing held emails: %w", err)
	}
	var users []user
	for rows.Next() {
		var u user
		if err := rows.Scan(&u.tenant, &u.id); err != nil {
			rows.Close()
			return 0, err
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	now := s.now()
	sent := 0
	for _, u := range users {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		ok, err := s.digestOne(ctx, u.tenant, u.id, now)
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	if sent > 0 {
		s.wakeMail()
	}
	return sent, nil
}

// heldEmail is one email waiting for a digest.
type heldEmail struct {
	id, to, toName, fromName, brand string
	item                            emailItem
}

func (s *Service) digestOne(ctx context.Context, tenantID, userID string, now time.Time) (bool, error) {
	made := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		made = false
		d, err := digestOf(ctx, tx, tenantID, userID)
		if err != nil {
			return err
		}
		if !d.enabled {
			return releaseHeld(ctx, tx, tenantID, userID, store.ToMicros(now))
		}
		cut := lastDigestAt(now, d)
		rows, err := tx.Query(ctx, `SELECT email_id, to_address, to_name, from_name, brand, title, body, link
			FROM notify_emails WHERE status = ? AND tenant_id = ? AND user_id = ? AND created_at < ?
			ORDER BY created_at, email_id LIMIT 200`, statusHeld, tenantID, userID, store.ToMicros(cut))
		if err != nil {
			return err
		}
		var held []heldEmail
		for rows.Next() {
			var h heldEmail
			if err := rows.Scan(&h.id, &h.to, &h.toName, &h.fromName, &h.brand, &h.item.Title, &h.item.Body, &h.item.Link); err != nil {
				rows.Close()
				return err
			}
			h.item.LinkText = "Open"
			held = append(held, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(held) == 0 {
			return err
		}
		for _, h := range held {
			res, err := tx.Exec(ctx, `UPDATE notify_emails SET status = ? WHERE email_id = ? AND status = ?`, statusDigested, h.id, statusHeld)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return errTaken
			}
		}
		// The latest email says where and how to send: the user's address
		// and their agency's look as they are now.
		last := held[len(held)-1]
		b := decodeBrand(last.brand)
		unsub := s.unsubURL(tenantID, userID, categoryAll)
		items := make([]emailItem, len(held))
		for i, h := range held {
			items[i] = h.item
		}
		count := strconv.Itoa(len(held)) + " notifications"
		if len(held) == 1 {
			count = "1 notification"
		}
		e, err := renderTemplates(b.Name+" daily digest: "+count, emailData{
			Brand: b, Name: last.toName, Items: items,
			Intro: "Here is what happened since your last digest (" + count + ").",
			Unsub: unsub, UnsubWhat: "all notification emails",
			Prefs: s.cfg.BaseURL + prefsPath,
			Why:   "You receive this daily digest because you chose it in your notification preferences at " + b.Name + ".",
		})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO notify_emails
			(email_id, tenant_id, notification_id, to_address, to_name, subject, text_body, html_body, status, next_try_at, created_at,
			 user_id, category, from_name, unsubscribe_url, brand)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id.New("eml"), tenantID, "", last.to, last.toName, e.subject, e.text, e.html, statusPending,
			store.ToMicros(now), store.ToMicros(now), userID, categoryAll, last.fromName, unsub, last.brand)
		if err != nil {
			return fmt.Errorf("notify: queueing digest: %w", err)
		}
		made = true
		return nil
	})
	return made, err
}

// releaseHeld sends now, one by one, the emails a user held for a digest
// they no longer want.
func releaseHeld(ctx context.Context, tx *store.Tx, tenantID, userID string, now int64) error {
	_, err := tx.Exec(ctx, `UPDATE notify_emails SET status = ?, next_try_at = ? WHERE tenant_id = ? AND user_id = ? AND status = ?`,
		statusPending, now, tenantID, userID, statusHeld)
	if err != nil {
		return fmt.Errorf("notify: releasing held emails: %w", err)
	}
	return nil
}
