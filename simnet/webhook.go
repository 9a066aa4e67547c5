package simnet

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/provider/webhook"
)

// Receivers of Herald's generic signed webhook (package provider/webhook),
// as a well-behaved receiver runs one: each has a URL,
// <simnet>/webhook/<id>, and signing secrets; it verifies Herald-Signature
// (401 when it does not match), dedupes on Herald-Webhook-Id (a repeat is
// answered with the first delivery's id and not stored again), answers
// {"id", "url"}, 410 once removed, and 429 with Retry-After past its rate.
// Receivers are made with CreateWebhookReceiver (or POST
// /_simnet/webhook/accounts) and deliveries listed by WebhookDeliveries
// (GET /_simnet/webhook/posts).

// WebhookReceiver is a simulated endpoint.
type WebhookReceiver struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// Path is the receiver's path on simnet.
func (r WebhookReceiver) Path() string { return "/webhook/" + r.ID }

// WebhookDelivery is an event a receiver accepted.
type WebhookDelivery struct {
	ID       string        `json:"id"` // the receiver's id for it
	Receiver string        `json:"receiver"`
	Event    webhook.Event `json:"event"`
	At       time.Time     `json:"at"`
	// Repeats is how many more times the same Herald-Webhook-Id came.
	Repeats int `json:"repeats"`
}

type receiver struct {
	id      string
	secrets []string
	gone    bool
	rate    window
	seen    map[string]*WebhookDelivery // by Herald-Webhook-Id
}

type webhookNet struct {
	mu         sync.Mutex
	receivers  map[string]*receiver
	deliveries []*WebhookDelivery
	pings      int
	rate       int
	window     time.Duration
}

func (n *webhookNet) init() {
	if n.receivers == nil {
		n.receivers = map[string]*receiver{}
		n.rate = -1
	}
}

func (s *Server) mountWebhook(m *http.ServeMux) {
	m.HandleFunc("POST /webhook/{id}", s.webhookReceive)
	m.HandleFunc("POST /_simnet/webhook/accounts", s.controlWebhookAccount)
	m.HandleFunc("GET /_simnet/webhook/posts", s.controlWebhookPosts)
}

// CreateWebhookReceiver creates a receiver with a new signing secret.
func (s *Server) CreateWebhookReceiver() WebhookReceiver {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	r := WebhookReceiver{ID: s.nextID(), Secret: webhook.NewSecret()}
	n.receivers[r.ID] = &receiver{id: r.ID, secrets: []string{r.Secret}, seen: map[string]*WebhookDelivery{}}
	return r
}

// SetWebhookSecrets replaces the secrets a receiver accepts signatures
// from (several while they rotate).
func (s *Server) SetWebhookSecrets(id string, secrets ...string) {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.receivers[id]; r != nil {
		r.secrets = slices.Clone(secrets)
	}
}

// RemoveWebhookReceiver retires a receiver: it answers 410 Gone.
func (s *Server) RemoveWebhookReceiver(id string) {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.receivers[id]; r != nil {
		r.gone = true
	}
}

// SetWebhookRate sets how many deliveries each receiver takes per window
// before answering 429; n < 0 (the default) turns the limit off.
func (s *Server) SetWebhookRate(rate int, window time.Duration) {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	n.rate, n.window = rate, window
}

// WebhookDeliveries returns every event accepted, oldest first; pings are
// counted by WebhookPings, not listed.
func (s *Server) WebhookDeliveries() []WebhookDelivery {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]WebhookDelivery, len(n.deliveries))
	for i, d := range n.deliveries {
		out[i] = *d
		out[i].Event.Media = slices.Clone(d.Event.Media)
	}
	return out
}

// WebhookPings is how many webhook.ping events receivers accepted.
func (s *Server) WebhookPings() int {
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pings
}

func (s *Server) webhookReceive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
		return
	}
	n := &s.hooks
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	rc := n.receivers[r.PathValue("id")]
	switch {
	case rc == nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
		return
	case rc.gone:
		writeJSON(w, http.StatusGone, map[string]string{"error": "this endpoint was removed"})
		return
	}
	now := s.now()
	if err := webhook.Verify(r.Header, body, now, 0, rc.secrets...); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid signature: " + err.Error()})
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.ID != r.Header.Get(webhook.HeaderID) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not a Herald event, or its id is not Herald-Webhook-Id's"})
		return
	}
	if wait := rc.rate.admit(now, n.rate, n.window); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "slow down"})
		return
	}
	if ev.Type == webhook.TypePing {
		n.pings++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	d := rc.seen[ev.ID]
	if d != nil {
		d.Repeats++
	} else {
		d = &WebhookDelivery{ID: s.nextID(), Receiver: rc.id, Event: ev, At: now}
		rc.seen[ev.ID] = d
		n.deliveries = append(n.deliveries, d)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": d.ID, "url": s.baseURL(r) + "/webhook/" + rc.id + "/posts/" + d.ID})
}

// controlWebhookAccount handles POST /_simnet/webhook/accounts and answers
// a new receiver: {"id", "secret", "url"}.
func (s *Server) controlWebhookAccount(w http.ResponseWriter, r *http.Request) {
	rc := s.CreateWebhookReceiver()
	writeJSON(w, http.StatusOK, map[string]string{"id": rc.ID, "secret": rc.Secret, "url": s.baseURL(r) + rc.Path()})
}

// controlWebhookPosts handles GET /_simnet/webhook/posts.
func (s *Server) controlWebhookPosts(w http.ResponseWriter, _ *http.Request) {
	all := s.WebhookDeliveries()
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "pings": s.WebhookPings(), "posts": all})
}
