package portal

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// categoryLabels name the kinds of notification to people.
var categoryLabels = map[string]string{
	"post.failed":                 "Post failed or of unknown outcome",
	"account.needs_reconnect":     "Account needs reconnecting",
	"account.credential_expiring": "Account access expiring soon",
	"approval.requested":          "Approval requested",
	"approval.decided":            "Post approved or rejected",
	"approval.commented":          "Comment on a post under review",
	"post.published":              "Post published",
	"feed.drafts_created":         "Posts created from a feed",
	"queue.running_empty":         "Queue running empty",
	"all":                         "notification",
}

func categoryLabel(kind string) string {
	if l, ok := categoryLabels[kind]; ok {
		if kind == "all" {
			return l
		}
		return "“" + l + "”"
	}
	return kind
}

type prefRow struct {
	Kind, Label, Channel string
	IsDefault            bool
}

type prefsPageView struct {
	chrome
	Rows   []prefRow
	Digest *notificationv1.Digest
	Hours  []int
	Zones  []zoneGroup
	Form   *form
	Error  string
	// Channels are the choices of every select.
	Channels []struct{ Value, Label string }
}

var channelChoices = []struct{ Value, Label string }{
	{"both", "In the app and by email"}, {"in_app", "In the app only"}, {"email", "By email only"}, {"none", "Not at all"},
}

func (u *webUI) prefsPage(w http.ResponseWriter, r *http.Request, p *Principal, status int, f *form, problem string) error {
	v := prefsPageView{Form: f, Error: problem, Zones: u.zones, Channels: channelChoices}
	for h := range 24 {
		v.Hours = append(v.Hours, h)
	}
	res, err := u.s.NotificationPreferences(r.Context(), p)
	switch {
	case err == nil:
		for _, k := range res.GetKinds() {
			label := categoryLabels[k.GetKind()]
			if label == "" {
				label = k.GetKind()
			}
			v.Rows = append(v.Rows, prefRow{Kind: k.GetKind(), Label: label, Channel: k.GetChannel(), IsDefault: k.GetIsDefault()})
		}
		v.Digest = res.GetDigest()
		if v.Digest == nil {
			v.Digest = &notificationv1.Digest{Hour: 8, Zone: "UTC"}
		}
	case errs.KindOf(err) == errs.Internal:
		return err
	default:
		v.Error = sentence(errs.PublicMessage(err))
	}
	v.chrome = u.chrome(w, r, p, "Notification preferences", "notifications")
	u.render(w, r, status, "notification_prefs", v)
	return nil
}

// GET /settings/notifications
func (u *webUI) notificationPrefs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.prefsPage(w, r, p, http.StatusOK, nil, "")
}

// POST /settings/notifications : a channel per kind (channel.<kind>) and the
// digest (digest=on, digest_hour, digest_zone).
func (u *webUI) saveNotificationPrefs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var kinds []*notificationv1.KindPreference
	for _, kind := range slices.Sorted(maps.Keys(categoryLabels)) {
		if c := r.PostFormValue("channel." + kind); c != "" {
			kinds = append(kinds, &notificationv1.KindPreference{Kind: kind, Channel: c})
		}
	}
	hour, err := strconv.Atoi(r.PostFormValue("digest_hour"))
	if err != nil {
		hour = -1 // refused by Notification, field by field
	}
	digest := &notificationv1.Digest{Enabled: r.PostFormValue("digest") == "on", Hour: int32(hour), Zone: r.PostFormValue("digest_zone")}
	if _, err := u.s.UpdateNotificationPreferences(r.Context(), p, kinds, digest); err != nil {
		f := newForm(r)
		if err := f.fail(err, "digest"); err != nil {
			return err
		}
		return u.prefsPage(w, r, p, refusedStatus(w, err), f, f.Error)
	}
	u.setFlash(w, flash{Kind: "success", Message: "Your notification preferences are saved."})
	redirect(w, r, "/settings/notifications")
	return nil
}
