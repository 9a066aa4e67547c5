package portal

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// InviteInput invites someone to a workspace.
type InviteInput struct {
	Email string
	// Role: owner (of the whole agency), or one of the workspace roles
	// manager, editor, client_approver, read_only.
	Role Role
}

// Invite is a pending invitation.
type Invite struct {
	ID          string
	WorkspaceID string
	Email       string
	Role        Role
	ExpiresAt   time.Time
}

// AcceptInput accepts an invitation. A new user chooses a name and a
// password; an existing user of the agency proves who they are with their
// password (Name is then ignored).
type AcceptInput struct {
	Name     string
	Password string
	// PreviousToken is the browser's session cookie, ended on success.
	PreviousToken string
}

// Member is a user with access to a workspace.
type Member struct {
	UserID string
	Email  string
	Name   string
	Role   Role
}

// doCreateInvite invites an email address to a workspace with a role. The
// returned URL carries the invite token, shown this once. Owners only.
func (s *Service) doCreateInvite(ctx context.Context, p *Principal, workspaceID string, in InviteInput) (Invite, string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actTeam); err != nil {
		return Invite{}, "", err
	}
	var v errs.Fields
	email := normalizeEmail(in.Email)
	if m := checkEmail(email); m != "" {
		v.Add("email", "%s", m)
	}
	if !in.Role.valid() {
		v.Add("role", "must be one of %s", roleList())
	}
	if err := v.Err(); err != nil {
		return Invite{}, "", err
	}
	token := newSecret("")
	inv := Invite{ID: id.New("inv"), WorkspaceID: workspaceID, Email: email, Role: in.Role,
		ExpiresAt: time.Now().Add(s.cfg.InviteTTL).UTC()}
	link := strings.TrimSuffix(s.cfg.BaseURL, "/") + "/invites/" + token
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO portal_invites (token_hash, id, agency_id, workspace_id, email, role, invited_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashSecret(token), inv.ID, p.AgencyID, workspaceID, email, string(in.Role), p.UserID,
			store.ToMicros(time.Now()), store.ToMicros(inv.ExpiresAt))
		if err != nil {
			return err
		}
		// With the invite, so the invitee is emailed exactly when it exists.
		_, err = s.outbox.Add(ctx, tx, bus.TopicTeammateInvited, &eventsv1.TeammateInvited{
			TenantId: p.AgencyID, InviteId: inv.ID, Email: email, Role: string(in.Role), WorkspaceIds: []string{workspaceID},
			InvitedBy: p.UserID, InvitedByName: p.Name, AcceptUrl: link, ExpiresAt: timestamppb.New(inv.ExpiresAt),
		})
		return err
	})
	if err != nil {
		return Invite{}, "", err
	}
	return inv, link, nil
}

// AcceptInvite redeems an invite token: it creates the user (or, for an
// email that already has an account in the agency, adds the role to it)
// and signs them in. A token works once.
func (s *Service) AcceptInvite(ctx context.Context, token string, in AcceptInput) (*Session, error) {
	gone := errs.E(errs.NotFound, "this invitation does not exist, was already used or has expired")
	if token == "" {
		return nil, gone
	}
	th := hashSecret(token)
	var inv Invite
	var agencyID, role string
	var exp, accepted int64
	err := s.db.QueryRow(ctx, `SELECT id, agency_id, workspace_id, email, role, expires_at, accepted_at FROM portal_invites WHERE token_hash = ?`, th).
		Scan(&inv.ID, &agencyID, &inv.WorkspaceID, &inv.Email, &role, &exp, &accepted)
	if errors.Is(err, store.ErrNoRows) {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	inv.Role = Role(role)
	if accepted != 0 || !time.Now().Before(store.FromMicros(exp)) {
		return nil, gone
	}

	var existingID, existingAgency, existingHash string
	err = s.db.QueryRow(ctx, `SELECT id, agency_id, password_hash FROM portal_users WHERE email = ?`, inv.Email).
		Scan(&existingID, &existingAgency, &existingHash)
	existing := err == nil
	if err != nil && !errors.Is(err, store.ErrNoRows) {
		return nil, err
	}

	userID := existingID
	var name, hash string
	switch {
	case existing && existingAgency != agencyID:
		return nil, errs.E(errs.Conflict, "this email address already has an account with another agency")
	case existing:
		ok, err := s.hasher.verify(ctx, existingHash, in.Password)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errs.Fields{"password": "is not the password of your existing account"}.Err()
		}
	default:
		var v errs.Fields
		name = checkName(&v, "name", in.Name, 100)
		if m := checkPassword(in.Password); m != "" {
			v.Add("password", "%s", m)
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
		if hash, err = s.hasher.hash(ctx, in.Password); err != nil {
			return nil, err
		}
		userID = id.New("user")
	}

	now := store.ToMicros(time.Now())
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		// The guard makes the token single-use even under concurrent accepts.
		res, err := tx.Exec(ctx, `UPDATE portal_invites SET accepted_at = ? WHERE token_hash = ? AND accepted_at = 0`, now, th)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return gone
		}
		if !existing {
			if err := s.emailFree(ctx, tx, inv.Email); err != nil {
				return errs.E(errs.Conflict, "this email address already has an account")
			}
			if _, err := tx.Exec(ctx, `INSERT INTO portal_users (id, agency_id, email, name, password_hash, owner, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, userID, agencyID, inv.Email, name, hash, inv.Role == RoleOwner, now); err != nil {
				return err
			}
		}
		if inv.Role == RoleOwner {
			_, err := tx.Exec(ctx, `UPDATE portal_users SET owner = ? WHERE agency_id = ? AND id = ?`, true, agencyID, userID)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO portal_memberships (agency_id, workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`, agencyID, inv.WorkspaceID, userID, string(inv.Role), now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, agencyID, userID, in.PreviousToken)
}

// ListMembers lists who has access to a workspace: its members and the
// agency's owners.
func (s *Service) ListMembers(ctx context.Context, p *Principal, workspaceID string) ([]Member, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actViewTeam); err != nil {
		return nil, err
	}
	return s.members(ctx, p.AgencyID, workspaceID)
}

func (s *Service) members(ctx context.Context, agencyID, workspaceID string) ([]Member, error) {
	rows, err := s.db.Query(ctx, `SELECT id, email, name, 'owner' FROM portal_users WHERE agency_id = ? AND owner = ?
		UNION ALL
		SELECT u.id, u.email, u.name, m.role FROM portal_memberships m
		JOIN portal_users u ON u.id = m.user_id AND u.agency_id = m.agency_id
		WHERE m.agency_id = ? AND m.workspace_id = ? AND u.owner = ?
		ORDER BY 3, 1`, agencyID, true, agencyID, workspaceID, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		var role string
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &role); err != nil {
			return nil, err
		}
		m.Role = Role(role)
		out = append(out, m)
	}
	return out, rows.Err()
}

// roleList names the roles an invitation can give, for error messages.
func roleList() string {
	names := make([]string, len(InviteRoles))
	for i, r := range InviteRoles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// RemoveMember ends a user's access to a workspace: their membership goes,
// and with it every right there from the next request on. An owner is
// no member to remove: owners reach every workspace, so they hand on
// ownership first (TransferOwnership). Owners only.
func (s *Service) RemoveMember(ctx context.Context, p *Principal, workspaceID, userID string) error {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actTeam); err != nil {
		return err
	}
	var owner bool
	var email string
	err := s.db.QueryRow(ctx, `SELECT owner, email FROM portal_users WHERE agency_id = ? AND id = ?`, p.AgencyID, userID).Scan(&owner, &email)
	if err != nil {
		return store.NotFound(err, "member")
	}
	if owner {
		return errs.Fields{"user_id": "is an owner of the agency, who reaches every workspace; transfer ownership to someone else first"}.Err()
	}
	res, err := s.db.Exec(ctx, `DELETE FROM portal_memberships WHERE agency_id = ? AND workspace_id = ? AND user_id = ?`,
		p.AgencyID, workspaceID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "member not found")
	}
	s.audit(ctx, p, workspaceID, "member.removed", "user", userID, email)
	return nil
}

// TransferOwnership makes another user of the agency an owner in place of
// p. p stays on as manager of every workspace, so handing over never
// locks the previous owner out mid-work; another owner can remove them
// afterwards. Owners only.
func (s *Service) TransferOwnership(ctx context.Context, p *Principal, userID string) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	if p.ViaToken {
		return errs.E(errs.Forbidden, "ownership is transferred from a signed-in browser, not with an API token")
	}
	var v errs.Fields
	if userID == "" {
		v.Add("user_id", "is required")
	} else if userID == p.UserID {
		v.Add("user_id", "is you; choose someone else")
	}
	if err := v.Err(); err != nil {
		return err
	}
	var owner bool
	var email string
	err := s.db.QueryRow(ctx, `SELECT owner, email FROM portal_users WHERE agency_id = ? AND id = ?`, p.AgencyID, userID).Scan(&owner, &email)
	if errors.Is(err, store.ErrNoRows) {
		return errs.Fields{"user_id": "is no user of this agency"}.Err()
	}
	if err != nil {
		return err
	}
	if owner {
		return errs.Fields{"user_id": "is already an owner"}.Err()
	}
	now := store.ToMicros(time.Now())
	var workspaces []string
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM portal_workspaces WHERE agency_id = ?`, p.AgencyID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			workspaces = append(workspaces, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_users SET owner = ? WHERE agency_id = ? AND id = ?`, true, p.AgencyID, userID); err != nil {
			return err
		}
		// An owner has no memberships: their rights come from ownership.
		if _, err := tx.Exec(ctx, `DELETE FROM portal_memberships WHERE agency_id = ? AND user_id = ?`, p.AgencyID, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_users SET owner = ? WHERE agency_id = ? AND id = ?`, false, p.AgencyID, p.UserID); err != nil {
			return err
		}
		for _, ws := range workspaces {
			if _, err := tx.Exec(ctx, `INSERT INTO portal_memberships (agency_id, workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`, p.AgencyID, ws, p.UserID, string(RoleManager), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ws := range workspaces {
		s.audit(ctx, p, ws, "ownership.transferred", "user", userID, email)
	}
	return nil
}
