package notify

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/store"
)

// Email dead letters: an email that exhausted its retries stays in
// notify_emails as failed, with its last error; these calls show them and
// send one again.

const maxFailedEmails = 200

// ListFailedEmails lists a tenant's failed emails, newest first.
func (s *Service) ListFailedEmails(ctx context.Context, req *notificationv1.ListFailedEmailsRequest) (*notificationv1.ListFailedEmailsResponse, error) {
	var v errs.Fields
	if req.GetTenantId() == "" {
		v.Add("tenant_id", "is required")
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = 50
	case limit < 1 || limit > maxFailedEmails:
		v.Add("limit", "must be between 1 and %d", maxFailedEmails)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT email_id, to_address, subject, attempts, last_error, created_at, next_try_at
		FROM notify_emails WHERE tenant_id = ? AND status = ? ORDER BY created_at DESC, email_id DESC LIMIT ?`,
		req.GetTenantId(), statusFailed, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &notificationv1.ListFailedEmailsResponse{}
	for rows.Next() {
		e := &notificationv1.FailedEmail{}
		var attempts int
		var created, tried int64
		if err := rows.Scan(&e.EmailId, &e.ToAddress, &e.Subject, &attempts, &e.LastError, &created, &tried); err != nil {
			return nil, err
		}
		e.Attempts = int32(attempts)
		e.CreatedAt, e.LastTriedAt = timestamppb.New(store.FromMicros(created)), timestamppb.New(store.FromMicros(tried))
		out.Emails = append(out.Emails, e)
	}
	return out, rows.Err()
}

// ResendEmail puts a failed email back in the queue, due now, with its
// tries counted from zero again.
func (s *Service) ResendEmail(ctx context.Context, req *notificationv1.ResendEmailRequest) (*notificationv1.ResendEmailResponse, error) {
	var v errs.Fields
	if req.GetTenantId() == "" {
		v.Add("tenant_id", "is required")
	}
	if req.GetEmailId() == "" {
		v.Add("email_id", "is required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.smtp == nil {
		return nil, errs.E(errs.Unavailable, "email is not configured on this installation")
	}
	res, err := s.db.Exec(ctx, `UPDATE notify_emails SET status = ?, attempts = 0, next_try_at = ?
		WHERE tenant_id = ? AND email_id = ? AND status = ?`,
		statusPending, store.ToMicros(time.Now()), req.GetTenantId(), req.GetEmailId(), statusFailed)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, errs.E(errs.NotFound, "no failed email %s", req.GetEmailId())
	}
	s.wakeMail()
	return &notificationv1.ResendEmailResponse{}, nil
}
