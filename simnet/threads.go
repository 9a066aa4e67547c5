package simnet

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rivo/uniseg"
)

// ThreadsAccount is a simulated Threads profile with a long-lived token.
type ThreadsAccount struct {
	ID          string    `json:"user_id"`
	Username    string    `json:"username"`
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// ThreadsPost is a published Threads post, as simnet stored it.
type ThreadsPost struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	MediaType   string    `json:"media_type"` // TEXT_POST, IMAGE, VIDEO or CAROUSEL_ALBUM
	Text        string    `json:"text"`
	ImageURLs   []string  `json:"image_urls,omitempty"`
	VideoURLs   []string  `json:"video_urls,omitempty"`
	ReplyToID   string    `json:"reply_to_id,omitempty"`
	ContainerID string    `json:"container_id"`
	Permalink   string    `json:"permalink"`
	CreatedAt   time.Time `json:"timestamp"`
}

type thUser struct {
	id, username string
	published    []time.Time
	replied      []time.Time
}

type thContainer struct {
	id, userID  string
	mediaType   string
	text        string
	imageURL    string
	videoURL    string
	replyTo     string
	item        bool
	children    []string
	problem     string
	created     time.Time
	publishedAs string
}

type thPost = ThreadsPost

// threadsMaxVideoBytes is Threads' 1 GB (its 5-minute length is not
// simulated: simnet does not decode videos).
const threadsMaxVideoBytes = 1 << 30

const threadsScopes = "threads_basic,threads_content_publish,threads_manage_replies"

// threadsMaxChars is Threads' post length limit.
const threadsMaxChars = 500

// CreateThreadsAccount creates a Threads profile (or finds the one with
// that username) and a new long-lived token for it with Herald's scopes.
func (s *Server) CreateThreadsAccount(username string) ThreadsAccount {
	m := s.lockMeta()
	defer m.unlock()
	u := s.thUserLocked(m, username)
	t := s.newMetaToken(m, "threads", u.id, threadsScopes, metaLongTokenTTL)
	return ThreadsAccount{ID: u.id, Username: u.username, AccessToken: t.value, ExpiresAt: t.expires}
}

func (s *Server) thUserLocked(m *metaNet, username string) *thUser {
	key := strings.ToLower(username)
	if u := m.thLogins[key]; u != nil {
		return u
	}
	u := &thUser{id: s.nextID(), username: username}
	m.thUsers[u.id], m.thLogins[key] = u, u
	return u
}

// ThreadsPosts returns every published Threads post, oldest first.
func (s *Server) ThreadsPosts() []ThreadsPost {
	m := s.lockMeta()
	defer m.unlock()
	out := make([]ThreadsPost, len(m.thOrder))
	for i, p := range m.thOrder {
		out[i] = *p
		out[i].ImageURLs = slices.Clone(p.ImageURLs)
		out[i].VideoURLs = slices.Clone(p.VideoURLs)
	}
	return out
}

func (s *Server) mountThreads(m *http.ServeMux) {
	get, post := s.metaDialog("Threads", "threads", func(login string) string {
		if validUsername(login) != "" {
			return ""
		}
		mm := s.lockMeta()
		defer mm.unlock()
		return s.thUserLocked(mm, login).id
	})
	m.HandleFunc("GET /threads/oauth/authorize", get)
	m.HandleFunc("POST /threads/oauth/authorize", post)
	m.HandleFunc("POST /threads/oauth/access_token", s.thCodeExchange)
	m.HandleFunc("GET /threads/access_token", s.thLongLived)
	m.HandleFunc("GET /threads/refresh_access_token", s.thRefresh)
	m.Handle("GET /threads/{version}/me", s.metaAPI([]string{"threads_basic"}, s.thMe))
	m.Handle("GET /threads/{version}/{id}", s.metaAPI([]string{"threads_basic"}, s.thNode))
	m.Handle("POST /threads/{version}/{id}/threads", s.metaAPI([]string{"threads_basic", "threads_content_publish"}, s.thCreateContainer))
	m.Handle("POST /threads/{version}/{id}/threads_publish", s.metaAPI([]string{"threads_basic", "threads_content_publish"}, s.thPublish))
	m.Handle("GET /threads/{version}/{id}/threads", s.metaAPI([]string{"threads_basic"}, s.thList(false)))
	m.Handle("GET /threads/{version}/{id}/replies", s.metaAPI([]string{"threads_basic"}, s.thList(true)))
	m.Handle("GET /threads/{version}/{id}/threads_publishing_limit", s.metaAPI([]string{"threads_basic"}, s.thPublishingLimit))
	m.HandleFunc("POST /_simnet/threads/accounts", func(w http.ResponseWriter, r *http.Request) {
		v, err := formValues(w, r)
		name := strings.TrimSpace(v.Get("username"))
		if err != nil || validUsername(name) != "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "username must be 1 to 30 letters, digits or underscores", "fields": map[string]string{"username": "must be 1 to 30 letters, digits or underscores"}})
			return
		}
		writeJSON(w, http.StatusOK, s.CreateThreadsAccount(name))
	})
	m.HandleFunc("GET /_simnet/threads/posts", func(w http.ResponseWriter, _ *http.Request) {
		all := s.ThreadsPosts()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
	})
}

// thCodeExchange is POST /oauth/access_token: a short-lived (one hour)
// token and the user id.
func (s *Server) thCodeExchange(w http.ResponseWriter, r *http.Request) {
	v, err := metaParams(w, r)
	if err != nil {
		badParam(w, "the request could not be read")
		return
	}
	if v.Get("grant_type") != "authorization_code" {
		badParam(w, "grant_type must be authorization_code")
		return
	}
	c := s.redeemCode(w, v, "threads")
	if c == nil {
		return
	}
	m := s.lockMeta()
	t := s.newMetaToken(m, "threads", c.subject, c.scope, time.Hour)
	m.unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": t.value, "user_id": atoiDefault(c.subject, 0)})
}

// thLongLived is GET /access_token?grant_type=th_exchange_token.
func (s *Server) thLongLived(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if v.Get("grant_type") != "th_exchange_token" {
		badParam(w, "grant_type must be th_exchange_token")
		return
	}
	if !s.appBySecret(v) {
		graphError(w, http.StatusBadRequest, 1, 0, "OAuthException", "Error validating client secret.")
		return
	}
	s.thReissue(w, v.Get("access_token"))
}

// thRefresh is GET /refresh_access_token?grant_type=th_refresh_token: a
// long-lived token that has not expired gets a new 60 days.
func (s *Server) thRefresh(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if v.Get("grant_type") != "th_refresh_token" {
		badParam(w, "grant_type must be th_refresh_token")
		return
	}
	s.thReissue(w, v.Get("access_token"))
}

func (s *Server) thReissue(w http.ResponseWriter, old string) {
	m := s.lockMeta()
	defer m.unlock()
	t := m.tokens[old]
	switch {
	case t == nil || t.kind != "threads":
		graphError(w, http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	case t.revoked:
		graphError(w, http.StatusBadRequest, 190, 458, "OAuthException", "Error validating access token: The user has not authorized application.")
		return
	case !t.expires.IsZero() && !s.now().Before(t.expires):
		graphError(w, http.StatusBadRequest, 190, 463, "OAuthException", "Error validating access token: Session has expired.")
		return
	}
	n := s.newMetaToken(m, "threads", t.subject, strings.Join(keys(t.scopes), ","), metaLongTokenTTL)
	writeJSON(w, http.StatusOK, metaTokenJSON(n, s.now()))
}

func (s *Server) thMe(w http.ResponseWriter, _ *http.Request, t *metaToken, _ url.Values) {
	m := s.lockMeta()
	defer m.unlock()
	u := m.thUsers[t.subject]
	if u == nil {
		badParam(w, "Unsupported token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": u.id, "username": u.username, "name": u.username})
}

func (s *Server) thNode(w http.ResponseWriter, r *http.Request, t *metaToken, _ url.Values) {
	id := r.PathValue("id")
	m := s.lockMeta()
	defer m.unlock()
	if c := m.thContainers[id]; c != nil && c.userID == t.subject {
		st, msg := s.thStatusLocked(m, c)
		out := map[string]string{"id": c.id, "status": st}
		if msg != "" {
			out["error_message"] = msg
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if p := m.thPosts[id]; p != nil {
		writeJSON(w, http.StatusOK, map[string]string{"id": p.ID, "text": p.Text, "media_type": p.MediaType, "permalink": p.Permalink})
		return
	}
	if u := m.thUsers[id]; u != nil {
		writeJSON(w, http.StatusOK, map[string]string{"id": u.id, "username": u.username})
		return
	}
	graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
}

func (s *Server) thStatusLocked(m *metaNet, c *thContainer) (status, errorMessage string) {
	now := s.now()
	switch {
	case c.publishedAs != "":
		return "PUBLISHED", ""
	case now.Sub(c.created) >= metaContainerTTL:
		return "EXPIRED", ""
	case c.videoURL == "" && now.Sub(c.created) < m.opts.Processing,
		c.videoURL != "" && now.Sub(c.created) < m.opts.videoProcessing():
		return "IN_PROGRESS", ""
	case c.problem != "":
		return "ERROR", c.problem
	}
	for _, id := range c.children {
		if st, msg := s.thStatusLocked(m, m.thContainers[id]); st != "FINISHED" {
			if st == "ERROR" {
				return st, msg
			}
			return "IN_PROGRESS", ""
		}
	}
	return "FINISHED", ""
}

func (s *Server) thUserFor(w http.ResponseWriter, r *http.Request, t *metaToken) *thUser {
	m := s.lockMeta()
	defer m.unlock()
	u := m.thUsers[r.PathValue("id")]
	if u == nil || u.id != t.subject {
		graphError(w, http.StatusForbidden, 10, 0, "OAuthException", "(#10) Application does not have permission for this action")
		return nil
	}
	return u
}

// thCreateContainer is POST /{user-id}/threads: media_type TEXT, IMAGE
// (image_url) or CAROUSEL (children), text up to 500 characters,
// reply_to_id to answer a post.
func (s *Server) thCreateContainer(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	u := s.thUserFor(w, r, t)
	if u == nil {
		return
	}
	c := &thContainer{id: s.nextID(), userID: u.id, mediaType: strings.ToUpper(v.Get("media_type")), text: v.Get("text"), replyTo: v.Get("reply_to_id"), item: v.Get("is_carousel_item") == "true", created: s.now()}
	if n := threadsCount(c.text); n > threadsMaxChars {
		badParam(w, "Param text must be at most 500 characters long.")
		return
	}
	switch c.mediaType {
	case "TEXT":
		if strings.TrimSpace(c.text) == "" {
			badParam(w, "Param text is required for a TEXT post.")
			return
		}
	case "IMAGE":
		c.imageURL = v.Get("image_url")
		if c.imageURL == "" {
			badParam(w, "Param image_url is required for an IMAGE post.")
			return
		}
		mt, _, problem := fetchMedia(r.Context(), c.imageURL, metaMaxImageBytes)
		switch {
		case problem != "":
			c.problem = "Media download has failed: " + problem + "."
		case mt != "image/jpeg" && mt != "image/png":
			c.problem = "The image format is not supported; use JPEG or PNG."
		}
	case "VIDEO":
		c.videoURL = v.Get("video_url")
		if c.videoURL == "" {
			badParam(w, "Param video_url is required for a VIDEO post.")
			return
		}
		mt, _, problem := fetchMedia(r.Context(), c.videoURL, threadsMaxVideoBytes)
		switch {
		case problem != "":
			c.problem = "Media download has failed: " + problem + "."
		case mt != "video/mp4" && mt != "video/quicktime":
			c.problem = "The video format is not supported; use MP4 or MOV."
		}
	case "CAROUSEL":
		for _, id := range strings.Split(v.Get("children"), ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.children = append(c.children, id)
			}
		}
		if len(c.children) < 2 || len(c.children) > 20 {
			badParam(w, "A carousel must have between 2 and 20 children.")
			return
		}
	default:
		badParam(w, "Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}.")
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	for _, id := range c.children {
		if ch := m.thContainers[id]; ch == nil || !ch.item || ch.userID != u.id {
			badParam(w, "The carousel child "+id+" is not a carousel item of this user.")
			return
		}
	}
	if c.replyTo != "" {
		if p := m.thPosts[c.replyTo]; p == nil {
			badParam(w, "The post "+c.replyTo+" to reply to does not exist.")
			return
		}
	}
	m.thContainers[c.id] = c
	writeJSON(w, http.StatusOK, map[string]string{"id": c.id})
}

// thPublish is POST /{user-id}/threads_publish with creation_id.
func (s *Server) thPublish(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	u := s.thUserFor(w, r, t)
	if u == nil {
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	c := m.thContainers[v.Get("creation_id")]
	if c == nil || c.userID != u.id || c.item {
		graphError(w, http.StatusBadRequest, 24, 4279009, "OAuthException", "The media with id "+v.Get("creation_id")+" cannot be found.")
		return
	}
	now := s.now()
	if c.replyTo == "" && countWithin(u.published, now, 24*time.Hour) >= m.opts.ThreadsQuota ||
		c.replyTo != "" && countWithin(u.replied, now, 24*time.Hour) >= m.opts.ThreadsReplyQuota {
		s.stats.rateLimited.Add(1)
		graphError(w, http.StatusBadRequest, 4, 2207042, "OAuthException", "Application request limit reached: the profile has published the most posts allowed in 24 hours.")
		return
	}
	switch st, msg := s.thStatusLocked(m, c); st {
	case "FINISHED":
	case "IN_PROGRESS":
		graphError(w, http.StatusBadRequest, 24, 4279009, "OAuthException", "The media is not ready to be published; wait a moment.")
		return
	default:
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "The container cannot be published ("+st+"): "+msg)
		return
	}
	p := &ThreadsPost{ID: "179" + s.nextID(), UserID: u.id, Text: c.text, ReplyToID: c.replyTo, ContainerID: c.id, CreatedAt: now}
	switch c.mediaType {
	case "TEXT":
		p.MediaType = "TEXT_POST"
	case "IMAGE":
		p.MediaType, p.ImageURLs = "IMAGE", []string{c.imageURL}
	case "VIDEO":
		p.MediaType, p.VideoURLs = "VIDEO", []string{c.videoURL}
	case "CAROUSEL":
		p.MediaType = "CAROUSEL_ALBUM"
		for _, id := range c.children {
			if ch := m.thContainers[id]; ch.videoURL != "" {
				p.VideoURLs = append(p.VideoURLs, ch.videoURL)
			} else {
				p.ImageURLs = append(p.ImageURLs, ch.imageURL)
			}
		}
	}
	p.Permalink = "https://www.threads.net/@" + u.username + "/post/" + randomToken()[:11]
	c.publishedAs = p.ID
	if c.replyTo == "" {
		u.published = append(u.published, now)
	} else {
		u.replied = append(u.replied, now)
	}
	m.thPosts[p.ID] = p
	m.thOrder = append(m.thOrder, p)
	s.stats.statuses.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{"id": p.ID})
}

func (s *Server) thPublishingLimit(w http.ResponseWriter, r *http.Request, t *metaToken, _ url.Values) {
	u := s.thUserFor(w, r, t)
	if u == nil {
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": []any{map[string]any{
		"quota_usage":       countWithin(u.published, s.now(), 24*time.Hour),
		"config":            map[string]int{"quota_total": m.opts.ThreadsQuota, "quota_duration": 86400},
		"reply_quota_usage": countWithin(u.replied, s.now(), 24*time.Hour),
		"reply_config":      map[string]int{"quota_total": m.opts.ThreadsReplyQuota, "quota_duration": 86400},
	}}})
}

// thList is GET /{user-id}/threads (posts) or /{user-id}/replies: the
// profile's, newest first (limit, default 25).
func (s *Server) thList(replies bool) metaHandler {
	return func(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
		u := s.thUserFor(w, r, t)
		if u == nil {
			return
		}
		limit := atoiDefault(v.Get("limit"), 25)
		m := s.lockMeta()
		defer m.unlock()
		data := []map[string]string{}
		for i := len(m.thOrder) - 1; i >= 0 && len(data) < limit; i-- {
			if p := m.thOrder[i]; p.UserID == u.id && (p.ReplyToID != "") == replies {
				data = append(data, map[string]string{"id": p.ID, "text": p.Text, "media_type": p.MediaType, "permalink": p.Permalink, "timestamp": p.CreatedAt.UTC().Format("2006-01-02T15:04:05-0700")})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": data})
	}
}

// threadsCount counts text as Threads does: a character per grapheme, an
// emoji as its UTF-8 bytes (simnet's own copy, so the simulation does not
// trust the provider it tests).
func threadsCount(text string) int {
	n := 0
	g := uniseg.NewGraphemes(text)
	for g.Next() {
		emoji := false
		for _, r := range g.Runes() {
			if r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r >= 0x2300 && r <= 0x23FF || r >= 0x2B00 && r <= 0x2BFF || r == 0xFE0F || r == 0x20E3 {
				emoji = true
			}
		}
		if emoji {
			n += len(g.Str())
		} else {
			n++
		}
	}
	return n
}
