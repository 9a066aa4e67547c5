package notify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

const (
	maxEndpoints      = 20
	maxURLLen         = 2000
	maxDescriptionLen = 500
)

// CreateEndpoint adds an endpoint to a workspace. The secret of a webhook
// endpoint is returned here and never again.
func (s *Service) CreateEndpoint(ctx context.Context, req *notificationv1.CreateEndpointRequest) (*notificationv1.CreateEndpointResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	kind := req.GetKind()
	if kind != kindWebhook && kind != kindSlack {
		v.Add("kind", "must be webhook or slack")
	}
	s.checkURL(&v, kind, req.GetUrl())
	checkDescription(&v, req.GetDescription())
	topics := checkTopics(&v, req.GetTopics())
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	ep := &notificationv1.Endpoint{
		EndpointId: id.New("whk"), TenantId: req.GetTenantId(), WorkspaceId: req.GetWorkspaceId(),
		Kind: kind, Url: req.GetUrl(), Description: strings.TrimSpace(req.GetDescription()), Topics: topics,
		Enabled: true, CreatedAt: timestamppb.New(now), UpdatedAt: timestamppb.New(now),
	}
	secret := ""
	if kind == kindWebhook {
		secret = newSecret()
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notify_endpoints WHERE tenant_id = ? AND workspace_id = ?`,
			ep.TenantId, ep.WorkspaceId).Scan(&n); err != nil {
			return err
		}
		if n >= maxEndpoints {
			return errs.E(errs.Invalid, "a workspace has at most %d endpoints: delete one first", maxEndpoints)
		}
		_, err := tx.Exec(ctx, `INSERT INTO notify_endpoints
			(endpoint_id, tenant_id, workspace_id, kind, url, description, topics, secret, enabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ep.EndpointId, ep.TenantId, ep.WorkspaceId, kind, ep.Url, ep.Description, strings.Join(topics, " "), secret,
			true, store.ToMicros(now), store.ToMicros(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: creating endpoint: %w", err)
	}
	return &notificationv1.CreateEndpointResponse{Endpoint: ep, Secret: secret}, nil
}

// ListEndpoints returns a workspace's endpoints, oldest first.
func (s *Service) ListEndpoints(ctx context.Context, req *notificationv1.ListEndpointsRequest) (*notificationv1.ListEndpointsResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+endpointColumns+` FROM notify_endpoints
		WHERE tenant_id = ? AND workspace_id = ? ORDER BY endpoint_id`, req.GetTenantId(), req.GetWorkspaceId())
	if err != nil {
		return nil, fmt.Errorf("notify: listing endpoints: %w", err)
	}
	defer rows.Close()
	res := &notificationv1.ListEndpointsResponse{}
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		res.Endpoints = append(res.Endpoints, ep)
	}
	return res, rows.Err()
}

const endpointColumns = `endpoint_id, tenant_id, workspace_id, kind, url, description, topics, enabled,
	disabled_reason, failing_since, created_at, updated_at, previous_until`

func scanEndpoint(r interface{ Scan(...any) error }) (*notificationv1.Endpoint, error) {
	var (
		ep                                   notificationv1.Endpoint
		topics                               string
		failing, created, updated, prevUntil int64
	)
	if err := r.Scan(&ep.EndpointId, &ep.TenantId, &ep.WorkspaceId, &ep.Kind, &ep.Url, &ep.Description, &topics,
		&ep.Enabled, &ep.DisabledReason, &failing, &created, &updated, &prevUntil); err != nil {
		return nil, err
	}
	ep.Topics = strings.Fields(topics)
	ep.CreatedAt = timestamppb.New(store.FromMicros(created))
	ep.UpdatedAt = timestamppb.New(store.FromMicros(updated))
	if failing != 0 {
		ep.FailingSince = timestamppb.New(store.FromMicros(failing))
	}
	if prevUntil > store.ToMicros(time.Now()) {
		ep.PreviousSecretUntil = timestamppb.New(store.FromMicros(prevUntil))
	}
	return &ep, nil
}

// getEndpoint reads one endpoint of a workspace; another workspace's or
// tenant's endpoint is not found, exactly like a missing one.
func getEndpoint(ctx context.Context, q store.Querier, tenantID, workspaceID, endpointID string) (*notificationv1.Endpoint, error) {
	ep, err := scanEndpoint(q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM notify_endpoints
		WHERE tenant_id = ? AND workspace_id = ? AND endpoint_id = ?`, tenantID, workspaceID, endpointID))
	if err != nil {
		return nil, store.NotFound(err, "endpoint "+endpointID)
	}
	return ep, nil
}

// UpdateEndpoint changes the fields the request sets. Enabling an endpoint
// clears the reason Herald disabled it and its failing run.
func (s *Service) UpdateEndpoint(ctx context.Context, req *notificationv1.UpdateEndpointRequest) (*notificationv1.UpdateEndpointResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkEndpointID(&v, req.GetEndpointId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *notificationv1.Endpoint
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ep, err := getEndpoint(ctx, tx, req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId())
		if err != nil {
			return err
		}
		var v errs.Fields
		set := []string{"updated_at = ?"}
		args := []any{store.ToMicros(time.Now())}
		if req.Url != nil {
			s.checkURL(&v, ep.Kind, req.GetUrl())
			set, args = append(set, "url = ?"), append(args, req.GetUrl())
		}
		if req.Description != nil {
			checkDescription(&v, req.GetDescription())
			set, args = append(set, "description = ?"), append(args, strings.TrimSpace(req.GetDescription()))
		}
		if req.GetSetTopics() {
			topics := checkTopics(&v, req.GetTopics())
			set, args = append(set, "topics = ?"), append(args, strings.Join(topics, " "))
		} else if len(req.GetTopics()) > 0 {
			v.Add("set_topics", "must be true to replace the topics")
		}
		if req.Enabled != nil {
			set, args = append(set, "enabled = ?"), append(args, req.GetEnabled())
			if req.GetEnabled() && !ep.Enabled {
				set = append(set, "disabled_reason = ''", "failing_since = 0")
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		args = append(args, ep.EndpointId, ep.TenantId)
		if _, err := tx.Exec(ctx, `UPDATE notify_endpoints SET `+strings.Join(set, ", ")+
			` WHERE endpoint_id = ? AND tenant_id = ?`, args...); err != nil {
			return err
		}
		out, err = getEndpoint(ctx, tx, ep.TenantId, ep.WorkspaceId, ep.EndpointId)
		if req.GetEnabled() {
			// Deliveries held while it was disabled go now.
			tx.AfterCommit(s.wakeHooks)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &notificationv1.UpdateEndpointResponse{Endpoint: out}, nil
}

// DeleteEndpoint removes an endpoint with its deliveries and their log.
func (s *Service) DeleteEndpoint(ctx context.Context, req *notificationv1.DeleteEndpointRequest) (*notificationv1.DeleteEndpointResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkEndpointID(&v, req.GetEndpointId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ep, err := getEndpoint(ctx, tx, req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId())
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM notify_attempts WHERE delivery_id IN (SELECT delivery_id FROM notify_deliveries WHERE endpoint_id = ?)`,
			`DELETE FROM notify_deliveries WHERE endpoint_id = ?`,
			`DELETE FROM notify_endpoints WHERE endpoint_id = ?`,
		} {
			if _, err := tx.Exec(ctx, q, ep.EndpointId); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &notificationv1.DeleteEndpointResponse{}, nil
}

// RotateSecret gives a webhook endpoint a new secret. The current one
// keeps signing beside it for SecretOverlap, so a receiver can switch
// without rejecting a delivery; a rotation during the overlap drops the
// oldest.
func (s *Service) RotateSecret(ctx context.Context, req *notificationv1.RotateSecretRequest) (*notificationv1.RotateSecretResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkEndpointID(&v, req.GetEndpointId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	secret := newSecret()
	var out *notificationv1.Endpoint
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ep, err := getEndpoint(ctx, tx, req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId())
		if err != nil {
			return err
		}
		if ep.Kind != kindWebhook {
			return errs.E(errs.Invalid, "only webhook endpoints are signed; a %s endpoint has no secret", ep.Kind)
		}
		now := time.Now()
		if _, err := tx.Exec(ctx, `UPDATE notify_endpoints SET previous_secret = secret, previous_until = ?, secret = ?, updated_at = ?
			WHERE endpoint_id = ? AND tenant_id = ?`,
			store.ToMicros(now.Add(s.cfg.Webhooks.SecretOverlap)), secret, store.ToMicros(now), ep.EndpointId, ep.TenantId); err != nil {
			return err
		}
		out, err = getEndpoint(ctx, tx, ep.TenantId, ep.WorkspaceId, ep.EndpointId)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &notificationv1.RotateSecretResponse{Endpoint: out, Secret: secret}, nil
}

const deliveryColumns = `delivery_id, endpoint_id, event_id, topic, status, attempts, created_at, next_try_at,
	delivered_at, last_status_code, last_error, last_latency_ms`

func scanDelivery(r interface{ Scan(...any) error }) (*notificationv1.Delivery, error) {
	var (
		d                        notificationv1.Delivery
		created, next, delivered int64
	)
	if err := r.Scan(&d.DeliveryId, &d.EndpointId, &d.EventId, &d.Topic, &d.Status, &d.Attempts, &created, &next,
		&delivered, &d.LastStatusCode, &d.LastError, &d.LastLatencyMs); err != nil {
		return nil, err
	}
	d.CreatedAt = timestamppb.New(store.FromMicros(created))
	if d.Status == hookPending {
		d.NextTryAt = timestamppb.New(store.FromMicros(next))
	}
	if delivered != 0 {
		d.DeliveredAt = timestamppb.New(store.FromMicros(delivered))
	}
	return &d, nil
}

// ListDeliveries returns an endpoint's deliveries, newest first, a page at
// a time; dead_only lists its dead letters.
func (s *Service) ListDeliveries(ctx context.Context, req *notificationv1.ListDeliveriesRequest) (*notificationv1.ListDeliveriesResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkEndpointID(&v, req.GetEndpointId())
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = defaultLimit
	case limit < 0 || limit > maxLimit:
		v.Add("limit", "must be between 1 and %d", maxLimit)
	}
	if c := req.GetCursor(); c != "" && !id.HasPrefix(c, "dlv") {
		v.Add("cursor", "is not a cursor from a previous page")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := getEndpoint(ctx, s.db, req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId()); err != nil {
		return nil, err
	}
	q := `SELECT ` + deliveryColumns + ` FROM notify_deliveries WHERE tenant_id = ? AND workspace_id = ? AND endpoint_id = ?`
	args := []any{req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId()}
	if req.GetDeadOnly() {
		q += ` AND status = ?`
		args = append(args, hookDead)
	}
	if c := req.GetCursor(); c != "" {
		q += ` AND delivery_id < ?`
		args = append(args, c)
	}
	q += ` ORDER BY delivery_id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("notify: listing deliveries: %w", err)
	}
	defer rows.Close()
	res := &notificationv1.ListDeliveriesResponse{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(res.Deliveries) > limit {
		res.Deliveries = res.Deliveries[:limit]
		res.NextCursor = res.Deliveries[limit-1].DeliveryId
	}
	return res, nil
}

func getDelivery(ctx context.Context, q store.Querier, tenantID, workspaceID, deliveryID string) (*notificationv1.Delivery, error) {
	d, err := scanDelivery(q.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notify_deliveries
		WHERE tenant_id = ? AND workspace_id = ? AND delivery_id = ?`, tenantID, workspaceID, deliveryID))
	if err != nil {
		return nil, store.NotFound(err, "delivery "+deliveryID)
	}
	return d, nil
}

// GetDelivery returns a delivery with its attempts, oldest first, and the
// body it posts.
func (s *Service) GetDelivery(ctx context.Context, req *notificationv1.GetDeliveryRequest) (*notificationv1.GetDeliveryResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkDeliveryID(&v, req.GetDeliveryId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	d, err := getDelivery(ctx, s.db, req.GetTenantId(), req.GetWorkspaceId(), req.GetDeliveryId())
	if err != nil {
		return nil, err
	}
	res := &notificationv1.GetDeliveryResponse{Delivery: d}
	if err := s.db.QueryRow(ctx, `SELECT payload FROM notify_deliveries WHERE delivery_id = ?`, d.DeliveryId).Scan(&res.Payload); err != nil {
		return nil, err
	}
	res.Attempts, err = attemptsOf(ctx, s.db, d.DeliveryId)
	return res, err
}

func attemptsOf(ctx context.Context, q store.Querier, deliveryID string) ([]*notificationv1.Attempt, error) {
	rows, err := q.Query(ctx, `SELECT attempted_at, status_code, latency_ms, response, error FROM notify_attempts
		WHERE delivery_id = ? ORDER BY attempt_id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("notify: listing attempts: %w", err)
	}
	defer rows.Close()
	var out []*notificationv1.Attempt
	for rows.Next() {
		var a notificationv1.Attempt
		var at int64
		if err := rows.Scan(&at, &a.StatusCode, &a.LatencyMs, &a.Response, &a.Error); err != nil {
			return nil, err
		}
		a.AttemptedAt = timestamppb.New(store.FromMicros(at))
		out = append(out, &a)
	}
	return out, rows.Err()
}

// Redeliver queues a new attempt of a delivery now, whatever its status: a
// dead letter gets one more attempt (and is dead again if it fails), a
// delivered one is posted again with the same event id.
func (s *Service) Redeliver(ctx context.Context, req *notificationv1.RedeliverRequest) (*notificationv1.RedeliverResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkDeliveryID(&v, req.GetDeliveryId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *notificationv1.Delivery
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		d, err := getDelivery(ctx, tx, req.GetTenantId(), req.GetWorkspaceId(), req.GetDeliveryId())
		if err != nil {
			return err
		}
		now := store.ToMicros(time.Now())
		if _, err := tx.Exec(ctx, `UPDATE notify_deliveries SET status = ?, next_try_at = ?,
			deadline_at = CASE WHEN deadline_at < ? THEN ? ELSE deadline_at END, delivered_at = 0
			WHERE delivery_id = ? AND tenant_id = ?`, hookPending, now, now, now, d.DeliveryId, req.GetTenantId()); err != nil {
			return err
		}
		out, err = getDelivery(ctx, tx, req.GetTenantId(), req.GetWorkspaceId(), d.DeliveryId)
		tx.AfterCommit(s.wakeHooks)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &notificationv1.RedeliverResponse{Delivery: out}, nil
}

// SendTest posts a webhook.test payload to an endpoint now and returns the
// attempt. It is logged with the endpoint's deliveries and not retried.
func (s *Service) SendTest(ctx context.Context, req *notificationv1.SendTestRequest) (*notificationv1.SendTestResponse, error) {
	var v errs.Fields
	checkWorkspace(&v, req.GetTenantId(), req.GetWorkspaceId())
	checkEndpointID(&v, req.GetEndpointId())
	if err := v.Err(); err != nil {
		return nil, err
	}
	ep, err := getEndpoint(ctx, s.db, req.GetTenantId(), req.GetWorkspaceId(), req.GetEndpointId())
	if err != nil {
		return nil, err
	}
	if !ep.Enabled {
		return nil, errs.E(errs.Invalid, "the endpoint is disabled: enable it to send a test")
	}
	now := time.Now().UTC()
	m := &bus.Message{ID: id.New("evt"), Topic: topicTest}
	body, err := webhookBody(m.ID, topicTest, ep.WorkspaceId, now, nil)
	if ep.Kind == kindSlack {
		body, err = slackBody(m, s.cfg.BaseURL, ep.WorkspaceId)
	}
	if err != nil {
		return nil, err
	}
	// Queued a lease ahead, so the delivery loop does not take it: this
	// call does, now. Its window is nil, so a failed test is not retried.
	later := now.Add(2*s.cfg.Webhooks.Timeout + time.Second)
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO notify_deliveries
			(delivery_id, tenant_id, workspace_id, endpoint_id, event_id, topic, payload, status, next_try_at, deadline_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id.New("dlv"), ep.TenantId, ep.WorkspaceId, ep.EndpointId, m.ID, topicTest, string(body), hookPending,
			store.ToMicros(later), store.ToMicros(now), store.ToMicros(now))
		return err
	})
	if err != nil {
		return nil, err
	}
	var deliveryID string
	if err := s.db.QueryRow(ctx, `SELECT delivery_id FROM notify_deliveries WHERE event_id = ? AND endpoint_id = ?`,
		m.ID, ep.EndpointId).Scan(&deliveryID); err != nil {
		return nil, err
	}
	claimed, err := s.claimHooks(ctx, deliveryID, 1, nil, nil)
	if err != nil {
		return nil, err
	}
	res := &notificationv1.SendTestResponse{}
	if len(claimed) == 1 {
		r := s.post(ctx, claimed[0])
		if err := s.recordHook(context.WithoutCancel(ctx), claimed[0], r); err != nil {
			return nil, err
		}
		res.Attempt = &notificationv1.Attempt{AttemptedAt: timestamppb.New(r.at), StatusCode: int32(r.status),
			LatencyMs: r.latency.Milliseconds(), Response: r.response, Error: r.errText()}
	}
	res.Delivery, err = getDelivery(ctx, s.db, ep.TenantId, ep.WorkspaceId, deliveryID)
	return res, err
}

func checkWorkspace(v *errs.Fields, tenantID, workspaceID string) {
	if strings.TrimSpace(tenantID) == "" {
		v.Add("tenant_id", "is required")
	}
	if strings.TrimSpace(workspaceID) == "" {
		v.Add("workspace_id", "is required")
	}
}

func checkEndpointID(v *errs.Fields, s string) {
	if !id.HasPrefix(s, "whk") {
		v.Add("endpoint_id", "is not an endpoint id")
	}
}

func checkDeliveryID(v *errs.Fields, s string) {
	if !id.HasPrefix(s, "dlv") {
		v.Add("delivery_id", "is not a delivery id")
	}
}

func checkDescription(v *errs.Fields, d string) {
	if utf8.RuneCountInString(d) > maxDescriptionLen {
		v.Add("description", "must be at most %d characters", maxDescriptionLen)
	}
}

// checkTopics returns the topics, without repeats; "*" must stand alone.
func checkTopics(v *errs.Fields, topics []string) []string {
	if len(topics) == 0 {
		v.Add("topics", "must name at least one event, or * for all")
		return nil
	}
	var out []string
	for i, t := range topics {
		t = strings.TrimSpace(t)
		_, known := hookEvents[t]
		switch {
		case t == allTopics:
			if len(topics) > 1 {
				v.Add("topics", "* means every event and cannot be combined with others")
			}
		case !known:
			v.Add(fmt.Sprintf("topics[%d]", i), "%q is not an event an endpoint can receive (known: %s)", t, strings.Join(HookTopics(), ", "))
			continue
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// checkURL refuses, before anything is stored, the addresses a request
// could never be allowed to reach: other schemes, credentials in the URL,
// literal addresses the outbound policy refuses, and the numeric host forms
// (2130706433, 0x7f000001, 0177.0.0.1) that some resolvers read as
// addresses. Names are checked where it counts, when the connection is
// made, against what they resolve to then.
func (s *Service) checkURL(v *errs.Fields, kind, raw string) {
	const field = "url"
	if raw == "" {
		v.Add(field, "is required")
		return
	}
	if len(raw) > maxURLLen {
		v.Add(field, "must be at most %d characters", maxURLLen)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		v.Add(field, "must be an absolute http(s) URL")
		return
	}
	switch {
	case kind == kindSlack && u.Scheme != "https":
		v.Add(field, "must be an https URL (a Slack incoming webhook)")
		return
	case u.Scheme != "http" && u.Scheme != "https":
		v.Add(field, "must start with http:// or https://")
		return
	case u.User != nil:
		v.Add(field, "must not carry a user name or password")
		return
	case u.Fragment != "":
		v.Add(field, "must not have a #fragment")
		return
	}
	host := strings.ToLower(u.Hostname())
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := s.policy.Check(addr); err != nil {
			msg := err.Error()
			var e *errs.Error
			if errors.As(err, &e) {
				msg = e.Message
			}
			v.Add(field, "%s", msg)
		}
		return
	}
	if numericHost(host) {
		v.Add(field, "has a host that is a number (%s): write an address as a dotted IPv4 address, or use a name", host)
		return
	}
	if (host == "localhost" || strings.HasSuffix(host, ".localhost")) && !s.policy.AllowLoopback {
		v.Add(field, "%s is this machine, which is not allowed", host)
	}
}

// numericHost reports whether a host that is not a canonical address is
// made only of numbers (decimal, 0x hex or octal parts, dot-separated),
// which inet_aton-style resolvers would turn into an address.
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	for _, part := range strings.Split(host, ".") {
		p := part
		if strings.HasPrefix(p, "0x") {
			p = p[2:]
			if p == "" {
				return true
			}
			for _, c := range p {
				if !strings.ContainsRune("0123456789abcdef", c) {
					return false
				}
			}
			continue
		}
		if p == "" {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
