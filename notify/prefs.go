package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/store"
)

// Channels a kind of event reaches a user on.
const (
	chanInApp = "in_app"
	chanEmail = "email"
	chanBoth  = "both"
	chanNone  = "none"
)

func validChannel(c string) bool {
	return c == chanInApp || c == chanEmail || c == chanBoth || c == chanNone
}

func inApp(c string) bool  { return c == chanInApp || c == chanBoth }
func byMail(c string) bool { return c == chanEmail || c == chanBoth }

// withoutEmail is channel c with email turned off.
func withoutEmail(c string) string {
	switch c {
	case chanBoth:
		return chanInApp
	case chanEmail:
		return chanNone
	}
	return c
}

// defaultChannels is how each kind reaches a user who never chose: what
// needs someone to act goes by email too; news that needs nothing stays
// in the app. team.invited is not here: it goes to someone who is no user.
var defaultChannels = map[string]string{
	bus.TopicPostFailed:            chanBoth,
	bus.TopicAccountNeedsReconnect: chanBoth,
	bus.TopicCredentialExpiring:    chanBoth,
	bus.TopicApprovalRequested:     chanBoth,
	bus.TopicApprovalDecided:       chanBoth,
	bus.TopicApprovalCommented:     chanBoth,
	bus.TopicQueueRunningEmpty:     chanBoth,
	bus.TopicPostPublished:         chanInApp,
	bus.TopicFeedDraftsCreated:     chanInApp,
}

// prefKinds are the kinds a user has preferences for, in the order they
// are listed.
var prefKinds = []string{
	bus.TopicPostFailed, bus.TopicAccountNeedsReconnect, bus.TopicCredentialExpiring,
	bus.TopicApprovalRequested, bus.TopicApprovalDecided, bus.TopicApprovalCommented,
	bus.TopicPostPublished, bus.TopicFeedDraftsCreated, bus.TopicQueueRunningEmpty,
}

// digestSetting is a user's digest mode.
type digestSetting struct {
	enabled bool
	hour    int
	zone    string
}

// channelOf is the user's channel for kind.
func channelOf(ctx context.Context, q store.Querier, tenantID, userID, kind string) (string, error) {
	var c string
	err := q.QueryRow(ctx, `SELECT channel FROM notify_preferences WHERE tenant_id = ? AND user_id = ? AND kind = ?`,
		tenantID, userID, kind).Scan(&c)
	if errors.Is(err, store.ErrNoRows) || (err == nil && !validChannel(c)) {
		if d, ok := defaultChannels[kind]; ok {
			return d, nil
		}
		return chanBoth, nil
	}
	if err != nil {
		return "", fmt.Errorf("notify: preferences of %s: %w", userID, err)
	}
	return c, nil
}

// digestOf is the user's digest mode; off unless they turned it on.
func digestOf(ctx context.Context, q store.Querier, tenantID, userID string) (digestSetting, error) {
	var d digestSetting
	err := q.QueryRow(ctx, `SELECT enabled, hour, zone FROM notify_digests WHERE tenant_id = ? AND user_id = ?`,
		tenantID, userID).Scan(&d.enabled, &d.hour, &d.zone)
	if errors.Is(err, store.ErrNoRows) {
		return digestSetting{zone: "UTC", hour: 8}, nil
	}
	if err != nil {
		return d, fmt.Errorf("notify: digest setting of %s: %w", userID, err)
	}
	return d, nil
}

// GetPreferences returns the user's channel for every kind and their
// digest setting.
func (s *Service) GetPreferences(ctx context.Context, req *notificationv1.GetPreferencesRequest) (*notificationv1.GetPreferencesResponse, error) {
	var v errs.Fields
	checkUser(&v, req.GetTenantId(), req.GetUserId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	kinds, digest, err := s.preferences(ctx, s.db, req.GetTenantId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.GetPreferencesResponse{Kinds: kinds, Digest: digest}, nil
}

func (s *Service) preferences(ctx context.Context, q store.Querier, tenantID, userID string) ([]*notificationv1.KindPreference, *notificationv1.Digest, error) {
	rows, err := q.Query(ctx, `SELECT kind, channel FROM notify_preferences WHERE tenant_id = ? AND user_id = ?`, tenantID, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("notify: preferences of %s: %w", userID, err)
	}
	chosen := map[string]string{}
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			rows.Close()
			return nil, nil, err
		}
		chosen[k] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var out []*notificationv1.KindPreference
	for _, k := range prefKinds {
		p := &notificationv1.KindPreference{Kind: k, Channel: defaultChannels[k], IsDefault: true}
		if c, ok := chosen[k]; ok && validChannel(c) {
			p.Channel, p.IsDefault = c, false
		}
		out = append(out, p)
	}
	d, err := digestOf(ctx, q, tenantID, userID)
	if err != nil {
		return nil, nil, err
	}
	return out, &notificationv1.Digest{Enabled: d.enabled, Hour: int32(d.hour), Zone: d.zone}, nil
}

// UpdatePreferences changes the kinds the request names and, when it
// carries one, the digest setting. Every field is checked before anything
// changes.
func (s *Service) UpdatePreferences(ctx context.Context, req *notificationv1.UpdatePreferencesRequest) (*notificationv1.UpdatePreferencesResponse, error) {
	var v errs.Fields
	checkUser(&v, req.GetTenantId(), req.GetUserId())
	if len(req.GetKinds()) > len(prefKinds) {
		v.Add("kinds", "must hold at most %d entries", len(prefKinds))
	}
	seen := map[string]bool{}
	for i, k := range req.GetKinds() {
		field := fmt.Sprintf("kinds[%d]", i)
		if _, ok := defaultChannels[k.GetKind()]; !ok {
			v.Add(field+".kind", "must be one of the event kinds (%s)", joinKinds())
		} else if seen[k.GetKind()] {
			v.Add(field+".kind", "is listed twice")
		}
		seen[k.GetKind()] = true
		if !validChannel(k.GetChannel()) {
			v.Add(field+".channel", "must be one of in_app, email, both, none")
		}
	}
	if d := req.GetDigest(); d != nil {
		if d.GetHour() < 0 || d.GetHour() > 23 {
			v.Add("digest.hour", "must be between 0 and 23")
		}
		if d.GetZone() == "" {
			v.Add("digest.zone", "is required (an IANA zone such as Europe/Paris)")
		} else if _, err := time.LoadLocation(d.GetZone()); err != nil || d.GetZone() == "Local" {
			v.Add("digest.zone", "is not a known time zone")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tenantID, userID := req.GetTenantId(), req.GetUserId()
	now := store.ToMicros(s.now())
	res := &notificationv1.UpdatePreferencesResponse{}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, k := range req.GetKinds() {
			if err := setChannel(ctx, tx, tenantID, userID, k.GetKind(), k.GetChannel(), now); err != nil {
				return err
			}
		}
		if d := req.GetDigest(); d != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO notify_digests (tenant_id, user_id, enabled, hour, zone, updated_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id)
				DO UPDATE SET enabled = excluded.enabled, hour = excluded.hour, zone = excluded.zone, updated_at = excluded.updated_at`,
				tenantID, userID, d.GetEnabled(), d.GetHour(), d.GetZone(), now); err != nil {
				return fmt.Errorf("notify: storing digest setting: %w", err)
			}
			if !d.GetEnabled() {
				// Emails held for a digest that will not come go out now.
				if err := releaseHeld(ctx, tx, tenantID, userID, now); err != nil {
					return err
				}
			}
		}
		var err error
		res.Kinds, res.Digest, err = s.preferences(ctx, tx, tenantID, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if req.GetDigest() != nil && !req.GetDigest().GetEnabled() {
		s.wakeMail()
	}
	return res, nil
}

func setChannel(ctx context.Context, tx *store.Tx, tenantID, userID, kind, channel string, now int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO notify_preferences (tenant_id, user_id, kind, channel, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id, kind)
		DO UPDATE SET channel = excluded.channel, updated_at = excluded.updated_at`,
		tenantID, userID, kind, channel, now)
	if err != nil {
		return fmt.Errorf("notify: storing preference: %w", err)
	}
	return nil
}

func joinKinds() string {
	out := ""
	for i, k := range prefKinds {
		if i > 0 {
			out += ", "
		}
		out += k
	}
	return out
}
