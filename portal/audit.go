package portal

import (
	"context"
	"fmt"
	"io"
	"time"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// The audit log: who changed what, per workspace. Each exported domain
// method that changes a workspace is a thin wrapper, below, around its
// implementation (do...), and records one entry once the change is made;
// reads are not logged. Entries are kept as long as the workspace.

// AuditEntry is one change.
type AuditEntry struct {
	ID, WorkspaceID      string
	ActorID, ActorName   string
	ViaToken             bool
	Action               string // e.g. "post.created"
	ObjectType, ObjectID string
	Detail               string
	At                   time.Time
}

// audit records a change made by p. A failure to record is logged, not
// returned: the change is made and the caller must hear so.
func (s *Service) audit(ctx context.Context, p *Principal, workspaceID, action, objectType, objectID, detail string) {
	actorID, name := actorOf(p)
	if len(detail) > 500 {
		detail = truncateBytes(detail, 500)
	}
	_, err := s.db.Exec(context.WithoutCancel(ctx), `INSERT INTO portal_audit
		(id, agency_id, workspace_id, actor_id, actor_name, via_token, action, object_type, object_id, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id.New("aud"), p.AgencyID, workspaceID, actorID, name, p.ViaToken, action, objectType, objectID, detail, store.ToMicros(time.Now()))
	if err != nil {
		s.log.Warn("audit: recording a change", "action", action, "object_id", objectID, "err", err)
	}
}

// ListAudit returns a page of a workspace's changes, newest first, limit at
// a time (1 to 200, 0: 50); cursor is the previous page's next cursor (""
// for the first), and the next cursor is "" after the last page.
func (s *Service) ListAudit(ctx context.Context, p *Principal, workspaceID, cursor string, limit int) ([]AuditEntry, string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actAccounts); err != nil {
		return nil, "", err
	}
	pg, err := s.openPage("audit:"+p.AgencyID+":"+workspaceID, PageRequest{Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, "", err
	}
	cond, condArgs := pg.where("created_at", "id", true)
	q := `SELECT id, workspace_id, actor_id, actor_name, via_token, action, object_type, object_id, detail, created_at
		FROM portal_audit WHERE agency_id = ? AND workspace_id = ?` + cond + ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args := append(append([]any{p.AgencyID, workspaceID}, condArgs...), pg.limit+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &e.ActorID, &e.ActorName, &e.ViaToken, &e.Action, &e.ObjectType, &e.ObjectID, &e.Detail, &at); err != nil {
			return nil, "", err
		}
		e.At = store.FromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := pageNext(s, pg, out, func(e AuditEntry) pagePlace { return pagePlace{At: store.ToMicros(e.At), ID: e.ID} })
	return out, next, nil
}

// workspaceOf finds the workspace an object of the agency belongs to,
// before a change that removes it; "" when there is none.
func (s *Service) workspaceOf(ctx context.Context, agencyID, table, objectID string) string {
	var ws string
	_ = s.db.QueryRow(ctx, `SELECT workspace_id FROM `+table+` WHERE agency_id = ? AND id = ?`, agencyID, objectID).Scan(&ws)
	return ws
}

// --- the audited domain methods ---

// CreateWorkspace creates a client workspace.
func (s *Service) CreateWorkspace(ctx context.Context, p *Principal, in WorkspaceInput) (Workspace, error) {
	ws, err := s.doCreateWorkspace(ctx, p, in)
	if err == nil {
		s.audit(ctx, p, ws.ID, "workspace.created", "workspace", ws.ID, ws.Name)
	}
	return ws, err
}

// CreatePost creates a post (see doCreatePost).
func (s *Service) CreatePost(ctx context.Context, p *Principal, workspaceID string, in PostInput) (Post, error) {
	post, err := s.doCreatePost(ctx, p, workspaceID, in)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.created", "post", post.ID, postExcerpt(post.Text))
	}
	return post, err
}

// UpdatePost changes a post (see doUpdatePost).
func (s *Service) UpdatePost(ctx context.Context, p *Principal, postID string, up PostUpdate) (Post, error) {
	post, err := s.doUpdatePost(ctx, p, postID, up)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.updated", "post", post.ID, fmt.Sprintf("revision %d", post.Revision))
	}
	return post, err
}

// DeletePost deletes a post (see doDeletePost).
func (s *Service) DeletePost(ctx context.Context, p *Principal, postID string) error {
	ws := s.workspaceOf(ctx, p.AgencyID, "portal_posts", postID)
	err := s.doDeletePost(ctx, p, postID)
	if err == nil {
		s.audit(ctx, p, ws, "post.deleted", "post", postID, "")
	}
	return err
}

// ImportPosts imports a CSV file of posts (see doImportPosts).
func (s *Service) ImportPosts(ctx context.Context, p *Principal, workspaceID string, file io.Reader, dryRun bool) (ImportResult, error) {
	res, err := s.doImportPosts(ctx, p, workspaceID, file, dryRun)
	if err == nil && !dryRun {
		created := 0
		for _, row := range res.Rows {
			if row.PostID != "" {
				created++
			}
		}
		s.audit(ctx, p, workspaceID, "posts.imported", "import", "", fmt.Sprintf("%d of %d rows created", created, len(res.Rows)))
	}
	return res, err
}

// RetryTarget publishes a post's target again (see doRetryTarget).
func (s *Service) RetryTarget(ctx context.Context, p *Principal, postID, accountID string) (Post, error) {
	post, err := s.doRetryTarget(ctx, p, postID, accountID)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.target_retried", "post", post.ID, "account "+accountID)
	}
	return post, err
}

// MarkTargetPublished settles an unknown outcome as published (see
// doMarkTargetPublished).
func (s *Service) MarkTargetPublished(ctx context.Context, p *Principal, postID, accountID, remoteURL string) (Post, error) {
	post, err := s.doMarkTargetPublished(ctx, p, postID, accountID, remoteURL)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.target_marked_published", "post", post.ID, "account "+accountID+" "+remoteURL)
	}
	return post, err
}

// SetApprovalPolicy sets a workspace's approval policy.
func (s *Service) SetApprovalPolicy(ctx context.Context, p *Principal, workspaceID, policy string) (string, error) {
	out, err := s.doSetApprovalPolicy(ctx, p, workspaceID, policy)
	if err == nil {
		s.audit(ctx, p, workspaceID, "approval_policy.set", "workspace", workspaceID, out)
	}
	return out, err
}

// ApprovePost approves a post's current stage.
func (s *Service) ApprovePost(ctx context.Context, p *Principal, postID string, d Decision) (Post, error) {
	post, err := s.doApprovePost(ctx, p, postID, d)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.approved", "post", post.ID, d.Comment)
	}
	return post, err
}

// RejectPost rejects a post back to a draft.
func (s *Service) RejectPost(ctx context.Context, p *Principal, postID string, d Decision) (Post, error) {
	post, err := s.doRejectPost(ctx, p, postID, d)
	if err == nil {
		s.audit(ctx, p, post.WorkspaceID, "post.rejected", "post", post.ID, d.Comment)
	}
	return post, err
}

// CommentOnPost comments on a post under review.
func (s *Service) CommentOnPost(ctx context.Context, p *Principal, postID, body string) (ReviewEntry, error) {
	ws := s.workspaceOf(ctx, p.AgencyID, "portal_posts", postID)
	e, err := s.doCommentOnPost(ctx, p, postID, body)
	if err == nil {
		s.audit(ctx, p, ws, "post.commented", "post", postID, body)
	}
	return e, err
}

// CreateReviewLink makes a client review link.
func (s *Service) CreateReviewLink(ctx context.Context, p *Principal, workspaceID string, in ReviewLinkInput) (ReviewLink, error) {
	l, err := s.doCreateReviewLink(ctx, p, workspaceID, in)
	if err == nil {
		s.audit(ctx, p, workspaceID, "review_link.created", "review_link", l.ID, "")
	}
	return l, err
}

// RevokeReviewLink revokes a client review link.
func (s *Service) RevokeReviewLink(ctx context.Context, p *Principal, linkID string) error {
	ws := s.workspaceOf(ctx, p.AgencyID, "portal_review_links", linkID)
	err := s.doRevokeReviewLink(ctx, p, linkID)
	if err == nil {
		s.audit(ctx, p, ws, "review_link.revoked", "review_link", linkID, "")
	}
	return err
}

func (s *Service) auditAccount(ctx context.Context, p *Principal, action string, a Account) {
	s.audit(ctx, p, a.WorkspaceID, action, "account", a.ID, a.Network+" "+a.Handle)
}

// ConnectAccount connects a social account by token.
func (s *Service) ConnectAccount(ctx context.Context, p *Principal, workspaceID string, in AccountInput) (Account, error) {
	a, err := s.doConnectAccount(ctx, p, workspaceID, in)
	if err == nil {
		s.auditAccount(ctx, p, "account.connected", a)
	}
	return a, err
}

// ConnectWithForm connects a social account by a network's form.
func (s *Service) ConnectWithForm(ctx context.Context, p *Principal, workspaceID, network string, values map[string]string) (Account, error) {
	a, err := s.doConnectWithForm(ctx, p, workspaceID, network, values)
	if err == nil {
		s.auditAccount(ctx, p, "account.connected", a)
	}
	return a, err
}

// PickAccounts connects the pages or accounts chosen after an OAuth login.
func (s *Service) PickAccounts(ctx context.Context, p *Principal, token string, ids []string) (Pick, []Account, error) {
	pick, accts, err := s.doPickAccounts(ctx, p, token, ids)
	if err == nil {
		for _, a := range accts {
			s.auditAccount(ctx, p, "account.connected", a)
		}
	}
	return pick, accts, err
}

// DeleteAccount removes a social account.
func (s *Service) DeleteAccount(ctx context.Context, p *Principal, accountID string) error {
	a, gerr := s.GetAccount(ctx, p, accountID)
	err := s.doDeleteAccount(ctx, p, accountID)
	if err == nil && gerr == nil {
		s.auditAccount(ctx, p, "account.removed", a)
	}
	return err
}

// PauseAccount holds or releases an account's queue slots.
func (s *Service) PauseAccount(ctx context.Context, p *Principal, accountID string, paused bool) ([]Queue, error) {
	qs, err := s.doPauseAccount(ctx, p, accountID, paused)
	if err == nil {
		action := "account.resumed"
		if paused {
			action = "account.paused"
		}
		s.audit(ctx, p, s.workspaceOf(ctx, p.AgencyID, "portal_accounts", accountID), action, "account", accountID, "")
	}
	return qs, err
}

func (s *Service) auditQueue(ctx context.Context, p *Principal, action string, q Queue) {
	s.audit(ctx, p, q.WorkspaceID, action, "queue", q.ID, q.Name)
}

// CreateQueue creates an evergreen queue.
func (s *Service) CreateQueue(ctx context.Context, p *Principal, workspaceID string, in QueueInput) (Queue, error) {
	q, err := s.doCreateQueue(ctx, p, workspaceID, in)
	if err == nil {
		s.auditQueue(ctx, p, "queue.created", q)
	}
	return q, err
}

// UpdateQueue changes a queue.
func (s *Service) UpdateQueue(ctx context.Context, p *Principal, queueID string, in QueueInput) (Queue, error) {
	q, err := s.doUpdateQueue(ctx, p, queueID, in)
	if err == nil {
		s.auditQueue(ctx, p, "queue.updated", q)
	}
	return q, err
}

// PauseQueue pauses or resumes a queue.
func (s *Service) PauseQueue(ctx context.Context, p *Principal, queueID string, paused bool) (Queue, error) {
	q, err := s.doPauseQueue(ctx, p, queueID, paused)
	if err == nil {
		action := "queue.resumed"
		if paused {
			action = "queue.paused"
		}
		s.auditQueue(ctx, p, action, q)
	}
	return q, err
}

// DeleteQueue deletes a queue; its posts become drafts.
func (s *Service) DeleteQueue(ctx context.Context, p *Principal, queueID string) (int, error) {
	d, gerr := s.GetQueue(ctx, p, queueID, 1)
	n, err := s.doDeleteQueue(ctx, p, queueID)
	if err == nil && gerr == nil {
		s.audit(ctx, p, d.Queue.WorkspaceID, "queue.deleted", "queue", queueID, fmt.Sprintf("%s; %d posts back to drafts", d.Queue.Name, n))
	}
	return n, err
}

func (s *Service) auditAutomation(ctx context.Context, p *Principal, action string, a Automation) {
	s.audit(ctx, p, a.WorkspaceID, action, "automation", a.ID, a.Name)
}

// CreateAutomation creates an RSS/Atom automation.
func (s *Service) CreateAutomation(ctx context.Context, p *Principal, workspaceID string, in AutomationInput) (Automation, error) {
	a, err := s.doCreateAutomation(ctx, p, workspaceID, in)
	if err == nil {
		s.auditAutomation(ctx, p, "automation.created", a)
	}
	return a, err
}

// UpdateAutomation changes an automation.
func (s *Service) UpdateAutomation(ctx context.Context, p *Principal, automationID string, in AutomationInput) (Automation, error) {
	a, err := s.doUpdateAutomation(ctx, p, automationID, in)
	if err == nil {
		s.auditAutomation(ctx, p, "automation.updated", a)
	}
	return a, err
}

// PauseAutomation pauses or resumes an automation.
func (s *Service) PauseAutomation(ctx context.Context, p *Principal, automationID string, paused bool) (Automation, error) {
	a, err := s.doPauseAutomation(ctx, p, automationID, paused)
	if err == nil {
		action := "automation.resumed"
		if paused {
			action = "automation.paused"
		}
		s.auditAutomation(ctx, p, action, a)
	}
	return a, err
}

// DeleteAutomation deletes an automation.
func (s *Service) DeleteAutomation(ctx context.Context, p *Principal, automationID string) error {
	ws := s.workspaceOf(ctx, p.AgencyID, "portal_automations", automationID)
	err := s.doDeleteAutomation(ctx, p, automationID)
	if err == nil {
		s.audit(ctx, p, ws, "automation.deleted", "automation", automationID, "")
	}
	return err
}

// CreateInvite invites someone to a workspace.
func (s *Service) CreateInvite(ctx context.Context, p *Principal, workspaceID string, in InviteInput) (Invite, string, error) {
	inv, link, err := s.doCreateInvite(ctx, p, workspaceID, in)
	if err == nil {
		s.audit(ctx, p, workspaceID, "member.invited", "invite", inv.ID, inv.Email+" as "+string(inv.Role))
	}
	return inv, link, err
}

// CreateWebhook adds a webhook or Slack endpoint.
func (s *Service) CreateWebhook(ctx context.Context, p *Principal, workspaceID string, in WebhookInput) (*notificationv1.Endpoint, string, error) {
	e, secret, err := s.doCreateWebhook(ctx, p, workspaceID, in)
	if err == nil {
		s.audit(ctx, p, workspaceID, "webhook.created", "webhook", e.GetEndpointId(), e.GetUrl())
	}
	return e, secret, err
}

// UpdateWebhook changes an endpoint.
func (s *Service) UpdateWebhook(ctx context.Context, p *Principal, workspaceID, endpointID string, in WebhookInput) (*notificationv1.Endpoint, error) {
	e, err := s.doUpdateWebhook(ctx, p, workspaceID, endpointID, in)
	if err == nil {
		s.audit(ctx, p, workspaceID, "webhook.updated", "webhook", endpointID, e.GetUrl())
	}
	return e, err
}

// DeleteWebhook removes an endpoint.
func (s *Service) DeleteWebhook(ctx context.Context, p *Principal, workspaceID, endpointID string) error {
	err := s.doDeleteWebhook(ctx, p, workspaceID, endpointID)
	if err == nil {
		s.audit(ctx, p, workspaceID, "webhook.deleted", "webhook", endpointID, "")
	}
	return err
}

// RotateWebhookSecret gives an endpoint a new signing secret.
func (s *Service) RotateWebhookSecret(ctx context.Context, p *Principal, workspaceID, endpointID string) (*notificationv1.Endpoint, string, error) {
	e, secret, err := s.doRotateWebhookSecret(ctx, p, workspaceID, endpointID)
	if err == nil {
		s.audit(ctx, p, workspaceID, "webhook.secret_rotated", "webhook", endpointID, "")
	}
	return e, secret, err
}
