package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// Emails that Notification gave up on (dead letters): the agency's owners
// see them and may send one again.

// FailedEmail is an email that exhausted its retries.
type FailedEmail struct {
	ID, To, Subject, LastError string
	Attempts                   int
	CreatedAt, LastTriedAt     time.Time
}

// ListFailedEmails lists the agency's newest failed emails, at most limit
// (1 to 200, 0: 50). Owners only. Notification's request has no cursor, so
// this list has one page (docs/decisions/0037).
func (s *Service) ListFailedEmails(ctx context.Context, p *Principal, limit int) ([]FailedEmail, error) {
	if !p.Owner {
		return nil, errs.E(errs.Forbidden, "only the agency's owners see undelivered emails")
	}
	pg, err := s.openPage("failed-emails:"+p.AgencyID, PageRequest{Limit: limit})
	if err != nil {
		return nil, err
	}
	res, err := s.notification.ListFailedEmails(ctx, &notificationv1.ListFailedEmailsRequest{TenantId: p.AgencyID, Limit: int32(pg.limit)})
	if err != nil {
		return nil, err
	}
	out := []FailedEmail{}
	for _, e := range res.GetEmails() {
		out = append(out, FailedEmail{ID: e.GetEmailId(), To: e.GetToAddress(), Subject: e.GetSubject(), LastError: e.GetLastError(),
			Attempts: int(e.GetAttempts()), CreatedAt: e.GetCreatedAt().AsTime(), LastTriedAt: e.GetLastTriedAt().AsTime()})
	}
	return out, nil
}

// ResendEmail sends a failed email again. Owners only.
func (s *Service) ResendEmail(ctx context.Context, p *Principal, emailID string) error {
	if !p.Owner {
		return errs.E(errs.Forbidden, "only the agency's owners resend undelivered emails")
	}
	_, err := s.notification.ResendEmail(ctx, &notificationv1.ResendEmailRequest{TenantId: p.AgencyID, EmailId: emailID})
	return err
}

type failedEmailJSON struct {
	ID          string `json:"id"`
	To          string `json:"to"`
	Subject     string `json:"subject"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error"`
	CreatedAt   string `json:"created_at"`
	LastTriedAt string `json:"last_tried_at"`
}

// GET /api/v1/agency/failed-emails?limit=N -> {emails}, newest first; not
// paged (no cursor) until Notification's request takes one.
func (s *Service) apiListFailedEmails(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pr := pageParams(r)
	if pr.Cursor != "" {
		return errs.Fields{"cursor": "this list has a single page: leave the cursor out"}.Err()
	}
	list, err := s.ListFailedEmails(r.Context(), p, pr.Limit)
	if err != nil {
		return err
	}
	out := make([]failedEmailJSON, 0, len(list))
	for _, e := range list {
		out = append(out, failedEmailJSON{ID: e.ID, To: e.To, Subject: e.Subject, Attempts: e.Attempts, LastError: e.LastError,
			CreatedAt: ts(e.CreatedAt), LastTriedAt: ts(e.LastTriedAt)})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"emails": out})
}

// POST /api/v1/agency/failed-emails/{id}/resend -> 202
func (s *Service) apiResendEmail(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.ResendEmail(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}

type failedEmailsView struct {
	chrome
	Emails []FailedEmail
}

// GET /settings/emails (owners only)
func (u *webUI) failedEmailsPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := u.s.ListFailedEmails(r.Context(), p, maxPageSize)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "failed_emails", failedEmailsView{chrome: u.chrome(w, r, p, "Undelivered emails", "emails"), Emails: list})
	return nil
}

// POST /settings/emails/{id}/resend (owners only)
func (u *webUI) resendEmail(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := u.s.ResendEmail(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	u.setFlash(w, flash{Kind: "success", Message: "The email goes out again now."})
	redirect(w, r, "/settings/emails")
	return nil
}
