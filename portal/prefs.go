package portal

import (
	"context"
	"net/http"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// NotificationPreferences returns how each kind of event reaches the
// principal, and their digest setting. They are Notification's; Portal
// only passes them on for the signed-in user.
func (s *Service) NotificationPreferences(ctx context.Context, p *Principal) (*notificationv1.GetPreferencesResponse, error) {
	res, err := s.notification.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{TenantId: p.AgencyID, UserId: p.UserID})
	if err != nil {
		return nil, remoteError(ctx, err, "notification preferences are unavailable right now")
	}
	return res, nil
}

// UpdateNotificationPreferences changes the principal's channel for the
// kinds given and, when digest is not nil, their digest setting.
func (s *Service) UpdateNotificationPreferences(ctx context.Context, p *Principal, kinds []*notificationv1.KindPreference, digest *notificationv1.Digest) (*notificationv1.UpdatePreferencesResponse, error) {
	res, err := s.notification.UpdatePreferences(ctx, &notificationv1.UpdatePreferencesRequest{
		TenantId: p.AgencyID, UserId: p.UserID, Kinds: kinds, Digest: digest,
	})
	if err != nil {
		return nil, remoteError(ctx, err, "notification preferences are unavailable right now")
	}
	return res, nil
}

type kindPrefJSON struct {
	Kind      string `json:"kind"`
	Channel   string `json:"channel"`
	IsDefault bool   `json:"is_default,omitempty"`
}

type digestJSON struct {
	Enabled bool   `json:"enabled"`
	Hour    int32  `json:"hour"`
	Zone    string `json:"zone"`
}

type prefsJSON struct {
	Kinds  []kindPrefJSON `json:"kinds"`
	Digest *digestJSON    `json:"digest,omitempty"`
}

func prefsView(kinds []*notificationv1.KindPreference, d *notificationv1.Digest) prefsJSON {
	out := prefsJSON{Kinds: []kindPrefJSON{}}
	for _, k := range kinds {
		out.Kinds = append(out.Kinds, kindPrefJSON{Kind: k.GetKind(), Channel: k.GetChannel(), IsDefault: k.GetIsDefault()})
	}
	if d != nil {
		out.Digest = &digestJSON{Enabled: d.GetEnabled(), Hour: d.GetHour(), Zone: d.GetZone()}
	}
	return out
}

// GET /api/v1/me/notification-preferences -> {kinds: [{kind, channel,
// is_default}], digest: {enabled, hour, zone}}
func (s *Service) apiGetNotificationPrefs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := s.NotificationPreferences(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, prefsView(res.GetKinds(), res.GetDigest()))
}

// PUT /api/v1/me/notification-preferences {kinds: [{kind, channel}],
// digest?: {enabled, hour, zone}} -> the preferences; kinds left out keep
// their channel, and the digest setting stays unless given.
func (s *Service) apiPutNotificationPrefs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req prefsJSON
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	var kinds []*notificationv1.KindPreference
	for _, k := range req.Kinds {
		kinds = append(kinds, &notificationv1.KindPreference{Kind: k.Kind, Channel: k.Channel})
	}
	var digest *notificationv1.Digest
	if d := req.Digest; d != nil {
		digest = &notificationv1.Digest{Enabled: d.Enabled, Hour: d.Hour, Zone: d.Zone}
	}
	res, err := s.UpdateNotificationPreferences(r.Context(), p, kinds, digest)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, prefsView(res.GetKinds(), res.GetDigest()))
}
