package simnet

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// InstagramAccount is a simulated Instagram professional account, linked
// to a Facebook page, with a user token that may publish to it.
type InstagramAccount struct {
	ID          string `json:"ig_user_id"`
	Username    string `json:"username"`
	PageID      string `json:"page_id"`
	AccessToken string `json:"access_token"`
	// UserLogin is who manages the page, for the Facebook Login dialog.
	UserLogin string `json:"user_login"`
}

// InstagramMedia is a published Instagram post, as simnet stored it.
type InstagramMedia struct {
	ID          string             `json:"id"`
	IGUserID    string             `json:"ig_user_id"`
	Caption     string             `json:"caption"`
	MediaType   string             `json:"media_type"` // IMAGE, VIDEO (a reel) or CAROUSEL_ALBUM
	ImageURLs   []string           `json:"image_urls"`
	VideoURLs   []string           `json:"video_urls,omitempty"`
	AltTexts    []string           `json:"alt_texts,omitempty"`
	ContainerID string             `json:"container_id"`
	Permalink   string             `json:"permalink"`
	Comments    []InstagramComment `json:"comments,omitempty"`
	CreatedAt   time.Time          `json:"timestamp"`
}

// InstagramComment is a comment on a media.
type InstagramComment struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

type igUser struct {
	id, username string
	page         *fbPage
	published    []time.Time
}

type igContainer struct {
	id, igID    string
	imageURL    string
	videoURL    string // a reel, or a carousel video
	altText     string
	caption     string
	carousel    bool // a CAROUSEL parent
	item        bool // is_carousel_item
	children    []string
	problem     string // why processing fails, "" if it does not
	created     time.Time
	publishedAs string
}

type igMediaObj = InstagramMedia

// Instagram's video limits: a reel up to 300 MB, a carousel video up to
// 100 MB (their lengths, 3 s to 15 min and to 60 s, are not simulated:
// simnet does not decode videos).
const (
	instagramMaxReelBytes          = 300 << 20
	instagramMaxCarouselVideoBytes = 100 << 20
)

const instagramScopes = "instagram_basic,instagram_content_publish,pages_read_engagement,pages_show_list"

// CreateInstagramAccount creates an Instagram professional account linked
// to a new page, and a long-lived user token of the page's owner with the
// Instagram publishing scopes.
func (s *Server) CreateInstagramAccount(username string) InstagramAccount {
	m := s.lockMeta()
	defer m.unlock()
	u := s.fbUserLocked(m, "owner_"+s.nextID())
	p := s.fbPageLocked(m, u, username+" page")
	ig := &igUser{id: "178414" + s.nextID(), username: username, page: p}
	p.ig = ig
	m.igUsers[ig.id] = ig
	t := s.newMetaToken(m, "user", u.id, instagramScopes, metaLongTokenTTL)
	return InstagramAccount{ID: ig.id, Username: username, PageID: p.id, AccessToken: t.value, UserLogin: u.login}
}

// InstagramPosts returns every published Instagram media, oldest first.
func (s *Server) InstagramPosts() []InstagramMedia {
	m := s.lockMeta()
	defer m.unlock()
	out := make([]InstagramMedia, len(m.igOrder))
	for i, md := range m.igOrder {
		out[i] = *md
		out[i].ImageURLs, out[i].AltTexts, out[i].Comments = slices.Clone(md.ImageURLs), slices.Clone(md.AltTexts), slices.Clone(md.Comments)
		out[i].VideoURLs = slices.Clone(md.VideoURLs)
	}
	return out
}

func (s *Server) mountInstagram(m *http.ServeMux) {
	s.mountGraphNodes(m)
	m.Handle("POST /graph/{version}/{id}/media", s.metaAPI([]string{"instagram_content_publish"}, s.igCreateContainer))
	m.Handle("POST /graph/{version}/{id}/media_publish", s.metaAPI([]string{"instagram_content_publish"}, s.igPublish))
	m.Handle("GET /graph/{version}/{id}/media", s.metaAPI([]string{"instagram_basic"}, s.igListMedia))
	m.Handle("GET /graph/{version}/{id}/content_publishing_limit", s.metaAPI([]string{"instagram_basic"}, s.igPublishingLimit))
	m.HandleFunc("POST /_simnet/instagram/accounts", func(w http.ResponseWriter, r *http.Request) {
		v, err := formValues(w, r)
		name := strings.TrimSpace(v.Get("username"))
		if err != nil || validUsername(name) != "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "username must be 1 to 30 letters, digits or underscores", "fields": map[string]string{"username": "must be 1 to 30 letters, digits or underscores"}})
			return
		}
		writeJSON(w, http.StatusOK, s.CreateInstagramAccount(name))
	})
	m.HandleFunc("GET /_simnet/instagram/posts", func(w http.ResponseWriter, _ *http.Request) {
		all := s.InstagramPosts()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
	})
}

// igAccountFor checks that the token's user manages the Instagram account
// in the path, and spends a call of the account's budget.
func (s *Server) igAccountFor(w http.ResponseWriter, r *http.Request, t *metaToken) *igUser {
	m := s.lockMeta()
	ig := m.igUsers[r.PathValue("id")]
	m.unlock()
	switch {
	case ig == nil:
		graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported request. Object with ID '"+r.PathValue("id")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return nil
	case !(t.kind == "user" && ig.page.owner.id == t.subject) && !(t.kind == "page" && ig.page.id == t.subject):
		graphError(w, http.StatusForbidden, 10, 0, "OAuthException", "(#10) Application does not have permission for this action")
		return nil
	}
	if !s.instagramBudget(w, ig.id) {
		return nil
	}
	return ig
}

// igCreateContainer is POST /{ig-user-id}/media: an image container
// (image_url, caption, alt_text), a carousel item (is_carousel_item), or a
// carousel (media_type=CAROUSEL, children). simnet downloads image_url at
// once; the container reports what it found after Processing.
func (s *Server) igCreateContainer(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	ig := s.igAccountFor(w, r, t)
	if ig == nil {
		return
	}
	c := &igContainer{id: s.nextID(), igID: ig.id, caption: v.Get("caption"), altText: v.Get("alt_text"), item: v.Get("is_carousel_item") == "true", created: s.now()}
	if n := utf8.RuneCountInString(c.caption); n > 2200 {
		graphError(w, http.StatusBadRequest, 100, 2207035, "OAuthException", "The caption is too long: Instagram allows 2,200 characters.")
		return
	}
	switch strings.ToUpper(v.Get("media_type")) {
	case "CAROUSEL":
		c.carousel = true
		for _, id := range strings.Split(v.Get("children"), ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.children = append(c.children, id)
			}
		}
		if len(c.children) < 2 || len(c.children) > 10 {
			badParam(w, "A carousel must have between 2 and 10 children.")
			return
		}
		m := s.lockMeta()
		for _, id := range c.children {
			ch := m.igContainers[id]
			if ch == nil || !ch.item || ch.igID != ig.id {
				m.unlock()
				graphError(w, http.StatusBadRequest, 100, 2207019, "OAuthException", "The carousel child "+id+" is not a carousel item container of this account.")
				return
			}
		}
		m.unlock()
	case "", "IMAGE":
		c.imageURL = v.Get("image_url")
		if c.imageURL == "" {
			badParam(w, "The parameter image_url is required")
			return
		}
		mt, _, problem := fetchMedia(r.Context(), c.imageURL, metaMaxImageBytes)
		switch {
		case problem != "":
			c.problem = "Media download has failed. The media URI doesn't meet our requirements: " + problem + ". (2207052)"
		case mt != "image/jpeg":
			c.problem = "The image format is not supported; only JPEG is. (2207004)"
		}
	case "REELS", "VIDEO":
		// A reel stands alone; a VIDEO container is only a carousel item
		// (Instagram retired feed videos for reels).
		reel := strings.ToUpper(v.Get("media_type")) == "REELS"
		if reel == c.item {
			badParam(w, "media_type REELS is for a post, VIDEO for a carousel item")
			return
		}
		c.videoURL = v.Get("video_url")
		if c.videoURL == "" {
			badParam(w, "The parameter video_url is required")
			return
		}
		limit := int64(instagramMaxReelBytes)
		if c.item {
			limit = instagramMaxCarouselVideoBytes
		}
		mt, _, problem := fetchMedia(r.Context(), c.videoURL, limit)
		switch {
		case problem != "":
			c.problem = "Media download has failed. The media URI doesn't meet our requirements: " + problem + ". (2207052)"
		case mt != "video/mp4" && mt != "video/quicktime":
			c.problem = "The video format is not supported; use MP4 or MOV. (2207026)"
		}
	default:
		badParam(w, "Param media_type must be one of {CAROUSEL, IMAGE, REELS, VIDEO} in simnet")
		return
	}
	m := s.lockMeta()
	m.igContainers[c.id] = c
	m.unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": c.id})
}

// igStatusLocked is a container's status_code and status.
func (s *Server) igStatusLocked(m *metaNet, c *igContainer) (code, status string) {
	now := s.now()
	switch {
	case c.publishedAs != "":
		return "PUBLISHED", "Published"
	case now.Sub(c.created) >= metaContainerTTL:
		return "EXPIRED", "Expired: the container was not published within 24 hours."
	case c.videoURL == "" && now.Sub(c.created) < m.opts.Processing,
		c.videoURL != "" && now.Sub(c.created) < m.opts.videoProcessing():
		return "IN_PROGRESS", "In Progress"
	case c.problem != "":
		return "ERROR", "Error: " + c.problem
	}
	for _, id := range c.children {
		if code, st := s.igStatusLocked(m, m.igContainers[id]); code != "FINISHED" {
			if code == "ERROR" {
				return code, st
			}
			return "IN_PROGRESS", "In Progress"
		}
	}
	return "FINISHED", "Finished"
}

// igPublish is POST /{ig-user-id}/media_publish with creation_id.
func (s *Server) igPublish(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	ig := s.igAccountFor(w, r, t)
	if ig == nil {
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	c := m.igContainers[v.Get("creation_id")]
	if c == nil || c.igID != ig.id || c.item {
		graphError(w, http.StatusBadRequest, 24, 2207006, "OAuthException", "The media with id "+v.Get("creation_id")+" cannot be found.")
		return
	}
	now := s.now()
	if countWithin(ig.published, now, 24*time.Hour) >= m.opts.InstagramQuota {
		s.stats.rateLimited.Add(1)
		graphError(w, http.StatusBadRequest, 9, 2207042, "OAuthException", "Application request limit reached: the account has reached the maximum number of posts that can be published through the API in 24 hours.")
		return
	}
	switch code, status := s.igStatusLocked(m, c); code {
	case "FINISHED":
	case "IN_PROGRESS":
		graphError(w, http.StatusBadRequest, 9007, 2207027, "OAuthException", "Media ID is not available: the media is not ready for publishing, please wait for a moment.")
		return
	default:
		graphError(w, http.StatusBadRequest, 9007, 2207032, "OAuthException", "The media cannot be published: "+status)
		return
	}
	md := &InstagramMedia{ID: "179" + s.nextID(), IGUserID: ig.id, Caption: c.caption, ContainerID: c.id, CreatedAt: now, MediaType: "IMAGE"}
	if c.carousel {
		md.MediaType = "CAROUSEL_ALBUM"
		for _, id := range c.children {
			ch := m.igContainers[id]
			if ch.videoURL != "" {
				md.VideoURLs = append(md.VideoURLs, ch.videoURL)
				continue
			}
			md.ImageURLs, md.AltTexts = append(md.ImageURLs, ch.imageURL), append(md.AltTexts, ch.altText)
		}
	} else if c.videoURL != "" {
		md.MediaType, md.VideoURLs = "VIDEO", []string{c.videoURL}
	} else {
		md.ImageURLs, md.AltTexts = []string{c.imageURL}, []string{c.altText}
	}
	md.Permalink = "https://www.instagram.com/p/" + randomToken()[:11] + "/"
	c.publishedAs = md.ID
	ig.published = append(ig.published, now)
	m.igMedia[md.ID] = md
	m.igOrder = append(m.igOrder, md)
	s.stats.statuses.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{"id": md.ID})
}

// igPublishingLimit is GET /{ig-user-id}/content_publishing_limit.
func (s *Server) igPublishingLimit(w http.ResponseWriter, r *http.Request, t *metaToken, _ url.Values) {
	ig := s.igAccountFor(w, r, t)
	if ig == nil {
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": []any{map[string]any{
		"quota_usage": countWithin(ig.published, s.now(), 24*time.Hour),
		"config":      map[string]int{"quota_total": m.opts.InstagramQuota, "quota_duration": 86400},
	}}})
}

// igComment is POST /{ig-media-id}/comments, as the account.
func (s *Server) igComment(w http.ResponseWriter, t *metaToken, md *InstagramMedia, msg string) {
	m := s.lockMeta()
	ig := m.igUsers[md.IGUserID]
	m.unlock()
	if !(t.kind == "user" && ig.page.owner.id == t.subject) && !(t.kind == "page" && ig.page.id == t.subject) || !t.scopes["instagram_basic"] {
		graphError(w, http.StatusForbidden, 10, 0, "OAuthException", "(#10) Application does not have permission for this action")
		return
	}
	if !s.instagramBudget(w, ig.id) {
		return
	}
	if strings.TrimSpace(msg) == "" {
		badParam(w, "The parameter message is required")
		return
	}
	m = s.lockMeta()
	c := InstagramComment{ID: "180" + s.nextID(), Text: msg}
	md.Comments = append(md.Comments, c)
	m.unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID})
}

// igListMedia is GET /{ig-user-id}/media: the account's media, newest
// first (limit, default 25).
func (s *Server) igListMedia(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	ig := s.igAccountFor(w, r, t)
	if ig == nil {
		return
	}
	limit := atoiDefault(v.Get("limit"), 25)
	m := s.lockMeta()
	defer m.unlock()
	data := []map[string]string{}
	for i := len(m.igOrder) - 1; i >= 0 && len(data) < limit; i-- {
		if md := m.igOrder[i]; md.IGUserID == ig.id {
			data = append(data, map[string]string{"id": md.ID, "caption": md.Caption, "media_type": md.MediaType, "permalink": md.Permalink, "timestamp": md.CreatedAt.UTC().Format("2006-01-02T15:04:05-0700")})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}
