package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Endpoint kinds.
const (
	kindWebhook = "webhook"
	kindSlack   = "slack"
)

// Delivery statuses.
const (
	hookPending   = "pending"
	hookDelivered = "delivered"
	hookDead      = "dead"
)

// allTopics, as an endpoint's only topic, subscribes it to every workspace
// event, including ones added later.
const allTopics = "*"

// topicTest is the type of the payload SendTest posts.
const topicTest = "webhook.test"

// hookEvents are the workspace-scoped events an endpoint may subscribe
// to, with the message each carries. Events without a single workspace
// (schedule.*, post.due) and team.invited, whose accept URL is a secret
// meant for the invitee alone, are never posted out.
var hookEvents = map[string]func() proto.Message{
	bus.TopicPostPublished:         func() proto.Message { return new(eventsv1.PostPublished) },
	bus.TopicPostFailed:            func() proto.Message { return new(eventsv1.PostFailed) },
	bus.TopicAccountNeedsReconnect: func() proto.Message { return new(eventsv1.AccountNeedsReconnect) },
	bus.TopicFeedItem:              func() proto.Message { return new(eventsv1.FeedItem) },
	bus.TopicApprovalRequested:     func() proto.Message { return new(eventsv1.ApprovalRequested) },
	bus.TopicApprovalDecided:       func() proto.Message { return new(eventsv1.ApprovalDecided) },
	bus.TopicApprovalCommented:     func() proto.Message { return new(eventsv1.ApprovalCommented) },
	bus.TopicCredentialExpiring:    func() proto.Message { return new(eventsv1.CredentialExpiring) },
	bus.TopicFeedDraftsCreated:     func() proto.Message { return new(eventsv1.FeedDraftsCreated) },
	bus.TopicQueueRunningEmpty:     func() proto.Message { return new(eventsv1.QueueRunningEmpty) },
}

// HookTopics lists the topics an endpoint may subscribe to, sorted.
func HookTopics() []string {
	ts := make([]string, 0, len(hookEvents))
	for t := range hookEvents {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// subscription is one topic the service consumes and its handler.
type subscription struct {
	topic string
	h     bus.Handler
	opts  []bus.SubscribeOption
}

// subscriptions are the service's topics: the ones that notify people
// (handle, which also queues their webhook deliveries), then the ones that
// only go to endpoints (handleHook).
func (s *Service) subscriptions() []subscription {
	var out []subscription
	for _, t := range topics {
		out = append(out, subscription{t, s.batcher.Handle, []bus.SubscribeOption{bus.WithConcurrency(batchSize)}})
	}
	for _, t := range HookTopics() {
		if !slices.Contains(topics, t) {
			out = append(out, subscription{t, s.handleHook, nil})
		}
	}
	return out
}

// handleHook consumes an event nobody is notified of in-app: it only
// queues its deliveries, in one transaction with its event id.
func (s *Service) handleHook(ctx context.Context, m *bus.Message) error {
	_, tenantID, workspaceID, err := decodeHookEvent(m)
	if err != nil {
		s.log.Error("notify: dropping event", "topic", m.Topic, "event_id", m.ID, "err", err)
		return nil
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		first, err := s.outbox.FirstDelivery(ctx, tx, m.ID)
		if err != nil || !first {
			return err
		}
		return s.queueHooksFor(ctx, tx, m, tenantID, workspaceID)
	})
	if err != nil {
		return fmt.Errorf("notify: event %s: %w", m.ID, err)
	}
	return nil
}

// decodeHookEvent reads a workspace event and the scope it carries.
func decodeHookEvent(m *bus.Message) (proto.Message, string, string, error) {
	mk, ok := hookEvents[m.Topic]
	if !ok {
		return nil, "", "", errBadEvent{"unexpected topic " + m.Topic}
	}
	ev := mk()
	if err := proto.Unmarshal(m.Payload, ev); err != nil {
		return nil, "", "", errBadEvent{"payload: " + err.Error()}
	}
	tenantID, workspaceID := stringField(ev, "tenant_id"), stringField(ev, "workspace_id")
	if err := checkScope(tenantID, workspaceID); err != nil {
		return nil, "", "", err
	}
	return ev, tenantID, workspaceID, nil
}

// stringField is the value of a message's string field by name, "" when
// it has none: every workspace event names its scope the same way.
func stringField(m proto.Message, name string) string {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return ""
	}
	return r.Get(f).String()
}

// queueHooks queues, in the transaction that records the event id, one
// delivery of the event for each enabled endpoint of its workspace that
// subscribed to its topic. The caller has already checked that the event
// is new; the unique (event, endpoint) index guards a second time.
func (s *Service) queueHooks(ctx context.Context, tx *store.Tx, m *bus.Message, n notice) error {
	return s.queueHooksFor(ctx, tx, m, n.tenantID, n.workspaceID)
}

func (s *Service) queueHooksFor(ctx context.Context, tx *store.Tx, m *bus.Message, tenantID, workspaceID string) error {
	if _, ok := hookEvents[m.Topic]; !ok {
		return nil
	}
	eps, err := endpointsFor(ctx, tx, tenantID, workspaceID, m.Topic)
	if err != nil || len(eps) == 0 {
		return err
	}
	ev, _, _, err := decodeHookEvent(m)
	if err != nil {
		// handle decoded it already; a payload only one decoder accepts is
		// not worth failing the notifications for.
		s.log.Warn("notify: event not posted to endpoints", "event_id", m.ID, "err", err)
		return nil
	}
	now := time.Now().UTC()
	body, err := webhookBody(m.ID, m.Topic, workspaceID, now, ev)
	if err != nil {
		return err
	}
	var slack []byte
	for _, ep := range eps {
		payload := body
		if ep.kind == kindSlack {
			if slack == nil {
				if slack, err = slackBody(m, s.cfg.BaseURL, workspaceID); err != nil {
					return err
				}
			}
			payload = slack
		}
		if err := insertDelivery(ctx, tx, s.cfg.Webhooks.Window, tenantID, workspaceID, ep.id, m.ID, m.Topic, payload, now); err != nil {
			return err
		}
	}
	tx.AfterCommit(s.wakeHooks)
	return nil
}

func insertDelivery(ctx context.Context, tx *store.Tx, window time.Duration, tenantID, workspaceID, endpointID, eventID, topic string, payload []byte, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO notify_deliveries
		(delivery_id, tenant_id, workspace_id, endpoint_id, event_id, topic, payload, status, next_try_at, deadline_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
		id.New("dlv"), tenantID, workspaceID, endpointID, eventID, topic, string(payload), hookPending,
		store.ToMicros(now), store.ToMicros(now.Add(window)), store.ToMicros(now))
	if err != nil {
		return fmt.Errorf("queueing webhook delivery: %w", err)
	}
	return nil
}

// hookTarget is an endpoint as the queueing needs it.
type hookTarget struct {
	id   string
	kind string
}

// endpointsFor returns the enabled endpoints of one workspace that take
// topic. The tenant is part of the key: a workspace id alone never selects
// another tenant's endpoint.
func endpointsFor(ctx context.Context, q store.Querier, tenantID, workspaceID, topic string) ([]hookTarget, error) {
	rows, err := q.Query(ctx, `SELECT endpoint_id, kind, topics FROM notify_endpoints
		WHERE tenant_id = ? AND workspace_id = ? AND enabled = ?`, tenantID, workspaceID, true)
	if err != nil {
		return nil, fmt.Errorf("looking up endpoints: %w", err)
	}
	defer rows.Close()
	var out []hookTarget
	for rows.Next() {
		var t hookTarget
		var ts string
		if err := rows.Scan(&t.id, &t.kind, &ts); err != nil {
			return nil, err
		}
		if takesTopic(ts, topic) {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// takesTopic reports whether an endpoint's stored topics include topic.
func takesTopic(stored, topic string) bool {
	for _, t := range strings.Fields(stored) {
		if t == allTopics || t == topic {
			return true
		}
	}
	return false
}

// webhookPayload is the JSON body of a webhook delivery.
type webhookPayload struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Timestamp   string          `json:"timestamp"`
	WorkspaceID string          `json:"workspace_id"`
	Data        json.RawMessage `json:"data"`
}

// webhookBody renders the body posted for an event, once: every attempt
// and every redelivery posts these bytes.
func webhookBody(eventID, topic, workspaceID string, at time.Time, ev proto.Message) ([]byte, error) {
	data := []byte("{}")
	if ev != nil {
		var err error
		data, err = protojson.MarshalOptions{UseProtoNames: true}.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("rendering webhook data: %w", err)
		}
	}
	b, err := json.Marshal(webhookPayload{ID: eventID, Type: topic, Timestamp: at.Format(time.RFC3339Nano),
		WorkspaceID: workspaceID, Data: data})
	if err != nil {
		return nil, fmt.Errorf("rendering webhook payload: %w", err)
	}
	return b, nil
}

// hookLabels name the topics in Slack messages.
var hookLabels = map[string]string{
	bus.TopicPostPublished:         "Post published",
	bus.TopicPostFailed:            "Post failed",
	bus.TopicAccountNeedsReconnect: "Account needs reconnecting",
	bus.TopicFeedItem:              "New feed item",
	bus.TopicApprovalRequested:     "Approval requested",
	bus.TopicApprovalDecided:       "Approval decided",
	bus.TopicApprovalCommented:     "New approval comment",
	bus.TopicCredentialExpiring:    "Account credentials expiring",
	bus.TopicFeedDraftsCreated:     "Drafts created from a feed",
	bus.TopicQueueRunningEmpty:     "Queue running empty",
	topicTest:                      "Test message",
}

// slackBody renders the Slack message for an event: a short line with a
// link into Herald. Text from networks or users is escaped, so it cannot
// mention @channel or forge a link.
func slackBody(m *bus.Message, baseURL, workspaceID string) ([]byte, error) {
	title, body := hookLabels[m.Topic], ""
	if title == "" {
		title = m.Topic
	}
	link := baseURL + "/workspaces/" + workspaceID
	if n, err := decodeNotice(m); err == nil {
		title, body, link = n.title, n.body, baseURL+n.link
	}
	text := "*" + slackEscape(title) + "*"
	if body != "" {
		text += "\n" + slackEscape(firstWords(body, 300))
	}
	text += "\n<" + slackEscape(link) + "|Open in Herald>"
	return json.Marshal(map[string]string{"text": text})
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to
// (links, mentions); the rest is literal.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(oneLine(s))
}

// newSecret makes an endpoint secret: 32 random bytes, "whsec_" and base64.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// signature is the webhook-signature header: one "v1,<base64 HMAC>" per
// secret, space-separated, over "<event id>.<unix seconds>.<body>" (the
// Standard Webhooks scheme). A receiver accepts the delivery if any entry
// verifies with a secret it has, which is what lets secrets rotate.
func signature(secrets []string, eventID string, ts int64, body []byte) string {
	var entries []string
	for _, sec := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
		if err != nil || len(key) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(eventID + "." + strconv.FormatInt(ts, 10) + "."))
		mac.Write(body)
		entries = append(entries, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(entries, " ")
}

// VerifySignature checks a delivery the way a receiver would: the
// timestamp within tolerance of now and one signature entry matching
// secret. Herald's own tests and the load mode use it.
func VerifySignature(secret, eventID, timestamp, header string, body []byte, tolerance time.Duration, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := signature([]string{secret}, eventID, ts, body)
	if want == "" {
		return false
	}
	for _, got := range strings.Fields(header) {
		if hmac.Equal([]byte(got), []byte(want)) {
			return true
		}
	}
	return false
}
