package portal

import (
	"context"
	"slices"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// Role is what a user may do in a workspace.
type Role string

const (
	// RoleOwner may do everything in the agency, in every workspace.
	RoleOwner Role = "owner"
	// RoleManager handles a workspace's accounts, media and posts.
	RoleManager Role = "manager"
	// RoleClientApprover may read a workspace's posts and decide their
	// client stage of approval.
	RoleClientApprover Role = "client_approver"
	// RoleEditor writes a workspace's posts, queues, automations and
	// media, and submits posts for approval. Accounts, the team, approval
	// policy and internal approval are not theirs (decision 0029).
	RoleEditor Role = "editor"
	// RoleReadOnly sees a workspace's posts, accounts, media and team and
	// changes nothing.
	RoleReadOnly Role = "read_only"
	// roleReviewLink is the holder of a review link: no general right at
	// all; the review methods let it see and decide the posts of its
	// workspace waiting for the client.
	roleReviewLink Role = "review_link"
)

// InviteRoles are the roles an invitation can give, in the order the UI
// offers them.
var InviteRoles = []Role{RoleManager, RoleEditor, RoleClientApprover, RoleReadOnly, RoleOwner}

func (r Role) valid() bool { return slices.Contains(InviteRoles, r) }

// Principal is who is acting: the user behind a session or an API token.
// Every domain method takes one and scopes what it does to its agency.
type Principal struct {
	AgencyID string
	UserID   string
	Email    string
	Name     string
	// Owner: the user owns the agency (every workspace, every action).
	Owner bool
	// CSRFToken is the session's synchronizer token, for forms and the
	// X-CSRF-Token header; empty when authenticated by API token.
	CSRFToken string
	// ViaToken: authenticated by an API token rather than a session.
	ViaToken bool

	sessionHash string
	// tokenID and scopes are the API token's, when ViaToken.
	tokenID string
	scopes  []string
	// review is set for a browser signed in by a review link: it acts
	// in that link's workspace only.
	review *reviewGrant
}

// may reports whether the principal holds scope: a session holds every
// scope; an API token only those it was made with.
func (p *Principal) may(scope string) bool {
	return !p.ViaToken || slices.Contains(p.scopes, scope)
}

// limitKey is what the per-caller API rate limit counts by: each API
// token on its own (a script must not starve its owner's browser), else
// the user.
func (p *Principal) limitKey() string {
	if p.ViaToken && p.tokenID != "" {
		return "token:" + p.tokenID
	}
	return "user:" + p.UserID
}

// reviewGrant is what a review link allows.
type reviewGrant struct {
	linkID      string
	workspaceID string
}

// action is something a role may be allowed to do in a workspace.
type action int

const (
	actReadPosts action = iota
	actWritePosts
	// actAccounts is connecting, reconnecting and removing accounts.
	actAccounts
	// actViewAccounts is listing a workspace's accounts, as a composer
	// needs to choose where a post goes.
	actViewAccounts
	actMedia
	// actViewMedia is reading the bytes of a media file: approvers need it
	// to see the posts they read.
	actViewMedia
	// actViewTeam is seeing who has access to a workspace.
	actViewTeam
	actTeam
	// actApproveInternal is deciding the internal stage of approval.
	actApproveInternal
	// actApprovalPolicy is setting a workspace's approval policy and its
	// review links.
	actApprovalPolicy
	// actViewLibrary is reading the content and media libraries: the team,
	// not client approvers.
	actViewLibrary
)

// roleActions is the whole of what each role may do; the access matrix
// test (access_matrix_test.go) checks every route against it.
var roleActions = map[Role]map[action]bool{
	RoleOwner: {actReadPosts: true, actWritePosts: true, actAccounts: true, actViewAccounts: true, actMedia: true, actViewMedia: true,
		actViewTeam: true, actTeam: true, actApproveInternal: true, actApprovalPolicy: true, actViewLibrary: true},
	RoleManager: {actReadPosts: true, actWritePosts: true, actAccounts: true, actViewAccounts: true, actMedia: true, actViewMedia: true,
		actViewTeam: true, actApproveInternal: true, actApprovalPolicy: true, actViewLibrary: true},
	RoleEditor: {actReadPosts: true, actWritePosts: true, actViewAccounts: true, actMedia: true, actViewMedia: true,
		actViewTeam: true, actViewLibrary: true},
	RoleReadOnly:       {actReadPosts: true, actViewAccounts: true, actViewMedia: true, actViewTeam: true, actViewLibrary: true},
	RoleClientApprover: {actReadPosts: true, actViewMedia: true},
}

func (r Role) can(a action) bool { return roleActions[r][a] }

// Workspace is one client brand of an agency.
type Workspace struct {
	ID       string
	AgencyID string
	Name     string
	// Timezone is the IANA zone posts' local times are given in.
	Timezone  string
	CreatedAt time.Time
	// Role is the principal's role in the workspace.
	Role Role
}

// workspaceRole loads a workspace the principal can see and their role in
// it. A workspace of another agency, or one the principal is no member of,
// is NotFound: its existence is not theirs to learn.
func (s *Service) workspaceRole(ctx context.Context, q store.Querier, p *Principal, workspaceID string) (Workspace, error) {
	var w Workspace
	var created int64
	err := q.QueryRow(ctx, `SELECT id, agency_id, name, timezone, created_at FROM portal_workspaces
		WHERE agency_id = ? AND id = ?`, p.AgencyID, workspaceID).Scan(&w.ID, &w.AgencyID, &w.Name, &w.Timezone, &created)
	if err != nil {
		return Workspace{}, store.NotFound(err, "workspace")
	}
	w.CreatedAt = store.FromMicros(created)
	if p.review != nil {
		// A review link reaches its own workspace and nothing else.
		if p.review.workspaceID != w.ID {
			return Workspace{}, errs.E(errs.NotFound, "workspace not found")
		}
		w.Role = roleReviewLink
		return w, nil
	}
	if p.Owner {
		w.Role = RoleOwner
		return w, nil
	}
	var role string
	err = q.QueryRow(ctx, `SELECT role FROM portal_memberships WHERE agency_id = ? AND workspace_id = ? AND user_id = ?`,
		p.AgencyID, workspaceID, p.UserID).Scan(&role)
	if err != nil {
		return Workspace{}, store.NotFound(err, "workspace")
	}
	w.Role = Role(role)
	return w, nil
}

// authorize is workspaceRole plus a check that the role allows a: a member
// without the right gets Forbidden (they know the workspace exists).
func (s *Service) authorize(ctx context.Context, q store.Querier, p *Principal, workspaceID string, a action) (Workspace, error) {
	w, err := s.workspaceRole(ctx, q, p, workspaceID)
	if err != nil {
		return Workspace{}, err
	}
	if !w.Role.can(a) {
		return Workspace{}, errs.E(errs.Forbidden, "your role in this workspace does not allow this")
	}
	return w, nil
}

// requireOwner refuses anyone but an agency owner.
func requireOwner(p *Principal) error {
	if !p.Owner {
		return errs.E(errs.Forbidden, "only an agency owner may do this")
	}
	return nil
}
