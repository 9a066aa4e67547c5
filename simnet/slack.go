package simnet

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Slack's incoming webhooks, as simnet plays them: https://hooks.slack.com
// is served under /slack, so a webhook's URL is
// <simnet>/slack/services/<team>/<hook>/<token>. Webhooks are made with
// CreateSlackWebhook (or POST /_simnet/slack/accounts) and every message is
// listed by SlackMessages (GET /_simnet/slack/posts).
//
// It answers as Slack does: 200 with the text body "ok", or an error as a
// text body with its status (400 invalid_payload and no_text, 404
// channel_not_found and no_service, 410 channel_is_archived, 403
// invalid_token and action_prohibited), and 429 with Retry-After when a
// webhook posts faster than its rate. The webhook is checked before the
// payload, as on Slack, so an empty payload tells whether a webhook works
// without posting anything.

// Slack's limits, which simnet enforces.
const (
	SlackMaxTextChars = 40000
	SlackMaxBlocks    = 50
	// SlackDefaultRate is how many messages a webhook takes per
	// SlackDefaultWindow (Slack allows about one a second, with short
	// bursts).
	SlackDefaultRate   = 5
	SlackDefaultWindow = 5 * time.Second
)

// SlackWebhook is an incoming webhook, bound to one channel.
type SlackWebhook struct {
	Team    string `json:"team"`
	ID      string `json:"id"`
	Token   string `json:"token"`
	Channel string `json:"channel"`
}

// Path is the webhook's path on simnet.
func (h SlackWebhook) Path() string { return "/slack/services/" + h.Team + "/" + h.ID + "/" + h.Token }

// SlackMessage is a message as simnet stored it.
type SlackMessage struct {
	Webhook string            `json:"webhook"`
	Channel string            `json:"channel"`
	Text    string            `json:"text"`
	Blocks  []json.RawMessage `json:"blocks,omitempty"`
	At      time.Time         `json:"at"`
}

type slackHook struct {
	SlackWebhook
	revoked bool
	rate    window
}

type slackNet struct {
	mu       sync.Mutex
	hooks    map[string]*slackHook // by id
	archived map[string]bool       // channels
	messages []SlackMessage
	rate     int
	window   time.Duration
}

func (n *slackNet) init() {
	if n.hooks == nil {
		n.hooks = map[string]*slackHook{}
		n.archived = map[string]bool{}
		n.rate, n.window = SlackDefaultRate, SlackDefaultWindow
	}
}

func (s *Server) mountSlack(m *http.ServeMux) {
	m.HandleFunc("POST /slack/services/{team}/{hook}/{token}", s.slackPost)
	m.HandleFunc("POST /_simnet/slack/accounts", s.controlSlackAccount)
	m.HandleFunc("GET /_simnet/slack/posts", s.controlSlackPosts)
}

func slackID(prefix string, n string) string {
	return prefix + strings.ToUpper(strconv.FormatInt(mustInt(n)%(1<<40), 36))
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// CreateSlackWebhook creates an incoming webhook posting to channel
// ("#general").
func (s *Server) CreateSlackWebhook(channel string) SlackWebhook {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	tok := strings.NewReplacer("-", "a", "_", "b").Replace(randomToken()[:24])
	h := SlackWebhook{Team: slackID("T", s.nextID()), ID: slackID("B", s.nextID()), Token: tok, Channel: channel}
	n.hooks[h.ID] = &slackHook{SlackWebhook: h}
	return h
}

// RemoveSlackWebhook removes a webhook, as uninstalling its app does: it
// then answers 404 no_service.
func (s *Server) RemoveSlackWebhook(id string) {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.hooks, id)
}

// RevokeSlackWebhook makes a webhook's token invalid (403 invalid_token).
func (s *Server) RevokeSlackWebhook(id string) {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hooks[id]; h != nil {
		h.revoked = true
	}
}

// ArchiveSlackChannel archives a channel: its webhooks answer 410
// channel_is_archived.
func (s *Server) ArchiveSlackChannel(channel string) {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	n.archived[channel] = true
}

// SetSlackRate sets how many messages each webhook takes per window
// (default 5 per 5 seconds); n < 0 turns the limit off.
func (s *Server) SetSlackRate(rate int, window time.Duration) {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	n.rate, n.window = rate, window
}

// SlackMessages returns every message posted, oldest first.
func (s *Server) SlackMessages() []SlackMessage {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.messages)
}

func writeSlack(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (s *Server) slackPost(w http.ResponseWriter, r *http.Request) {
	n := &s.slack
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	h := n.hooks[r.PathValue("hook")]
	switch {
	case h == nil || h.Team != r.PathValue("team"):
		writeSlack(w, http.StatusNotFound, "no_service")
		return
	case h.Token != r.PathValue("token") || h.revoked:
		writeSlack(w, http.StatusForbidden, "invalid_token")
		return
	case n.archived[h.Channel]:
		writeSlack(w, http.StatusGone, "channel_is_archived")
		return
	}
	var p struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "application/x-www-form-urlencoded" {
		// Slack also takes the JSON in a form field named payload.
		err = r.ParseForm()
		if err == nil {
			err = json.Unmarshal([]byte(r.PostForm.Get("payload")), &p)
		}
	} else {
		err = json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&p)
	}
	switch {
	case err != nil:
		writeSlack(w, http.StatusBadRequest, "invalid_payload")
		return
	case strings.TrimSpace(p.Text) == "" && len(p.Blocks) == 0:
		writeSlack(w, http.StatusBadRequest, "no_text")
		return
	case len(p.Blocks) > SlackMaxBlocks:
		writeSlack(w, http.StatusBadRequest, "invalid_blocks")
		return
	case utf16Len(p.Text) > SlackMaxTextChars:
		writeSlack(w, http.StatusBadRequest, "msg_too_long")
		return
	}
	now := s.now()
	if wait := h.rate.admit(now, n.rate, n.window); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeSlack(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	n.messages = append(n.messages, SlackMessage{Webhook: h.ID, Channel: h.Channel, Text: p.Text, Blocks: p.Blocks, At: now})
	writeSlack(w, http.StatusOK, "ok")
}

// controlSlackAccount handles POST /_simnet/slack/accounts
// {"channel": "#general"} and answers the webhook with its "url".
func (s *Server) controlSlackAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Channel string `json:"channel"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in)
	if in.Channel == "" {
		in.Channel = "#general"
	}
	h := s.CreateSlackWebhook(in.Channel)
	writeJSON(w, http.StatusOK, map[string]any{"webhook": h, "url": s.baseURL(r) + h.Path()})
}

// controlSlackPosts handles GET /_simnet/slack/posts.
func (s *Server) controlSlackPosts(w http.ResponseWriter, _ *http.Request) {
	all := s.SlackMessages()
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
}
