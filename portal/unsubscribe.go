package portal

import (
	"context"
	"net/http"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// Unsubscribe stops the emails an unsubscribe link names. The link's
// signed token is the whole authority: no sign-in is needed, and only
// Notification, which signed it, can tell a good one.
func (s *Service) Unsubscribe(ctx context.Context, token string) (*notificationv1.UnsubscribeResponse, error) {
	if token == "" {
		return nil, errs.Fields{"token": "is required"}.Err()
	}
	res, err := s.notification.Unsubscribe(ctx, &notificationv1.UnsubscribeRequest{Token: token})
	if err != nil {
		return nil, remoteError(ctx, err, "unsubscribing is unavailable right now; try the link again later")
	}
	return res, nil
}

type unsubscribeView struct {
	chrome
	Token string
	// Done names the category of emails stopped, once they are.
	Done  string
	Error string
}

// GET /unsubscribe?token= : asks before unsubscribing, so a mail scanner
// following every link does not unsubscribe anyone.
func (u *webUI) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	v := unsubscribeView{chrome: u.chrome(w, r, nil, "Unsubscribe", ""), Token: r.URL.Query().Get("token")}
	if v.Token == "" {
		v.Error = "This unsubscribe link is incomplete. Open the link from the email again."
	}
	u.render(w, r, http.StatusOK, "unsubscribe", v)
	return nil
}

// POST /unsubscribe?token= : the page's button, and RFC 8058's one-click
// POST from mail clients (body List-Unsubscribe=One-Click).
func (u *webUI) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.PostFormValue("token")
	}
	v := unsubscribeView{chrome: u.chrome(w, r, nil, "Unsubscribe", ""), Token: token}
	res, err := u.s.Unsubscribe(r.Context(), token)
	status := http.StatusOK
	switch {
	case err == nil:
		v.Done = categoryLabel(res.GetCategory())
	case errs.KindOf(err) == errs.Internal:
		return err
	case errs.Is(err, errs.Invalid):
		status = http.StatusBadRequest
		v.Error = "This unsubscribe link is not valid. Open the link from the email again, or sign in to change your notification preferences."
	default:
		status = refusedStatus(w, err)
		v.Error = sentence(errs.PublicMessage(err))
	}
	u.render(w, r, status, "unsubscribe", v)
	return nil
}
