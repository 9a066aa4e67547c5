package simnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// The Telegram Bot API, as simnet plays it: https://api.telegram.org is
// served under /telegram, so a bot's method is
// /telegram/bot<token>/<method>. Bots, chats and memberships are made with
// CreateTelegramBot, CreateTelegramChat and SetTelegramMember (or POST
// /_simnet/telegram/accounts), and every message sent is listed by
// TelegramMessages (GET /_simnet/telegram/posts).
//
// It answers as the Bot API does: {"ok":true,"result":...} or
// {"ok":false,"error_code":N,"description":"..."}, 401 for an unknown
// token, 403 for a bot that was kicked, blocked or is not in the chat, 400
// for content Telegram refuses, and 429 with parameters.retry_after when a
// chat gets more messages than its rate allows.

// Telegram's limits, which simnet enforces.
const (
	TelegramMaxTextChars    = 4096
	TelegramMaxCaptionChars = 1024
	TelegramMaxPhotoBytes   = 10 << 20
	// TelegramMaxVideoBytes is the Bot API's 50 MB for a file a bot
	// uploads (sendVideo, or a video in a media group).
	TelegramMaxVideoBytes = 50 << 20
	TelegramMaxGroupMedia = 10
	// TelegramDefaultRate is how many messages a chat takes per
	// TelegramDefaultWindow (Telegram documents about 20 a minute for a
	// group).
	TelegramDefaultRate   = 20
	TelegramDefaultWindow = time.Minute
	telegramMaxUpload     = TelegramMaxGroupMedia*TelegramMaxVideoBytes + 1<<20
)

// TelegramChat is a chat bots can post to.
type TelegramChat struct {
	ID int64 `json:"id"`
	// Type is "private", "group", "supergroup" or "channel".
	Type     string `json:"type"`
	Title    string `json:"title,omitempty"`
	Username string `json:"username,omitempty"`
}

// TelegramMessage is a message as simnet stored it.
type TelegramMessage struct {
	ChatID       int64           `json:"chat_id"`
	MessageID    int64           `json:"message_id"`
	Bot          string          `json:"bot"`
	Text         string          `json:"text,omitempty"`
	Caption      string          `json:"caption,omitempty"`
	Photo        *TelegramUpload `json:"photo,omitempty"`
	Video        *TelegramUpload `json:"video,omitempty"`
	MediaGroupID string          `json:"media_group_id,omitempty"`
	ReplyTo      int64           `json:"reply_to,omitempty"`
	Date         time.Time       `json:"date"`
	Deleted      bool            `json:"deleted,omitempty"`
}

// TelegramUpload is an uploaded file; simnet keeps its size, not its bytes.
type TelegramUpload struct {
	FileName string `json:"file_name"`
	MimeType string `json:"mime_type"`
	Size     int64  `json:"size"`
}

type telegramBot struct {
	id       int64
	username string
}

type telegramChat struct {
	TelegramChat
	// members are the bots' statuses by bot id: "creator",
	// "administrator", "member", "restricted", "left", "kicked". In a
	// private chat "kicked" means the user blocked the bot.
	members map[int64]string
	nextMsg int64
	rate    window
	// migratedTo is the supergroup a group became, 0 if none.
	migratedTo int64
}

type telegramNet struct {
	mu        sync.Mutex
	bots      map[string]*telegramBot // by token
	chats     map[int64]*telegramChat
	usernames map[string]*telegramChat // lower-cased, without @
	messages  []*TelegramMessage
	rate      int
	window    time.Duration
	groups    int64
}

func (t *telegramNet) init() {
	if t.bots == nil {
		t.bots = map[string]*telegramBot{}
		t.chats = map[int64]*telegramChat{}
		t.usernames = map[string]*telegramChat{}
		t.rate, t.window = TelegramDefaultRate, TelegramDefaultWindow
	}
}

func (s *Server) mountTelegram(m *http.ServeMux) {
	m.HandleFunc("/telegram/{bot}/{method}", s.telegramMethod)
	m.HandleFunc("POST /_simnet/telegram/accounts", s.controlTelegramAccount)
	m.HandleFunc("GET /_simnet/telegram/posts", s.controlTelegramPosts)
}

// CreateTelegramBot creates a bot with username (its @name without @) and
// returns its token, "<id>:<secret>" as Telegram's are.
func (s *Server) CreateTelegramBot(username string) (token string) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	id, _ := strconv.ParseInt(s.nextID(), 10, 64)
	id %= 1e10
	token = fmt.Sprintf("%d:%s", id, randomToken()[:35])
	t.bots[token] = &telegramBot{id: id, username: username}
	return token
}

// RevokeTelegramBot makes token invalid, as /revoke in BotFather does.
func (s *Server) RevokeTelegramBot(token string) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.bots, token)
}

// CreateTelegramChat creates a chat and returns it with its id (negative
// for groups, -100… for channels and supergroups, as on Telegram).
func (s *Server) CreateTelegramChat(c TelegramChat) TelegramChat {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	n, _ := strconv.ParseInt(s.nextID(), 10, 64)
	n %= 1e9
	switch c.Type {
	case "channel", "supergroup":
		c.ID = -(1_000_000_000_000 + n)
	case "group":
		c.ID = -n
	default:
		c.Type, c.ID = "private", n
	}
	c.Username = strings.TrimPrefix(c.Username, "@")
	ch := &telegramChat{TelegramChat: c, members: map[int64]string{}}
	t.chats[c.ID] = ch
	if c.Username != "" {
		t.usernames[strings.ToLower(c.Username)] = ch
	}
	return c
}

// SetTelegramMember sets the status of the bot with token in chat:
// "administrator" (may post in a channel), "member" (may post in a group),
// "kicked" (or, in a private chat, blocked by the user), "left".
func (s *Server) SetTelegramMember(chatID int64, token, status string) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	b, c := t.bots[token], t.chats[chatID]
	if b == nil || c == nil {
		panic(fmt.Sprintf("simnet: SetTelegramMember: no bot with that token or no chat %d", chatID))
	}
	c.members[b.id] = status
}

// UpgradeTelegramGroup turns a group into a supergroup, as Telegram does
// when a group grows or gets certain settings: the supergroup has a new id
// (returned), the bots keep their places in it, and the old id answers 400
// with parameters.migrate_to_chat_id.
func (s *Server) UpgradeTelegramGroup(chatID int64) int64 {
	t := &s.telegram
	t.mu.Lock()
	old := t.chats[chatID]
	t.mu.Unlock()
	if old == nil || old.Type != "group" {
		panic(fmt.Sprintf("simnet: UpgradeTelegramGroup: no group %d", chatID))
	}
	c := s.CreateTelegramChat(TelegramChat{Type: "supergroup", Title: old.Title})
	t.mu.Lock()
	defer t.mu.Unlock()
	for bot, st := range old.members {
		t.chats[c.ID].members[bot] = st
	}
	old.migratedTo = c.ID
	return c.ID
}

// SetTelegramRate sets how many messages each chat takes per window before
// answering 429 (default 20 a minute); n < 0 turns the limit off.
func (s *Server) SetTelegramRate(n int, window time.Duration) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.rate, t.window = n, window
}

// TelegramMessages returns every message sent, oldest first.
func (s *Server) TelegramMessages() []TelegramMessage {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TelegramMessage, len(t.messages))
	for i, m := range t.messages {
		out[i] = *m
		if m.Photo != nil {
			p := *m.Photo
			out[i].Photo = &p
		}
	}
	return out
}

type tgError struct {
	code   int
	desc   string
	params map[string]any
}

func tgFail(code int, desc string) *tgError { return &tgError{code: code, desc: desc} }

func writeTelegram(w http.ResponseWriter, result any, e *tgError) {
	if e != nil {
		body := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
		if e.params != nil {
			body["parameters"] = e.params
		}
		writeJSON(w, e.code, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

// tgRequest is a method call's parameters, from the query, a form, JSON or
// multipart, all of which the Bot API takes.
type tgRequest struct {
	params url.Values
	files  map[string]*multipart.FileHeader
}

func readTelegramParams(w http.ResponseWriter, r *http.Request) (tgRequest, error) {
	req := tgRequest{params: r.URL.Query(), files: map[string]*multipart.FileHeader{}}
	if r.Method != http.MethodPost {
		return req, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, telegramMaxUpload)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return req, err
		}
		for k, v := range r.MultipartForm.Value {
			req.params[k] = v
		}
		for k, v := range r.MultipartForm.File {
			req.files[k] = v[0]
		}
	case "application/json":
		var raw map[string]json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&raw); err != nil {
			return req, err
		}
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				req.params.Set(k, s)
			} else {
				req.params.Set(k, string(bytes.TrimSpace(v)))
			}
		}
	default:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
		if err != nil {
			return req, err
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return req, err
		}
		for k, x := range v {
			req.params[k] = x
		}
	}
	return req, nil
}

func (s *Server) telegramMethod(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.PathValue("bot"), "bot")
	if !ok || !strings.Contains(token, ":") {
		writeTelegram(w, nil, tgFail(http.StatusNotFound, "Not Found"))
		return
	}
	t := &s.telegram
	t.mu.Lock()
	t.init()
	bot := t.bots[token]
	t.mu.Unlock()
	if bot == nil {
		writeTelegram(w, nil, tgFail(http.StatusUnauthorized, "Unauthorized"))
		return
	}
	req, err := readTelegramParams(w, r)
	if err != nil {
		writeTelegram(w, nil, tgFail(http.StatusBadRequest, "Bad Request: invalid request body"))
		return
	}
	var result any
	var e *tgError
	switch r.PathValue("method") {
	case "getMe":
		result = map[string]any{"id": bot.id, "is_bot": true, "first_name": bot.username, "username": bot.username, "can_join_groups": true}
	case "getChat":
		result, e = s.telegramGetChat(bot, req)
	case "getChatMember":
		result, e = s.telegramGetChatMember(bot, req)
	case "sendMessage":
		result, e = s.telegramSend(bot, req, "text")
	case "sendPhoto":
		result, e = s.telegramSend(bot, req, "photo")
	case "sendVideo":
		result, e = s.telegramSend(bot, req, "video")
	case "sendMediaGroup":
		result, e = s.telegramSend(bot, req, "group")
	case "deleteMessage":
		result, e = s.telegramDelete(bot, req)
	default:
		e = tgFail(http.StatusNotFound, "Not Found: method not found")
	}
	writeTelegram(w, result, e)
}

// chat finds the chat named by chat_id (an id or @username); t.mu is held.
func (t *telegramNet) chat(ref string) *telegramChat {
	ref = strings.TrimSpace(ref)
	if name, ok := strings.CutPrefix(ref, "@"); ok {
		return t.usernames[strings.ToLower(name)]
	}
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return nil
	}
	return t.chats[id]
}

func chatKind(c *telegramChat) string {
	if c.Type == "channel" {
		return "channel chat"
	}
	return "group chat"
}

// access is why bot may not see chat, or nil; t.mu is held.
func (t *telegramNet) access(bot *telegramBot, c *telegramChat) *tgError {
	if c == nil {
		return tgFail(http.StatusBadRequest, "Bad Request: chat not found")
	}
	if c.migratedTo != 0 {
		return &tgError{code: http.StatusBadRequest, desc: "Bad Request: group chat was upgraded to a supergroup chat", params: map[string]any{"migrate_to_chat_id": c.migratedTo}}
	}
	st, ok := c.members[bot.id]
	switch {
	case c.Type == "private" && st == "kicked":
		return tgFail(http.StatusForbidden, "Forbidden: bot was blocked by the user")
	case c.Type == "private" && !ok:
		return tgFail(http.StatusBadRequest, "Bad Request: chat not found")
	case st == "kicked":
		return tgFail(http.StatusForbidden, "Forbidden: bot was kicked from the "+chatKind(c))
	case !ok || st == "left":
		return tgFail(http.StatusForbidden, "Forbidden: bot is not a member of the "+chatKind(c))
	}
	return nil
}

// mayPost is why bot may not post in chat, or nil; t.mu is held.
func (t *telegramNet) mayPost(bot *telegramBot, c *telegramChat) *tgError {
	if e := t.access(bot, c); e != nil {
		return e
	}
	st := c.members[bot.id]
	switch {
	case c.Type == "channel" && st != "administrator" && st != "creator":
		return tgFail(http.StatusBadRequest, "Bad Request: need administrator rights in the channel chat")
	case st == "restricted":
		return tgFail(http.StatusBadRequest, "Bad Request: not enough rights to send text messages to the chat")
	}
	return nil
}

func (s *Server) telegramGetChat(bot *telegramBot, req tgRequest) (any, *tgError) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.chat(req.params.Get("chat_id"))
	if e := t.access(bot, c); e != nil {
		return nil, e
	}
	return c.TelegramChat, nil
}

func (s *Server) telegramGetChatMember(bot *telegramBot, req tgRequest) (any, *tgError) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.chat(req.params.Get("chat_id"))
	if e := t.access(bot, c); e != nil {
		return nil, e
	}
	uid, err := strconv.ParseInt(req.params.Get("user_id"), 10, 64)
	if err != nil {
		return nil, tgFail(http.StatusBadRequest, "Bad Request: invalid user_id specified")
	}
	var who *telegramBot
	for _, b := range t.bots {
		if b.id == uid {
			who = b
		}
	}
	st, ok := c.members[uid]
	if who == nil || !ok {
		return nil, tgFail(http.StatusBadRequest, "Bad Request: user not found")
	}
	m := map[string]any{"status": st, "user": map[string]any{"id": who.id, "is_bot": true, "first_name": who.username, "username": who.username}}
	if st == "administrator" {
		m["can_post_messages"] = true
	}
	return m, nil
}

type tgItem struct {
	text, caption string
	photo, video  *TelegramUpload
}

// telegramSend handles sendMessage, sendPhoto, sendVideo and
// sendMediaGroup.
func (s *Server) telegramSend(bot *telegramBot, req tgRequest, kind string) (any, *tgError) {
	items, e := telegramItems(req, kind)
	if e != nil {
		return nil, e
	}
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.chat(req.params.Get("chat_id"))
	if e := t.mayPost(bot, c); e != nil {
		return nil, e
	}
	var reply int64
	if raw := req.params.Get("reply_parameters"); raw != "" {
		var rp struct {
			MessageID int64 `json:"message_id"`
		}
		if json.Unmarshal([]byte(raw), &rp) != nil || !t.exists(c, rp.MessageID) {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: message to be replied not found")
		}
		reply = rp.MessageID
	}
	now := s.now()
	if e := t.admit(c, now); e != nil {
		return nil, e
	}
	group := ""
	if kind == "group" {
		t.groups++
		group = strconv.FormatInt(now.UnixMilli()*1000+t.groups, 10)
	}
	var out []map[string]any
	for _, it := range items {
		c.nextMsg++
		m := &TelegramMessage{ChatID: c.ID, MessageID: c.nextMsg, Bot: bot.username, Text: it.text, Caption: it.caption, Photo: it.photo, Video: it.video, MediaGroupID: group, ReplyTo: reply, Date: now}
		t.messages = append(t.messages, m)
		out = append(out, telegramMessageJSON(m, c))
	}
	if kind == "group" {
		return out, nil
	}
	return out[0], nil
}

// exists reports whether chat c has message id; t.mu is held.
func (t *telegramNet) exists(c *telegramChat, id int64) bool {
	for _, m := range t.messages {
		if m.ChatID == c.ID && m.MessageID == id && !m.Deleted {
			return true
		}
	}
	return false
}

// admit counts a message against the chat's rate; t.mu is held.
func (t *telegramNet) admit(c *telegramChat, now time.Time) *tgError {
	wait := c.rate.admit(now, t.rate, t.window)
	if wait == 0 {
		return nil
	}
	return &tgError{code: http.StatusTooManyRequests, desc: fmt.Sprintf("Too Many Requests: retry after %d", wait), params: map[string]any{"retry_after": wait}}
}

func telegramMessageJSON(m *TelegramMessage, c *telegramChat) map[string]any {
	out := map[string]any{"message_id": m.MessageID, "date": m.Date.Unix(), "chat": c.TelegramChat}
	if m.Text != "" {
		out["text"] = m.Text
	}
	if m.Caption != "" {
		out["caption"] = m.Caption
	}
	if m.MediaGroupID != "" {
		out["media_group_id"] = m.MediaGroupID
	}
	if m.Photo != nil {
		id := fmt.Sprintf("sim-photo-%d-%d", c.ID, m.MessageID)
		out["photo"] = []map[string]any{{"file_id": id, "file_unique_id": id, "width": 320, "height": 320, "file_size": m.Photo.Size}}
	}
	if m.Video != nil {
		id := fmt.Sprintf("sim-video-%d-%d", c.ID, m.MessageID)
		out["video"] = map[string]any{"file_id": id, "file_unique_id": id, "mime_type": m.Video.MimeType, "file_size": m.Video.Size}
	}
	return out
}

// utf16Len is s's length in UTF-16 code units, as Telegram and Discord
// count.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// telegramItems checks a send's content and returns its messages.
func telegramItems(req tgRequest, kind string) ([]tgItem, *tgError) {
	switch kind {
	case "text":
		text := req.params.Get("text")
		switch {
		case strings.TrimSpace(text) == "":
			return nil, tgFail(http.StatusBadRequest, "Bad Request: message text is empty")
		case utf16Len(text) > TelegramMaxTextChars:
			return nil, tgFail(http.StatusBadRequest, "Bad Request: message is too long")
		}
		return []tgItem{{text: text}}, nil
	case "photo", "video":
		caption := req.params.Get("caption")
		if utf16Len(caption) > TelegramMaxCaptionChars {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: message caption is too long")
		}
		f, e := telegramFile(req, req.params.Get(kind), kind)
		if e != nil {
			return nil, e
		}
		if kind == "video" {
			return []tgItem{{caption: caption, video: f}}, nil
		}
		return []tgItem{{caption: caption, photo: f}}, nil
	}
	var media []struct {
		Type    string `json:"type"`
		Media   string `json:"media"`
		Caption string `json:"caption"`
	}
	if err := json.Unmarshal([]byte(req.params.Get("media")), &media); err != nil {
		return nil, tgFail(http.StatusBadRequest, "Bad Request: can't parse InputMedia JSON object")
	}
	if len(media) < 2 || len(media) > TelegramMaxGroupMedia {
		return nil, tgFail(http.StatusBadRequest, "Bad Request: wrong number of items in the media group; must include 2-10 items")
	}
	items := make([]tgItem, 0, len(media))
	for _, m := range media {
		if m.Type != "photo" && m.Type != "video" {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: simnet takes only photos and videos in a media group")
		}
		if utf16Len(m.Caption) > TelegramMaxCaptionChars {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: message caption is too long")
		}
		f, e := telegramFile(req, m.Media, "")
		if e != nil {
			return nil, e
		}
		if m.Type == "video" {
			if f.MimeType != "video/mp4" {
				return nil, tgFail(http.StatusBadRequest, "Bad Request: wrong type of the web page content")
			}
			items = append(items, tgItem{caption: m.Caption, video: f})
			continue
		}
		if f.MimeType == "video/mp4" {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: IMAGE_PROCESS_FAILED")
		}
		items = append(items, tgItem{caption: m.Caption, photo: f})
	}
	return items, nil
}

// telegramFile finds an uploaded photo or video: the part named direct
// (sendPhoto's "photo" field, sendVideo's "video") or the one ref names as
// attach://<part>. A part typed as a video must be an MP4 (what Telegram
// plays; other formats go as documents) of up to 50 MB; anything else must
// be a photo of up to 10 MB.
func telegramFile(req tgRequest, ref, direct string) (*TelegramUpload, *tgError) {
	var fh *multipart.FileHeader
	if name, ok := strings.CutPrefix(ref, "attach://"); ok {
		fh = req.files[name]
	} else if direct != "" && ref == "" {
		fh = req.files[direct]
	}
	if fh == nil {
		if ref == "" {
			return nil, tgFail(http.StatusBadRequest, "Bad Request: there is no photo in the request")
		}
		return nil, tgFail(http.StatusBadRequest, "Bad Request: wrong remote file identifier specified")
	}
	mt, _, _ := mime.ParseMediaType(fh.Header.Get("Content-Type"))
	limit := int64(TelegramMaxPhotoBytes)
	if mt == "video/mp4" {
		limit = TelegramMaxVideoBytes
	}
	switch {
	case fh.Size == 0:
		return nil, tgFail(http.StatusBadRequest, "Bad Request: file must be non-empty")
	case fh.Size > limit:
		return nil, tgFail(http.StatusBadRequest, "Bad Request: file is too big")
	case direct == "video" && mt != "video/mp4":
		return nil, tgFail(http.StatusBadRequest, "Bad Request: wrong type of the web page content")
	case direct != "video" && mt != "image/jpeg" && mt != "image/png" && mt != "image/webp" && mt != "video/mp4":
		return nil, tgFail(http.StatusBadRequest, "Bad Request: IMAGE_PROCESS_FAILED")
	case direct == "photo" && mt == "video/mp4":
		return nil, tgFail(http.StatusBadRequest, "Bad Request: IMAGE_PROCESS_FAILED")
	}
	return &TelegramUpload{FileName: fh.Filename, MimeType: mt, Size: fh.Size}, nil
}

func (s *Server) telegramDelete(bot *telegramBot, req tgRequest) (any, *tgError) {
	t := &s.telegram
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.chat(req.params.Get("chat_id"))
	if e := t.mayPost(bot, c); e != nil {
		return nil, e
	}
	id, _ := strconv.ParseInt(req.params.Get("message_id"), 10, 64)
	for _, m := range t.messages {
		if m.ChatID == c.ID && m.MessageID == id && !m.Deleted {
			m.Deleted = true
			return true, nil
		}
	}
	return nil, tgFail(http.StatusBadRequest, "Bad Request: message to delete not found")
}

// controlTelegramAccount handles POST /_simnet/telegram/accounts
// {"bot": "herald_bot", "chat": {"type": "channel", "username": "news"},
// "status": "administrator"} and answers {"token", "chat_id"}: a new bot
// made a member of a new chat (status default: administrator).
func (s *Server) controlTelegramAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Bot    string       `json:"bot"`
		Chat   TelegramChat `json:"chat"`
		Status string       `json:"status"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in); err != nil || in.Bot == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": `the body must be JSON such as {"bot": "herald_bot", "chat": {"type": "channel", "username": "news"}}`})
		return
	}
	if in.Status == "" {
		in.Status = "administrator"
	}
	if in.Chat.Type == "" {
		in.Chat.Type = "channel"
	}
	tok := s.CreateTelegramBot(in.Bot)
	c := s.CreateTelegramChat(in.Chat)
	s.SetTelegramMember(c.ID, tok, in.Status)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "chat_id": c.ID, "chat": c})
}

// controlTelegramPosts handles GET /_simnet/telegram/posts.
func (s *Server) controlTelegramPosts(w http.ResponseWriter, _ *http.Request) {
	all := s.TelegramMessages()
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
}
