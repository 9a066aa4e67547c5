package portal

import (
	"context"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/store"
)

// The API's pages of lists bounded by what an agency sets up — its
// workspaces, their accounts, members, queues, automations and webhook
// endpoints, a user's API tokens. Each is read whole by its List method,
// which the UI keeps using, and paged in memory oldest first by
// (created_at, id); members, who carry no creation time of theirs, by
// user id. The page is opened before the read, so a bad cursor or limit
// reads nothing. Posts and the audit log, which grow without bound, page
// in SQL (PagePosts, ListAudit).

func byCreation(at int64, id string) pagePlace { return pagePlace{At: at, ID: id} }

// PageWorkspaces returns a page of the workspaces the principal can see.
func (s *Service) PageWorkspaces(ctx context.Context, p *Principal, req PageRequest) ([]Workspace, string, error) {
	pg, err := s.openPage("workspaces:"+p.AgencyID+":"+p.UserID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListWorkspaces(ctx, p)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(w Workspace) pagePlace { return byCreation(store.ToMicros(w.CreatedAt), w.ID) }, false)
	return out, next, nil
}

// PageAccounts returns a page of a workspace's accounts.
func (s *Service) PageAccounts(ctx context.Context, p *Principal, workspaceID string, req PageRequest) ([]Account, string, error) {
	pg, err := s.openPage("accounts:"+p.AgencyID+":"+workspaceID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListAccounts(ctx, p, workspaceID)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(a Account) pagePlace { return byCreation(store.ToMicros(a.CreatedAt), a.ID) }, false)
	return out, next, nil
}

// PageMembers returns a page of who has access to a workspace, by user id.
func (s *Service) PageMembers(ctx context.Context, p *Principal, workspaceID string, req PageRequest) ([]Member, string, error) {
	pg, err := s.openPage("members:"+p.AgencyID+":"+workspaceID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListMembers(ctx, p, workspaceID)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(m Member) pagePlace { return pagePlace{ID: m.UserID} }, false)
	return out, next, nil
}

// PageQueues returns a page of a workspace's queues.
func (s *Service) PageQueues(ctx context.Context, p *Principal, workspaceID string, req PageRequest) ([]Queue, string, error) {
	pg, err := s.openPage("queues:"+p.AgencyID+":"+workspaceID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListQueues(ctx, p, workspaceID)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(q Queue) pagePlace { return byCreation(store.ToMicros(q.CreatedAt), q.ID) }, false)
	return out, next, nil
}

// PageAutomations returns a page of a workspace's automations.
func (s *Service) PageAutomations(ctx context.Context, p *Principal, workspaceID string, req PageRequest) ([]Automation, string, error) {
	pg, err := s.openPage("automations:"+p.AgencyID+":"+workspaceID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListAutomations(ctx, p, workspaceID)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(a Automation) pagePlace { return byCreation(store.ToMicros(a.CreatedAt), a.ID) }, false)
	return out, next, nil
}

// PageAPITokens returns a page of the principal's own API tokens.
func (s *Service) PageAPITokens(ctx context.Context, p *Principal, req PageRequest) ([]APIToken, string, error) {
	pg, err := s.openPage("tokens:"+p.AgencyID+":"+p.UserID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListAPITokens(ctx, p)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(t APIToken) pagePlace { return byCreation(store.ToMicros(t.CreatedAt), t.ID) }, false)
	return out, next, nil
}

// PageWebhooks returns a page of a workspace's webhook and Slack endpoints.
func (s *Service) PageWebhooks(ctx context.Context, p *Principal, workspaceID string, req PageRequest) ([]*notificationv1.Endpoint, string, error) {
	pg, err := s.openPage("webhooks:"+p.AgencyID+":"+workspaceID, req)
	if err != nil {
		return nil, "", err
	}
	list, err := s.ListWebhooks(ctx, p, workspaceID)
	if err != nil {
		return nil, "", err
	}
	out, next := pageSlice(s, pg, list, func(e *notificationv1.Endpoint) pagePlace {
		return byCreation(store.ToMicros(e.GetCreatedAt().AsTime()), e.GetEndpointId())
	}, false)
	return out, next, nil
}
