package portal

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// WorkspaceInput creates a workspace.
type WorkspaceInput struct {
	Name string
	// Timezone is an IANA zone name ("Europe/Paris").
	Timezone string
}

// checkZone loads an IANA zone, refusing the empty name and "Local" (the
// server's zone is nobody's business and changes with the machine).
func checkZone(v *errs.Fields, field, name string) *time.Location {
	name = strings.TrimSpace(name)
	if name == "" {
		v.Add(field, "is required")
		return nil
	}
	if name == "Local" {
		v.Add(field, "must be an IANA time zone such as Europe/Paris")
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		v.Add(field, "is not a known IANA time zone (such as Europe/Paris)")
		return nil
	}
	return loc
}

// doCreateWorkspace creates a client workspace in the principal's agency.
// Owners only.
func (s *Service) doCreateWorkspace(ctx context.Context, p *Principal, in WorkspaceInput) (Workspace, error) {
	if err := requireOwner(p); err != nil {
		return Workspace{}, err
	}
	var v errs.Fields
	name := checkName(&v, "name", in.Name, 100)
	loc := checkZone(&v, "timezone", in.Timezone)
	if err := v.Err(); err != nil {
		return Workspace{}, err
	}
	w := Workspace{ID: id.New("ws"), AgencyID: p.AgencyID, Name: name, Timezone: loc.String(),
		CreatedAt: time.Now().UTC(), Role: RoleOwner}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_workspaces (id, agency_id, name, timezone, created_at) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.AgencyID, w.Name, w.Timezone, store.ToMicros(w.CreatedAt))
	if err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// GetWorkspace returns a workspace the principal can see.
func (s *Service) GetWorkspace(ctx context.Context, p *Principal, workspaceID string) (Workspace, error) {
	return s.workspaceRole(ctx, s.db, p, workspaceID)
}

// ListWorkspaces lists the workspaces the principal can see: all of the
// agency's for an owner, those they are a member of otherwise.
func (s *Service) ListWorkspaces(ctx context.Context, p *Principal) ([]Workspace, error) {
	q := `SELECT w.id, w.agency_id, w.name, w.timezone, w.created_at, m.role FROM portal_workspaces w
		JOIN portal_memberships m ON m.workspace_id = w.id AND m.agency_id = w.agency_id AND m.user_id = ?
		WHERE w.agency_id = ? ORDER BY w.name, w.id`
	args := []any{p.UserID, p.AgencyID}
	if p.Owner {
		q = `SELECT id, agency_id, name, timezone, created_at, 'owner' FROM portal_workspaces
			WHERE agency_id = ? ORDER BY name, id`
		args = []any{p.AgencyID}
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Workspace{}
	for rows.Next() {
		var w Workspace
		var created int64
		var role string
		if err := rows.Scan(&w.ID, &w.AgencyID, &w.Name, &w.Timezone, &created, &role); err != nil {
			return nil, err
		}
		w.CreatedAt, w.Role = store.FromMicros(created), Role(role)
		out = append(out, w)
	}
	return out, rows.Err()
}
