package simnet

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Discord's channel webhooks, as simnet plays them: https://discord.com is
// served under /discord, so a webhook's URL is
// <simnet>/discord/api/webhooks/<id>/<token>. Webhooks are made with
// CreateDiscordWebhook (or POST /_simnet/discord/accounts) and every
// message is listed by DiscordMessages (GET /_simnet/discord/posts).
//
// It answers as Discord does: the message object for ?wait=true (204
// without), {"message", "code"} errors (10015 Unknown Webhook, 50006 empty
// message, 50035 Invalid Form Body, 40005 too large), the X-RateLimit-*
// headers on every answer, and 429 with a JSON retry_after in seconds and
// Retry-After when a webhook's bucket is spent.

// Discord's limits, which simnet enforces.
const (
	DiscordMaxContent     = 2000
	DiscordMaxFiles       = 10
	DiscordMaxUploadBytes = 10 << 20
	// DiscordDefaultRate is how many requests a webhook takes per
	// DiscordDefaultWindow (Discord's webhook bucket is about 5 per 2
	// seconds).
	DiscordDefaultRate   = 5
	DiscordDefaultWindow = 2 * time.Second
)

// DiscordWebhook is a channel webhook.
type DiscordWebhook struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	Name      string `json:"name"`
	ChannelID string `json:"channel_id"`
	GuildID   string `json:"guild_id"`
}

// DiscordMessage is a message as simnet stored it.
type DiscordMessage struct {
	ID          string              `json:"id"`
	WebhookID   string              `json:"webhook_id"`
	ChannelID   string              `json:"channel_id"`
	Content     string              `json:"content"`
	Attachments []DiscordAttachment `json:"attachments"`
	// AllowedMentions is the parse list sent, nil when none was.
	AllowedMentions []string  `json:"allowed_mentions,omitempty"`
	Timestamp       time.Time `json:"timestamp"`
	Deleted         bool      `json:"deleted,omitempty"`
}

// DiscordAttachment is an uploaded file; simnet keeps its size, not its
// bytes.
type DiscordAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Description string `json:"description,omitempty"`
}

type discordHook struct {
	DiscordWebhook
	recent []time.Time
}

type discordNet struct {
	mu       sync.Mutex
	hooks    map[string]*discordHook // by id
	messages []*DiscordMessage
	rate     int
	window   time.Duration
}

func (d *discordNet) init() {
	if d.hooks == nil {
		d.hooks = map[string]*discordHook{}
		d.rate, d.window = DiscordDefaultRate, DiscordDefaultWindow
	}
}

func (s *Server) mountDiscord(m *http.ServeMux) {
	m.HandleFunc("GET /discord/api/webhooks/{id}/{token}", s.discordGetWebhook)
	m.HandleFunc("POST /discord/api/webhooks/{id}/{token}", s.discordExecute)
	m.HandleFunc("DELETE /discord/api/webhooks/{id}/{token}/messages/{mid}", s.discordDeleteMessage)
	m.HandleFunc("POST /_simnet/discord/accounts", s.controlDiscordAccount)
	m.HandleFunc("GET /_simnet/discord/posts", s.controlDiscordPosts)
}

// CreateDiscordWebhook creates a webhook named name in a new channel and
// returns it; its URL is <simnet>/discord/api/webhooks/<ID>/<Token>.
func (s *Server) CreateDiscordWebhook(name string) DiscordWebhook {
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	d.init()
	h := DiscordWebhook{ID: s.nextID(), Token: randomToken() + randomToken()[:24], Name: name, ChannelID: s.nextID(), GuildID: s.nextID()}
	d.hooks[h.ID] = &discordHook{DiscordWebhook: h}
	return h
}

// DeleteDiscordWebhook deletes a webhook, as a channel's admin can: its URL
// then answers 404 Unknown Webhook.
func (s *Server) DeleteDiscordWebhook(id string) {
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.hooks, id)
}

// SetDiscordRate sets how many requests each webhook takes per window
// (default 5 per 2 seconds); n < 0 turns the limit off.
func (s *Server) SetDiscordRate(n int, window time.Duration) {
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	d.init()
	d.rate, d.window = n, window
}

// DiscordMessages returns every message posted, oldest first.
func (s *Server) DiscordMessages() []DiscordMessage {
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DiscordMessage, len(d.messages))
	for i, m := range d.messages {
		out[i] = *m
		out[i].Attachments = slices.Clone(m.Attachments)
	}
	return out
}

func writeDiscordError(w http.ResponseWriter, status, code int, msg string, errors any) {
	body := map[string]any{"message": msg, "code": code}
	if errors != nil {
		body["errors"] = errors
	}
	writeJSON(w, status, body)
}

// hook finds the webhook a request names and counts the request against
// its bucket, setting the rate-limit headers; it answers the request itself
// (404, 401, 429) and returns nil when it cannot go on.
func (s *Server) discordHook(w http.ResponseWriter, r *http.Request) *discordHook {
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	d.init()
	h := d.hooks[r.PathValue("id")]
	if h == nil {
		writeDiscordError(w, http.StatusNotFound, 10015, "Unknown Webhook", nil)
		return nil
	}
	if h.Token != r.PathValue("token") {
		writeDiscordError(w, http.StatusUnauthorized, 50027, "Invalid Webhook Token", nil)
		return nil
	}
	if d.rate < 0 {
		return h
	}
	now := s.now()
	h.recent = slices.DeleteFunc(h.recent, func(at time.Time) bool { return !at.After(now.Add(-d.window)) })
	reset := now.Add(d.window)
	if len(h.recent) > 0 {
		reset = h.recent[0].Add(d.window)
	}
	hd := w.Header()
	hd.Set("X-RateLimit-Limit", strconv.Itoa(d.rate))
	hd.Set("X-RateLimit-Bucket", "webhook-"+h.ID)
	hd.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(reset.UnixMilli())/1000, 'f', 3, 64))
	after := reset.Sub(now).Seconds()
	hd.Set("X-RateLimit-Reset-After", strconv.FormatFloat(after, 'f', 3, 64))
	if len(h.recent) >= d.rate {
		hd.Set("X-RateLimit-Remaining", "0")
		hd.Set("X-RateLimit-Scope", "shared")
		hd.Set("Retry-After", strconv.Itoa(int(math.Ceil(after))))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": math.Round(after*1000) / 1000, "global": false})
		return nil
	}
	h.recent = append(h.recent, now)
	hd.Set("X-RateLimit-Remaining", strconv.Itoa(d.rate-len(h.recent)))
	return h
}

func (s *Server) discordGetWebhook(w http.ResponseWriter, r *http.Request) {
	h := s.discordHook(w, r)
	if h == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": h.ID, "type": 1, "name": h.Name, "channel_id": h.ChannelID, "guild_id": h.GuildID, "token": h.Token, "avatar": nil, "application_id": nil})
}

type discordPayload struct {
	Content         string `json:"content"`
	AllowedMentions *struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
	Attachments []struct {
		ID          json.Number `json:"id"`
		Filename    string      `json:"filename"`
		Description string      `json:"description"`
	} `json:"attachments"`
}

func (s *Server) discordExecute(w http.ResponseWriter, r *http.Request) {
	h := s.discordHook(w, r)
	if h == nil {
		return
	}
	var p discordPayload
	files := map[string]*multipart.FileHeader{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&p); err != nil {
			writeDiscordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.", nil)
			return
		}
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, DiscordMaxUploadBytes+1<<20)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			writeDiscordError(w, http.StatusRequestEntityTooLarge, 40005, "Request entity too large", nil)
			return
		}
		if err := json.Unmarshal([]byte(r.FormValue("payload_json")), &p); err != nil {
			writeDiscordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.", nil)
			return
		}
		for k, v := range r.MultipartForm.File {
			files[k] = v[0]
		}
	default:
		writeDiscordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", nil)
		return
	}
	if utf16Len(p.Content) > DiscordMaxContent {
		writeDiscordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", map[string]any{
			"content": map[string]any{"_errors": []any{map[string]string{"code": "BASE_TYPE_MAX_LENGTH", "message": fmt.Sprintf("Must be %d or fewer in length.", DiscordMaxContent)}}},
		})
		return
	}
	if len(files) > DiscordMaxFiles {
		writeDiscordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", map[string]any{
			"files": map[string]any{"_errors": []any{map[string]string{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}}},
		})
		return
	}
	var atts []DiscordAttachment
	var total int64
	for i := range len(files) {
		fh := files[fmt.Sprintf("files[%d]", i)]
		if fh == nil {
			writeDiscordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", map[string]any{"files": "file parts must be named files[0], files[1], …"})
			return
		}
		a := DiscordAttachment{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Size: fh.Size}
		for _, pa := range p.Attachments {
			if pa.ID.String() == strconv.Itoa(i) {
				a.Description = pa.Description
			}
		}
		total += fh.Size
		atts = append(atts, a)
	}
	if total > DiscordMaxUploadBytes {
		writeDiscordError(w, http.StatusRequestEntityTooLarge, 40005, "Request entity too large", nil)
		return
	}
	if strings.TrimSpace(p.Content) == "" && len(atts) == 0 {
		writeDiscordError(w, http.StatusBadRequest, 50006, "Cannot send an empty message", nil)
		return
	}
	m := &DiscordMessage{ID: s.nextID(), WebhookID: h.ID, ChannelID: h.ChannelID, Content: p.Content, Attachments: atts, Timestamp: s.now()}
	if p.AllowedMentions != nil {
		m.AllowedMentions = append([]string{}, p.AllowedMentions.Parse...)
	}
	d := &s.discord
	d.mu.Lock()
	d.messages = append(d.messages, m)
	d.mu.Unlock()
	if r.URL.Query().Get("wait") != "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, discordMessageJSON(m, s.baseURL(r)))
}

func discordMessageJSON(m *DiscordMessage, base string) map[string]any {
	atts := make([]map[string]any, len(m.Attachments))
	for i, a := range m.Attachments {
		id := fmt.Sprintf("%s%d", m.ID, i)
		atts[i] = map[string]any{"id": id, "filename": a.Filename, "size": a.Size, "content_type": a.ContentType,
			"url": fmt.Sprintf("%s/discord/attachments/%s/%s/%s", base, m.ChannelID, id, a.Filename)}
		if a.Description != "" {
			atts[i]["description"] = a.Description
		}
	}
	return map[string]any{
		"id": m.ID, "type": 0, "channel_id": m.ChannelID, "webhook_id": m.WebhookID, "content": m.Content,
		"attachments": atts, "embeds": []any{}, "timestamp": m.Timestamp.Format(time.RFC3339Nano),
		"author": map[string]any{"id": m.WebhookID, "bot": true},
	}
}

func (s *Server) discordDeleteMessage(w http.ResponseWriter, r *http.Request) {
	h := s.discordHook(w, r)
	if h == nil {
		return
	}
	d := &s.discord
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.messages {
		if m.ID == r.PathValue("mid") && m.WebhookID == h.ID && !m.Deleted {
			m.Deleted = true
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeDiscordError(w, http.StatusNotFound, 10008, "Unknown Message", nil)
}

// controlDiscordAccount handles POST /_simnet/discord/accounts
// {"name": "Herald"} and answers the webhook with its "url".
func (s *Server) controlDiscordAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in)
	if in.Name == "" {
		in.Name = "Herald"
	}
	h := s.CreateDiscordWebhook(in.Name)
	writeJSON(w, http.StatusOK, map[string]any{"webhook": h, "url": s.baseURL(r) + "/discord/api/webhooks/" + h.ID + "/" + h.Token})
}

// controlDiscordPosts handles GET /_simnet/discord/posts.
func (s *Server) controlDiscordPosts(w http.ResponseWriter, _ *http.Request) {
	all := s.DiscordMessages()
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
}
