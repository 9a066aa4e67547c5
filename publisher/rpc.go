package publisher

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/heraldhq/herald/errs"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/provider"
)

// maxListedAttempts bounds ListAttempts: a recurring post gains attempts
// with every occurrence, and the newest are the ones worth showing.
const maxListedAttempts = 500

// Validate checks content against a network's limits without publishing.
// Problems with the content are violations in the response; a request that
// cannot be checked at all (no or unknown network) is an Invalid error.
func (s *Service) Validate(_ context.Context, req *publisherv1.ValidateRequest) (*publisherv1.ValidateResponse, error) {
	var bad errs.Fields
	network := req.GetNetwork()
	p, ok := s.providers[network]
	switch {
	case strings.TrimSpace(network) == "":
		bad.Add("network", "is required")
	case !ok && len(s.providers) == 0:
		bad.Add("network", "unknown network %q: this server publishes to no network", network)
	case !ok:
		bad.Add("network", "unknown network %q (supported: %s)", network, strings.Join(s.networks(), ", "))
	}
	for i, m := range req.GetMedia() {
		if m.GetSizeBytes() < 0 {
			bad.Add(fmt.Sprintf("media[%d].size_bytes", i), "must not be negative")
		}
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}

	media := make([]provider.Media, len(req.GetMedia()))
	for i, m := range req.GetMedia() {
		media[i] = provider.Media{MimeType: m.GetMimeType(), Size: m.GetSizeBytes(), Description: m.GetDescription()}
	}
	res := &publisherv1.ValidateResponse{}
	for _, v := range p.Validate(req.GetText(), media) {
		res.Violations = append(res.Violations, &publisherv1.Violation{Field: v.Field, Message: v.Message})
	}
	lim := p.Limits()
	res.Limits = &publisherv1.NetworkLimits{
		MaxTextChars:  int32(lim.MaxTextChars),
		MaxMedia:      int32(lim.MaxMedia),
		MaxImageBytes: lim.MaxImageBytes,
		ImageTypes:    slices.Clone(lim.ImageTypes),
		Threads:       lim.Threads,
		FirstComment:  lim.FirstComment,
	}
	return res, nil
}

// ListAttempts returns the publish attempts of one post of the tenant,
// newest first. A post of another tenant has none, as far as the caller
// can tell.
func (s *Service) ListAttempts(ctx context.Context, req *publisherv1.ListAttemptsRequest) (*publisherv1.ListAttemptsResponse, error) {
	var bad errs.Fields
	if req.GetTenantId() == "" {
		bad.Add("tenant_id", "is required")
	}
	if req.GetPostId() == "" {
		bad.Add("post_id", "is required")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+attemptColumns+` FROM publisher_attempts
		WHERE tenant_id = ? AND post_id = ?
		ORDER BY created_at DESC, attempt_id DESC LIMIT ?`,
		req.GetTenantId(), req.GetPostId(), maxListedAttempts)
	if err != nil {
		return nil, fmt.Errorf("publisher: listing attempts: %w", err)
	}
	defer rows.Close()
	res := &publisherv1.ListAttemptsResponse{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("publisher: listing attempts: %w", err)
		}
		res.Attempts = append(res.Attempts, a.proto())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("publisher: listing attempts: %w", err)
	}
	rows.Close()
	if err := s.attachParts(ctx, req.GetTenantId(), req.GetPostId(), res.Attempts); err != nil {
		return nil, fmt.Errorf("publisher: listing attempts' parts: %w", err)
	}
	return res, nil
}

// networks lists the networks this node can publish to.
func (s *Service) networks() []string {
	return slices.Sorted(maps.Keys(s.providers))
}
