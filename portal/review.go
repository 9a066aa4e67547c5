package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Review links sign a client into the review of one workspace without an
// account. The token is shown once, at creation; Portal keeps its SHA-256.
const (
	reviewTokenPrefix     = "hrv_"
	defaultReviewLinkDays = 14
	maxReviewLinkDays     = 90
	// reviewSessionTTL bounds a browser's sign-in by link; it also ends
	// with the link.
	reviewSessionTTL = 7 * 24 * time.Hour
)

// ReviewLink is a link for a workspace's client reviewers.
type ReviewLink struct {
	ID          string
	WorkspaceID string
	Label       string
	CreatedBy   string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time
	// Token is set only in CreateReviewLink's answer.
	Token string
}

// Active reports whether the link still signs anyone in.
func (l ReviewLink) Active(now time.Time) bool {
	return l.RevokedAt.IsZero() && now.Before(l.ExpiresAt)
}

// ReviewLinkInput creates a review link.
type ReviewLinkInput struct {
	// Label says who the link is for ("Client marketing team").
	Label string
	// ExpiresInDays is 1 to 90; 0 means 14.
	ExpiresInDays int
}

// doCreateReviewLink makes a review link for a workspace (owners and
// managers). The returned Token is the only time it is shown.
func (s *Service) doCreateReviewLink(ctx context.Context, p *Principal, workspaceID string, in ReviewLinkInput) (ReviewLink, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actApprovalPolicy); err != nil {
		return ReviewLink{}, err
	}
	var v errs.Fields
	label := checkName(&v, "label", in.Label, 100)
	days := in.ExpiresInDays
	switch {
	case days == 0:
		days = defaultReviewLinkDays
	case days < 1 || days > maxReviewLinkDays:
		v.Add("expires_in_days", "must be from 1 to %d", maxReviewLinkDays)
	}
	if err := v.Err(); err != nil {
		return ReviewLink{}, err
	}
	now := time.Now().UTC()
	l := ReviewLink{ID: id.New("rlink"), WorkspaceID: workspaceID, Label: label, CreatedBy: p.UserID, CreatedAt: now,
		ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour), Token: newSecret(reviewTokenPrefix)}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_review_links (id, agency_id, workspace_id, token_hash, label, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, l.ID, p.AgencyID, workspaceID, hashSecret(l.Token), l.Label, l.CreatedBy,
		store.ToMicros(l.CreatedAt), store.ToMicros(l.ExpiresAt))
	if err != nil {
		return ReviewLink{}, err
	}
	return l, nil
}

// ListReviewLinks lists a workspace's review links, newest first.
func (s *Service) ListReviewLinks(ctx context.Context, p *Principal, workspaceID string) ([]ReviewLink, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actApprovalPolicy); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, workspace_id, label, created_by, created_at, expires_at, revoked_at FROM portal_review_links
		WHERE agency_id = ? AND workspace_id = ? ORDER BY created_at DESC, id DESC`, p.AgencyID, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ReviewLink{}
	for rows.Next() {
		var l ReviewLink
		var c, e, r int64
		if err := rows.Scan(&l.ID, &l.WorkspaceID, &l.Label, &l.CreatedBy, &c, &e, &r); err != nil {
			return nil, err
		}
		l.CreatedAt, l.ExpiresAt, l.RevokedAt = store.FromMicros(c), store.FromMicros(e), fromMicrosOrZero(r)
		out = append(out, l)
	}
	return out, rows.Err()
}

// doRevokeReviewLink ends a review link and every browser signed in by it.
func (s *Service) doRevokeReviewLink(ctx context.Context, p *Principal, linkID string) error {
	var workspaceID string
	err := s.db.QueryRow(ctx, `SELECT workspace_id FROM portal_review_links WHERE agency_id = ? AND id = ?`, p.AgencyID, linkID).Scan(&workspaceID)
	if err != nil {
		return store.NotFound(err, "review link")
	}
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actApprovalPolicy); err != nil {
		if e, ok := errs.As(err); ok && e.Kind == errs.NotFound {
			return errs.E(errs.NotFound, "review link not found")
		}
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE portal_review_links SET revoked_at = ? WHERE agency_id = ? AND id = ? AND revoked_at = 0`,
			store.ToMicros(time.Now()), p.AgencyID, linkID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM portal_review_sessions WHERE link_id = ?`, linkID)
		return err
	})
}

var errReviewLinkInvalid = errs.E(errs.Unauthenticated, "this review link is not valid, has expired or was revoked; ask for a new one")

// reviewLink finds the active link of a token.
func (s *Service) reviewLink(ctx context.Context, token string) (agencyID string, l ReviewLink, err error) {
	if !strings.HasPrefix(token, reviewTokenPrefix) {
		return "", ReviewLink{}, errReviewLinkInvalid
	}
	var c, e, r int64
	err = s.db.QueryRow(ctx, `SELECT agency_id, id, workspace_id, label, created_at, expires_at, revoked_at FROM portal_review_links
		WHERE token_hash = ?`, hashSecret(token)).Scan(&agencyID, &l.ID, &l.WorkspaceID, &l.Label, &c, &e, &r)
	if errors.Is(err, store.ErrNoRows) {
		return "", ReviewLink{}, errReviewLinkInvalid
	}
	if err != nil {
		return "", ReviewLink{}, err
	}
	l.CreatedAt, l.ExpiresAt, l.RevokedAt = store.FromMicros(c), store.FromMicros(e), fromMicrosOrZero(r)
	if !l.Active(time.Now()) {
		return "", ReviewLink{}, errReviewLinkInvalid
	}
	return agencyID, l, nil
}

// ReviewLinkInfo tells the sign-in page of a link what it opens: the
// agency's and the workspace's names. An invalid link is Unauthenticated.
func (s *Service) ReviewLinkInfo(ctx context.Context, token string) (agencyName, workspaceName string, err error) {
	agencyID, l, err := s.reviewLink(ctx, token)
	if err != nil {
		return "", "", err
	}
	err = s.db.QueryRow(ctx, `SELECT a.name, w.name FROM portal_agencies a JOIN portal_workspaces w ON w.agency_id = a.id
		WHERE a.id = ? AND w.id = ?`, agencyID, l.WorkspaceID).Scan(&agencyName, &workspaceName)
	return agencyName, workspaceName, store.NotFound(err, "workspace")
}

// StartReviewSession signs a browser in by a review link, under the name
// its holder gives (shown with their decisions and comments).
func (s *Service) StartReviewSession(ctx context.Context, token, name string) (*Session, error) {
	var v errs.Fields
	name = checkName(&v, "name", name, 100)
	agencyID, l, err := s.reviewLink(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	sess := newSecret("")
	h := hashSecret(sess)
	now := time.Now()
	exp := now.Add(reviewSessionTTL)
	if l.ExpiresAt.Before(exp) {
		exp = l.ExpiresAt
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM portal_review_sessions WHERE expires_at <= ?`, store.ToMicros(now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO portal_review_sessions (id_hash, link_id, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			h, l.ID, name, store.ToMicros(now), store.ToMicros(exp))
		return err
	})
	if err != nil {
		return nil, err
	}
	p := &Principal{AgencyID: agencyID, Name: name, sessionHash: h, review: &reviewGrant{linkID: l.ID, workspaceID: l.WorkspaceID}}
	p.CSRFToken = s.keys.csrfToken(h)
	return &Session{Token: sess, ExpiresAt: exp, Principal: p}, nil
}

// ReviewSessionPrincipal returns who holds a review session: a principal
// that reaches only the review of its link's workspace. A session of a
// revoked or expired link is over.
func (s *Service) ReviewSessionPrincipal(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, errReviewLinkInvalid
	}
	h := hashSecret(token)
	p := &Principal{sessionHash: h, review: &reviewGrant{}}
	var exp, linkExp, revoked int64
	err := s.db.QueryRow(ctx, `SELECT l.agency_id, l.id, l.workspace_id, s.name, s.expires_at, l.expires_at, l.revoked_at
		FROM portal_review_sessions s JOIN portal_review_links l ON l.id = s.link_id WHERE s.id_hash = ?`, h).
		Scan(&p.AgencyID, &p.review.linkID, &p.review.workspaceID, &p.Name, &exp, &linkExp, &revoked)
	if errors.Is(err, store.ErrNoRows) {
		return nil, errReviewLinkInvalid
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if revoked != 0 || !now.Before(store.FromMicros(exp)) || !now.Before(store.FromMicros(linkExp)) {
		return nil, errReviewLinkInvalid
	}
	p.CSRFToken = s.keys.csrfToken(h)
	return p, nil
}

// EndReviewSession signs a review browser out.
func (s *Service) EndReviewSession(ctx context.Context, p *Principal) error {
	if p.review == nil {
		return nil
	}
	_, err := s.db.Exec(ctx, `DELETE FROM portal_review_sessions WHERE id_hash = ?`, p.sessionHash)
	return err
}

// ReviewWorkspaces lists the workspaces a principal reviews for the
// client: a link's one, or those a user is a client approver of (for an
// owner or manager: none, they review on the workspace's page).
func (s *Service) ReviewWorkspaces(ctx context.Context, p *Principal) ([]Workspace, error) {
	if p.review != nil {
		w, err := s.workspaceRole(ctx, s.db, p, p.review.workspaceID)
		if err != nil {
			return nil, err
		}
		return []Workspace{w}, nil
	}
	all, err := s.ListWorkspaces(ctx, p)
	if err != nil {
		return nil, err
	}
	out := []Workspace{}
	for _, w := range all {
		if w.Role == RoleClientApprover {
			out = append(out, w)
		}
	}
	return out, nil
}

// OpenReviewMedia opens a media file of a post under review for a
// reviewer (a link holder only sees the media of posts waiting for the
// client); the caller closes the reader.
func (s *Service) OpenReviewMedia(ctx context.Context, p *Principal, postID, mediaID string) (Media, io.ReadCloser, error) {
	post, _, _, err := s.reviewAccess(ctx, s.db, p, postID)
	if err != nil {
		return Media{}, nil, err
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_post_media WHERE post_id = ? AND media_id = ?`, post.ID, mediaID).Scan(&n); err != nil {
		return Media{}, nil, err
	}
	if n == 0 {
		return Media{}, nil, errs.E(errs.NotFound, "media not found")
	}
	m, err := scanMedia(s.db.QueryRow(ctx, `SELECT `+mediaColumns+` FROM portal_media WHERE agency_id = ? AND id = ?`, p.AgencyID, mediaID))
	if err != nil {
		return Media{}, nil, store.NotFound(err, "media")
	}
	r, err := s.blob.NewReader(ctx, m.BlobKey, nil)
	if err != nil {
		return Media{}, nil, fmt.Errorf("portal: reading blob %s: %w", m.BlobKey, err)
	}
	return m, r, nil
}

// ReviewMaterial is what a reviewer sees of a post besides its text: the
// accounts it goes to and its media.
type ReviewMaterial struct {
	Accounts []Account
	Media    []Media
}

// GetReviewMaterial loads the accounts and media of a post a reviewer may
// see (as reviewAccess decides), with no token or other secret.
func (s *Service) GetReviewMaterial(ctx context.Context, p *Principal, postID string) (ReviewMaterial, error) {
	if _, _, _, err := s.reviewAccess(ctx, s.db, p, postID); err != nil {
		return ReviewMaterial{}, err
	}
	out := ReviewMaterial{Accounts: []Account{}, Media: []Media{}}
	rows, err := s.db.Query(ctx, `SELECT `+prefixColumns("a.", accountColumns)+` FROM portal_accounts a
		JOIN portal_post_targets t ON t.account_id = a.id AND t.agency_id = a.agency_id
		WHERE a.agency_id = ? AND t.post_id = ? ORDER BY a.network, a.id`, p.AgencyID, postID)
	if err != nil {
		return ReviewMaterial{}, err
	}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return ReviewMaterial{}, err
		}
		out.Accounts = append(out.Accounts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ReviewMaterial{}, err
	}
	rows, err = s.db.Query(ctx, `SELECT `+prefixColumns("m.", mediaColumns)+` FROM portal_media m
		JOIN portal_post_media pm ON pm.media_id = m.id
		WHERE m.agency_id = ? AND pm.post_id = ? ORDER BY pm.position`, p.AgencyID, postID)
	if err != nil {
		return ReviewMaterial{}, err
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return ReviewMaterial{}, err
		}
		out.Media = append(out.Media, m)
	}
	return out, rows.Err()
}

// prefixColumns qualifies a column list with a table alias.
func prefixColumns(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
