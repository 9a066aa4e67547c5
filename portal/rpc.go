package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

// GetPublishJob returns what Publisher needs to publish one revision of a
// post, account tokens included. It is for Publisher only and must never be
// exposed on the public API. The job is publishable while the post is
// scheduled (some target still pending) and revision is its current one;
// otherwise the response says why and carries no job. For a recurring or
// queued post, due_at names the firing and only its unsettled targets are
// returned.
func (s *Service) GetPublishJob(ctx context.Context, req *portalv1.GetPublishJobRequest) (*portalv1.GetPublishJobResponse, error) {
	var v errs.Fields
	if req.GetTenantId() == "" {
		v.Add("tenant_id", "is required")
	}
	if req.GetPostId() == "" {
		v.Add("post_id", "is required")
	}
	if req.GetRevision() < 1 {
		v.Add("revision", "must be at least 1")
	}
	if req.DueAt != nil && req.GetDueAt().CheckValid() != nil {
		v.Add("due_at", "is not a valid instant")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tenant := req.GetTenantId()
	post, err := s.loadPost(ctx, s.db, tenant, req.GetPostId())
	if errs.Is(err, errs.NotFound) {
		return &portalv1.GetPublishJobResponse{Reason: "the post was deleted"}, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case post.Revision != req.GetRevision():
		return &portalv1.GetPublishJobResponse{Reason: fmt.Sprintf("the post was edited: revision %d is current, not %d", post.Revision, req.GetRevision())}, nil
	case post.Status != PostScheduled:
		return &portalv1.GetPublishJobResponse{Reason: "the post is " + post.Status}, nil
	}
	job := &portalv1.PublishJob{TenantId: tenant, WorkspaceId: post.WorkspaceID, PostId: post.ID, Revision: post.Revision, Text: post.Text}
	for _, t := range post.Thread {
		job.Thread = append(job.Thread, &portalv1.PostPart{Text: t})
	}
	if post.FirstComment != "" {
		job.FirstComment = &portalv1.PostPart{Text: post.FirstComment}
	}

	rows, err := s.db.Query(ctx, `SELECT m.blob_key, m.mime_type, m.size_bytes, m.description, m.file_name
		FROM portal_post_media pm JOIN portal_media m ON m.id = pm.media_id AND m.agency_id = ?
		WHERE pm.post_id = ? ORDER BY pm.position`, tenant, post.ID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		m := &portalv1.MediaRef{}
		if err := rows.Scan(&m.BlobKey, &m.MimeType, &m.SizeBytes, &m.Description, &m.FileName); err != nil {
			rows.Close()
			return nil, err
		}
		job.Media = append(job.Media, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Only targets still pending: one already published or failed is
	// settled, and an account removed since is no target any more. A
	// recurring or queued post publishes to every target at each firing,
	// so what is settled is per firing: with the firing's due instant,
	// the targets whose outcome for it is recorded are left out (a
	// redelivered post.due after its publish finds none); without one,
	// every target is offered and Publisher's idempotency key (which holds
	// the due instant) keeps a redelivered firing from going out twice.
	q := `SELECT ` + targetColumns + `
		FROM portal_post_targets t JOIN portal_accounts a ON a.id = t.account_id AND a.agency_id = t.agency_id
		WHERE t.agency_id = ? AND t.post_id = ?`
	args := []any{tenant, post.ID}
	switch {
	case !repeating(post.Kind):
		q += ` AND t.status = ?`
		args = append(args, TargetPending)
	case req.GetDueAt() != nil:
		q += ` AND NOT EXISTS (SELECT 1 FROM portal_post_firings f
			WHERE f.agency_id = t.agency_id AND f.post_id = t.post_id AND f.account_id = t.account_id
			AND f.due_at = ? AND f.status <> ?)`
		args = append(args, store.ToMicros(req.GetDueAt().AsTime()), TargetPending)
	}
	rows, err = s.db.Query(ctx, q+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := s.scanTarget(rows)
		if err != nil {
			return nil, err
		}
		job.Targets = append(job.Targets, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.addJobVariants(ctx, tenant, post, job); err != nil {
		return nil, err
	}
	if len(job.Targets) == 0 {
		if repeating(post.Kind) && req.GetDueAt() != nil {
			return &portalv1.GetPublishJobResponse{Reason: "this firing of the post has no pending target"}, nil
		}
		return &portalv1.GetPublishJobResponse{Reason: "the post has no pending target"}, nil
	}
	return &portalv1.GetPublishJobResponse{Job: job, Publishable: true}, nil
}

// targetColumns are what scanTarget reads, of portal_accounts as a.
const targetColumns = `a.id, a.workspace_id, a.network, a.instance_url, a.remote_id, a.handle, a.token_sealed,
	a.refresh_sealed, a.secret_sealed, a.expires_at, a.credentials_version`

// scanTarget reads an account's publishing target, its credentials opened.
func (s *Service) scanTarget(sc interface{ Scan(...any) error }) (*portalv1.Target, error) {
	t := &portalv1.Target{}
	var ws string
	var sealed, refresh, secret []byte
	var expires int64
	if err := sc.Scan(&t.AccountId, &ws, &t.Network, &t.InstanceUrl, &t.RemoteId, &t.Handle, &sealed,
		&refresh, &secret, &expires, &t.CredentialsVersion); err != nil {
		return nil, err
	}
	var err error
	if t.AccessToken, err = s.keys.open(sealed, tokenAAD(ws, t.Network, t.InstanceUrl, t.RemoteId)); err != nil {
		return nil, fmt.Errorf("portal: account %s token: %w", t.AccountId, err)
	}
	if t.RefreshToken, err = s.openOptional(refresh, refreshAAD(ws, t.Network, t.InstanceUrl, t.RemoteId)); err != nil {
		return nil, fmt.Errorf("portal: account %s refresh token: %w", t.AccountId, err)
	}
	if t.Secret, err = s.openOptional(secret, secretAAD(ws, t.Network, t.InstanceUrl, t.RemoteId)); err != nil {
		return nil, fmt.Errorf("portal: account %s secret: %w", t.AccountId, err)
	}
	if expires != 0 {
		t.ExpiresAt = timestamppb.New(store.FromMicros(expires))
	}
	return t, nil
}

// UpdateCredentials stores credentials Publisher renewed, if the stored ones
// are still those the renewal started from (based_on_version): when another
// refresh or a reconnect came first, nothing changes and the response
// carries the stored credentials for the caller to use instead. An empty
// refresh token keeps the stored one, since networks that rotate refresh
// tokens send a new one and the others send none. Like GetPublishJob it is
// for Publisher only.
func (s *Service) UpdateCredentials(ctx context.Context, req *portalv1.UpdateCredentialsRequest) (*portalv1.UpdateCredentialsResponse, error) {
	var v errs.Fields
	if req.GetTenantId() == "" {
		v.Add("tenant_id", "is required")
	}
	if req.GetAccountId() == "" {
		v.Add("account_id", "is required")
	}
	if req.GetBasedOnVersion() < 1 {
		v.Add("based_on_version", "must be at least 1")
	}
	if req.GetAccessToken() == "" {
		v.Add("access_token", "is required")
	} else if len(req.GetAccessToken()) > 8192 {
		v.Add("access_token", "is too long")
	}
	if len(req.GetRefreshToken()) > 8192 {
		v.Add("refresh_token", "is too long")
	}
	if req.ExpiresAt != nil && req.GetExpiresAt().CheckValid() != nil {
		v.Add("expires_at", "is not a valid instant")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tenant, acct := req.GetTenantId(), req.GetAccountId()
	load := func(q store.Querier) (*portalv1.Target, error) {
		t, err := s.scanTarget(q.QueryRow(ctx, `SELECT `+targetColumns+` FROM portal_accounts a
			WHERE a.agency_id = ? AND a.id = ?`, tenant, acct))
		return t, store.NotFound(err, "account")
	}
	res := &portalv1.UpdateCredentialsResponse{}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res.Updated = false
		cur, err := load(tx)
		if err != nil {
			return err
		}
		res.Target = cur
		if cur.GetCredentialsVersion() != req.GetBasedOnVersion() {
			return nil
		}
		var ws string
		if err := tx.QueryRow(ctx, `SELECT workspace_id FROM portal_accounts WHERE agency_id = ? AND id = ?`, tenant, acct).Scan(&ws); err != nil {
			return err
		}
		var expires int64
		if req.ExpiresAt != nil {
			expires = store.ToMicros(req.GetExpiresAt().AsTime())
		}
		sealed := s.keys.seal(req.GetAccessToken(), tokenAAD(ws, cur.Network, cur.InstanceUrl, cur.RemoteId))
		refresh := s.sealOptional(req.GetRefreshToken(), refreshAAD(ws, cur.Network, cur.InstanceUrl, cur.RemoteId))
		r, err := tx.Exec(ctx, `UPDATE portal_accounts SET token_sealed = ?,
				refresh_sealed = COALESCE(?, refresh_sealed),
				expires_at = ?, credentials_version = credentials_version + 1, updated_at = ?
			WHERE agency_id = ? AND id = ? AND credentials_version = ?`,
			sealed, refresh, expires, store.ToMicros(time.Now()), tenant, acct, req.GetBasedOnVersion())
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			return err
		}
		s.markStale(ctx, tx, accountsScope(tenant, ws))
		res.Updated = true
		res.Target, err = load(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ListRecipients returns who hears about a workspace's events: its members
// and the agency's owners, with their emails and roles, and the agency's
// branding for the emails.
func (s *Service) ListRecipients(ctx context.Context, req *portalv1.ListRecipientsRequest) (*portalv1.ListRecipientsResponse, error) {
	var v errs.Fields
	if req.GetTenantId() == "" {
		v.Add("tenant_id", "is required")
	}
	if req.GetWorkspaceId() == "" {
		v.Add("workspace_id", "is required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM portal_workspaces WHERE agency_id = ? AND id = ?`, req.GetTenantId(), req.GetWorkspaceId()).Scan(&one)
	if errors.Is(err, store.ErrNoRows) {
		return nil, errs.E(errs.NotFound, "workspace not found")
	}
	if err != nil {
		return nil, err
	}
	members, err := s.members(ctx, req.GetTenantId(), req.GetWorkspaceId())
	if err != nil {
		return nil, err
	}
	res := &portalv1.ListRecipientsResponse{}
	if res.Branding, err = s.brandingProto(ctx, req.GetTenantId()); err != nil {
		return nil, err
	}
	for _, m := range members {
		res.Recipients = append(res.Recipients, &portalv1.Recipient{UserId: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role)})
	}
	return res, nil
}
