package simnet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FacebookPage is a simulated Page and the user who manages it.
type FacebookPage struct {
	ID          string `json:"page_id"`
	Name        string `json:"name"`
	AccessToken string `json:"page_access_token"`
	UserID      string `json:"user_id"`
	UserLogin   string `json:"user_login"`
	UserToken   string `json:"user_access_token"`
}

// FacebookPost is a post on a simulated Page, as simnet stored it.
type FacebookPost struct {
	ID       string   `json:"id"`
	PageID   string   `json:"page_id"`
	Message  string   `json:"message"`
	Link     string   `json:"link,omitempty"`
	PhotoIDs []string `json:"photo_ids,omitempty"`
	// VideoID is set for a video post (POST /{page-id}/videos), whose id
	// is the video's.
	VideoID   string            `json:"video_id,omitempty"`
	Comments  []FacebookComment `json:"comments,omitempty"`
	CreatedAt time.Time         `json:"created_time"`
}

// FacebookComment is a comment on a post.
type FacebookComment struct {
	ID       string `json:"id"`
	FromID   string `json:"from_id"`
	Message  string `json:"message"`
	HasImage bool   `json:"has_image,omitempty"`
}

type fbPage struct {
	id, name string
	owner    *metaUser
	ig       *igUser
}

type fbPost struct {
	FacebookPost
	deleted bool
	// ready and problem: a video post is seen only once processed, and
	// never when processing fails.
	ready   time.Time
	problem string
}

type fbPhoto struct {
	id, pageID string
	published  bool
	mimeType   string
	size       int64
	attached   bool
}

// pageScopes are what Facebook Login grants a page token made by
// CreateFacebookPage.
const pageScopes = "pages_manage_posts,pages_read_engagement,pages_show_list"

// CreateFacebookUser creates a Facebook user who logs in to the simulated
// dialog as login, managing a page for each name in pages, and returns
// the user's id. Tokens come from the connect flow.
func (s *Server) CreateFacebookUser(login string, pages ...string) (userID string) {
	m := s.lockMeta()
	defer m.unlock()
	u := s.fbUserLocked(m, login)
	for _, name := range pages {
		s.fbPageLocked(m, u, name)
	}
	return u.id
}

func (s *Server) fbUserLocked(m *metaNet, login string) *metaUser {
	key := strings.ToLower(login)
	if u := m.logins[key]; u != nil {
		return u
	}
	u := &metaUser{id: s.nextID(), login: login, name: login}
	m.users[u.id], m.logins[key] = u, u
	return u
}

func (s *Server) fbPageLocked(m *metaNet, u *metaUser, name string) *fbPage {
	p := &fbPage{id: s.nextID(), name: name, owner: u}
	m.pages[p.id] = p
	u.pages = append(u.pages, p)
	return p
}

// CreateFacebookPage creates a page named name, managed by a new user,
// with a page token and a user token that carry Herald's scopes.
func (s *Server) CreateFacebookPage(name string) FacebookPage {
	m := s.lockMeta()
	defer m.unlock()
	u := s.fbUserLocked(m, "owner_"+s.nextID())
	p := s.fbPageLocked(m, u, name)
	ut := s.newMetaToken(m, "user", u.id, pageScopes, metaLongTokenTTL)
	pt := s.newMetaToken(m, "page", p.id, pageScopes, 0)
	return FacebookPage{ID: p.id, Name: p.name, AccessToken: pt.value, UserID: u.id, UserLogin: u.login, UserToken: ut.value}
}

// FacebookPosts returns the posts on every page, oldest first, deleted
// ones left out.
func (s *Server) FacebookPosts() []FacebookPost {
	m := s.lockMeta()
	defer m.unlock()
	var out []FacebookPost
	now := s.now()
	for _, p := range m.fbOrder {
		if p.VideoID != "" && (now.Before(p.ready) || p.problem != "") {
			continue // not on the page until processed
		}
		if !p.deleted {
			c := p.FacebookPost
			c.PhotoIDs, c.Comments = slices.Clone(p.PhotoIDs), slices.Clone(p.Comments)
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) mountFacebook(m *http.ServeMux) {
	s.mountGraphNodes(m)
	get, post := s.metaDialog("Facebook", "user", func(login string) string {
		mm := s.lockMeta()
		defer mm.unlock()
		if u := mm.logins[strings.ToLower(login)]; u != nil {
			return u.id
		}
		return ""
	})
	m.HandleFunc("GET /facebook/{version}/dialog/oauth", get)
	m.HandleFunc("POST /facebook/{version}/dialog/oauth", post)
	m.HandleFunc("GET /graph/{version}/oauth/access_token", s.fbAccessToken)
	m.HandleFunc("POST /graph/{version}/oauth/access_token", s.fbAccessToken)
	m.Handle("GET /graph/{version}/me", s.metaAPI(nil, s.graphMe))
	m.Handle("GET /graph/{version}/me/accounts", s.metaAPI([]string{"pages_show_list"}, s.fbAccounts))
	m.Handle("POST /graph/{version}/{id}/feed", s.metaAPI([]string{"pages_manage_posts"}, s.fbFeed))
	m.Handle("POST /graph/{version}/{id}/photos", s.metaAPI([]string{"pages_manage_posts"}, s.fbPhotos))
	m.Handle("POST /graph/{version}/{id}/videos", s.metaAPI([]string{"pages_manage_posts"}, s.fbVideos))
	m.HandleFunc("POST /_simnet/facebook/accounts", s.controlFacebookAccount)
	// Meta apps serve Facebook, Instagram and Threads alike.
	m.HandleFunc("POST /_simnet/meta/apps", s.controlMetaApps)
	m.HandleFunc("GET /_simnet/facebook/posts", func(w http.ResponseWriter, _ *http.Request) {
		all := s.FacebookPosts()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
	})
}

// mountGraphNodes registers the endpoints Facebook and Instagram share on
// graph.facebook.com (reading and deleting a node, commenting on it), once
// whichever network mounts first.
func (s *Server) mountGraphNodes(m *http.ServeMux) {
	s.meta.nodesOnce.Do(func() {
		m.Handle("GET /graph/{version}/{id}", s.metaAPI(nil, s.graphNode))
		m.Handle("DELETE /graph/{version}/{id}", s.metaAPI(nil, s.graphDelete))
		m.Handle("POST /graph/{version}/{id}/comments", s.metaAPI(nil, s.graphComment))
	})
}

// fbAccessToken handles /oauth/access_token: a code exchange (a
// short-lived user token) or grant_type=fb_exchange_token (a long-lived
// one, 60 days).
func (s *Server) fbAccessToken(w http.ResponseWriter, r *http.Request) {
	v, err := metaParams(w, r)
	if err != nil {
		badParam(w, "the request could not be read")
		return
	}
	if v.Get("grant_type") == "fb_exchange_token" {
		if !s.appBySecret(v) {
			graphError(w, http.StatusBadRequest, 1, 0, "OAuthException", "Error validating client secret.")
			return
		}
		m := s.lockMeta()
		defer m.unlock()
		old := m.tokens[v.Get("fb_exchange_token")]
		if old == nil || old.revoked || old.kind != "user" || (!old.expires.IsZero() && !s.now().Before(old.expires)) {
			graphError(w, http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token.")
			return
		}
		t := s.newMetaToken(m, "user", old.subject, strings.Join(keys(old.scopes), ","), metaLongTokenTTL)
		writeJSON(w, http.StatusOK, metaTokenJSON(t, s.now()))
		return
	}
	c := s.redeemCode(w, v, "user")
	if c == nil {
		return
	}
	m := s.lockMeta()
	t := s.newMetaToken(m, "user", c.subject, c.scope, metaShortTokenTTL)
	m.unlock()
	writeJSON(w, http.StatusOK, metaTokenJSON(t, s.now()))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// graphMe is GET /me: the user, or the page of a page token.
func (s *Server) graphMe(w http.ResponseWriter, _ *http.Request, t *metaToken, _ url.Values) {
	m := s.lockMeta()
	defer m.unlock()
	switch t.kind {
	case "page":
		p := m.pages[t.subject]
		writeJSON(w, http.StatusOK, map[string]string{"id": p.id, "name": p.name})
	case "user":
		u := m.users[t.subject]
		writeJSON(w, http.StatusOK, map[string]string{"id": u.id, "name": u.name})
	default:
		badParam(w, "Unsupported token")
	}
}

// fbAccounts is GET /me/accounts: the user's pages with page tokens (a
// page token made from a long-lived user token never expires).
func (s *Server) fbAccounts(w http.ResponseWriter, _ *http.Request, t *metaToken, _ url.Values) {
	if t.kind != "user" {
		badParam(w, "Tried accessing nonexisting field (accounts) on node type (Page)")
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	ttl := time.Duration(0)
	if !t.expires.IsZero() && t.expires.Sub(s.now()) < 24*time.Hour {
		ttl = t.expires.Sub(s.now())
	}
	data := []map[string]any{}
	for _, p := range m.users[t.subject].pages {
		pt := s.newMetaToken(m, "page", p.id, strings.Join(keys(t.scopes), ","), ttl)
		e := map[string]any{"id": p.id, "name": p.name, "access_token": pt.value, "tasks": []string{"ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MODERATE", "MANAGE"}}
		if p.ig != nil {
			e["instagram_business_account"] = map[string]string{"id": p.ig.id, "username": p.ig.username}
		}
		data = append(data, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": map[string]any{"cursors": map[string]string{"before": "", "after": ""}}})
}

// pageFor checks that a page token acts for the page in the path.
func (s *Server) pageFor(w http.ResponseWriter, r *http.Request, t *metaToken) *fbPage {
	m := s.lockMeta()
	p := m.pages[r.PathValue("id")]
	m.unlock()
	switch {
	case p == nil:
		graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported post request. Object with ID '"+r.PathValue("id")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return nil
	case t.kind != "page" || t.subject != p.id:
		graphError(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission")
		return nil
	}
	return p
}

// fbFeed is POST /{page-id}/feed: message, link, attached_media[i].
func (s *Server) fbFeed(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	p := s.pageFor(w, r, t)
	if p == nil {
		return
	}
	msg, link := v.Get("message"), v.Get("link")
	var photos []string
	for i := 0; ; i++ {
		raw := v.Get("attached_media[" + strconv.Itoa(i) + "]")
		if raw == "" {
			break
		}
		var a struct {
			MediaFBID string `json:"media_fbid"`
		}
		if json.Unmarshal([]byte(raw), &a) != nil || a.MediaFBID == "" {
			badParam(w, "Param attached_media["+strconv.Itoa(i)+"] must be a JSON object with media_fbid")
			return
		}
		photos = append(photos, a.MediaFBID)
	}
	if strings.TrimSpace(msg) == "" && link == "" && len(photos) == 0 {
		badParam(w, "The parameter message or link is required")
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	for _, id := range photos {
		ph := m.fbPhotos[id]
		if ph == nil || ph.pageID != p.id || ph.published || ph.attached {
			graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Param attached_media["+id+"] is not an unpublished photo of this page")
			return
		}
	}
	if s.fbDuplicateLocked(m, p.id, msg) {
		graphError(w, http.StatusBadRequest, 506, 0, "OAuthException", "(#506) Duplicate status message")
		return
	}
	for _, id := range photos {
		m.fbPhotos[id].attached = true
	}
	post := s.fbNewPostLocked(m, p.id, msg, link, photos)
	writeJSON(w, http.StatusOK, map[string]string{"id": post.ID})
}

// fbDuplicateLocked: Facebook refuses the same text as the page's latest
// post.
func (s *Server) fbDuplicateLocked(m *metaNet, pageID, msg string) bool {
	if strings.TrimSpace(msg) == "" {
		return false
	}
	for i := len(m.fbOrder) - 1; i >= 0; i-- {
		if p := m.fbOrder[i]; p.PageID == pageID && !p.deleted {
			return p.Message == msg
		}
	}
	return false
}

func (s *Server) fbNewPostLocked(m *metaNet, pageID, msg, link string, photos []string) *fbPost {
	post := &fbPost{FacebookPost: FacebookPost{ID: pageID + "_" + s.nextID(), PageID: pageID, Message: msg, Link: link, PhotoIDs: photos, CreatedAt: s.now()}}
	m.fbPosts[post.ID] = post
	m.fbOrder = append(m.fbOrder, post)
	s.stats.statuses.Add(1)
	return post
}

// readPhoto takes a photo from a multipart "source" part or downloads
// "url"; it writes Facebook's error and returns false when neither works.
func (s *Server) readPhoto(w http.ResponseWriter, r *http.Request, v url.Values, required bool) (mimeType string, size int64, ok bool) {
	if r.MultipartForm != nil && len(r.MultipartForm.File["source"]) > 0 {
		fh := r.MultipartForm.File["source"][0]
		f, err := fh.Open()
		if err != nil {
			badParam(w, "the photo could not be read")
			return "", 0, false
		}
		defer f.Close()
		b, _ := io.ReadAll(io.LimitReader(f, metaMaxFacebookPhotoBytes+1))
		if int64(len(b)) > metaMaxFacebookPhotoBytes {
			graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The photo is larger than "+megabytes(metaMaxFacebookPhotoBytes))
			return "", 0, false
		}
		mimeType, size = http.DetectContentType(b), int64(len(b))
	} else if u := v.Get("url"); u != "" {
		mt, n, problem := fetchMedia(r.Context(), u, metaMaxFacebookPhotoBytes)
		if problem != "" {
			graphError(w, http.StatusBadRequest, 324, 0, "OAuthException", "(#324) Missing or invalid image file: "+problem)
			return "", 0, false
		}
		mimeType, size = mt, n
	} else {
		if required {
			graphError(w, http.StatusBadRequest, 324, 0, "OAuthException", "(#324) Requires upload file")
			return "", 0, false
		}
		return "", 0, true
	}
	if !strings.HasPrefix(mimeType, "image/") {
		graphError(w, http.StatusBadRequest, 324, 0, "OAuthException", "(#324) Missing or invalid image file")
		return "", 0, false
	}
	return mimeType, size, true
}

// fbPhotos is POST /{page-id}/photos: a published photo post (message
// as its caption), or with published=false a photo to attach to a post.
func (s *Server) fbPhotos(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	p := s.pageFor(w, r, t)
	if p == nil {
		return
	}
	mt, size, ok := s.readPhoto(w, r, v, true)
	if !ok {
		return
	}
	published := v.Get("published") != "false"
	m := s.lockMeta()
	defer m.unlock()
	ph := &fbPhoto{id: s.nextID(), pageID: p.id, published: published, mimeType: mt, size: size}
	m.fbPhotos[ph.id] = ph
	if !published {
		writeJSON(w, http.StatusOK, map[string]string{"id": ph.id})
		return
	}
	msg := v.Get("message")
	if msg == "" {
		msg = v.Get("caption")
	}
	post := s.fbNewPostLocked(m, p.id, msg, "", []string{ph.id})
	writeJSON(w, http.StatusOK, map[string]string{"id": ph.id, "post_id": post.ID})
}

// graphNode is GET /{id}: a post, a page, an Instagram account, container
// or media.
func (s *Server) graphNode(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	id := r.PathValue("id")
	m := s.lockMeta()
	fp, pg, ig, c, md := m.fbPosts[id], m.pages[id], m.igUsers[id], m.igContainers[id], m.igMedia[id]
	m.unlock()
	// Instagram nodes count against the Instagram account's budget.
	switch {
	case ig != nil && !s.instagramBudget(w, ig.id),
		c != nil && !s.instagramBudget(w, c.igID),
		md != nil && !s.instagramBudget(w, md.IGUserID):
		return
	}
	m = s.lockMeta()
	defer m.unlock()
	switch {
	case fp != nil && !fp.deleted && fp.VideoID != "":
		writeJSON(w, http.StatusOK, map[string]any{"id": fp.ID, "description": fp.Message, "status": s.fbVideoStatusLocked(m, fp), "permalink_url": "/" + fp.PageID + "/videos/" + fp.ID})
	case fp != nil && !fp.deleted:
		writeJSON(w, http.StatusOK, map[string]any{"id": fp.ID, "message": fp.Message, "created_time": fp.CreatedAt.UTC().Format("2006-01-02T15:04:05-0700"), "permalink_url": "https://www.facebook.com/" + fp.ID})
	case pg != nil:
		writeJSON(w, http.StatusOK, map[string]string{"id": pg.id, "name": pg.name})
	case ig != nil:
		writeJSON(w, http.StatusOK, map[string]string{"id": ig.id, "username": ig.username, "name": ig.username})
	case c != nil:
		code, status := s.igStatusLocked(m, c)
		writeJSON(w, http.StatusOK, map[string]string{"id": c.id, "status_code": code, "status": status})
	case md != nil:
		writeJSON(w, http.StatusOK, map[string]string{"id": md.ID, "caption": md.Caption, "media_type": md.MediaType, "permalink": md.Permalink, "timestamp": md.CreatedAt.UTC().Format("2006-01-02T15:04:05-0700")})
	default:
		graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported get request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
	}
}

// graphDelete is DELETE /{post-id}, for a page's own posts.
func (s *Server) graphDelete(w http.ResponseWriter, r *http.Request, t *metaToken, _ url.Values) {
	id := r.PathValue("id")
	m := s.lockMeta()
	defer m.unlock()
	p := m.fbPosts[id]
	if p == nil || p.deleted {
		graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported delete request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return
	}
	if t.kind != "page" || t.subject != p.PageID {
		graphError(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) Permissions error")
		return
	}
	p.deleted = true
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// graphComment is POST /{object-id}/comments on a Facebook post (as the
// page) or an Instagram media (as the account).
func (s *Server) graphComment(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	id := r.PathValue("id")
	m := s.lockMeta()
	fp, md := m.fbPosts[id], m.igMedia[id]
	m.unlock()
	msg := v.Get("message")
	if fp != nil && fp.VideoID != "" {
		m := s.lockMeta()
		st := s.fbVideoStatusLocked(m, fp)
		m.unlock()
		if st["video_status"] != "ready" {
			graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The video is not ready: it is still processing, or its processing failed")
			return
		}
	}
	switch {
	case fp != nil && !fp.deleted:
		if t.kind != "page" || t.subject != fp.PageID || !t.scopes["pages_manage_posts"] {
			graphError(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) Permissions error")
			return
		}
		_, size, ok := s.readPhoto(w, r, url.Values{"url": {v.Get("attachment_url")}}, false)
		if !ok {
			return
		}
		if strings.TrimSpace(msg) == "" && size == 0 {
			badParam(w, "Comment must include a message or an attachment")
			return
		}
		m := s.lockMeta()
		c := FacebookComment{ID: fp.ID + "_" + s.nextID(), FromID: fp.PageID, Message: msg, HasImage: size > 0}
		fp.Comments = append(fp.Comments, c)
		m.unlock()
		writeJSON(w, http.StatusOK, map[string]string{"id": c.ID})
	case md != nil:
		s.igComment(w, t, md, msg)
	default:
		graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", "Unsupported post request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
	}
}

// controlFacebookAccount handles POST /_simnet/facebook/accounts
// {"name": "Acme"}: a page with its tokens.
func (s *Server) controlFacebookAccount(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	name := strings.TrimSpace(v.Get("name"))
	if err != nil || name == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "name must not be empty", "fields": map[string]string{"name": "must not be empty"}})
		return
	}
	writeJSON(w, http.StatusOK, s.CreateFacebookPage(name))
}

// metaMaxFacebookVideoBytes is the largest video a page takes in one
// (non-resumable) upload or by file_url: 1 GB. Its length limit (20 min
// that way) is not simulated: simnet does not decode videos.
const metaMaxFacebookVideoBytes = 1 << 30

// fbVideos is POST /{page-id}/videos: a video post from a multipart
// "source" or a "file_url" Facebook downloads, with its description. The
// video is processed in the background (MetaOptions.VideoProcessing) and
// becomes the page's post once ready; GET /{video-id}?fields=status says
// how far it is.
func (s *Server) fbVideos(w http.ResponseWriter, r *http.Request, t *metaToken, v url.Values) {
	p := s.pageFor(w, r, t)
	if p == nil {
		return
	}
	var (
		mt      string
		size    int64
		problem string
	)
	switch {
	case r.MultipartForm != nil && len(r.MultipartForm.File["source"]) > 0:
		f, err := r.MultipartForm.File["source"][0].Open()
		if err != nil {
			badParam(w, "the video could not be read")
			return
		}
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		rest, _ := io.Copy(io.Discard, f)
		f.Close()
		mt, size = sniffMedia(head[:n]), int64(n)+rest
	case v.Get("file_url") != "":
		mt, size, problem = fetchMedia(r.Context(), v.Get("file_url"), metaMaxFacebookVideoBytes)
		if problem != "" {
			graphError(w, http.StatusBadRequest, 389, 0, "OAuthException", "(#389) Unable to fetch video file from URL: "+problem)
			return
		}
	default:
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Requires source or file_url")
		return
	}
	if size > metaMaxFacebookVideoBytes {
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The video is larger than "+megabytes(metaMaxFacebookVideoBytes))
		return
	}
	m := s.lockMeta()
	defer m.unlock()
	now := s.now()
	id := s.nextID()
	post := &fbPost{FacebookPost: FacebookPost{ID: id, PageID: p.id, Message: v.Get("description"), VideoID: id, CreatedAt: now},
		ready: now.Add(m.opts.videoProcessing())}
	if mt != "video/mp4" && mt != "video/quicktime" {
		// Facebook takes the upload and fails it while processing.
		post.problem = "The video file you selected is in a format that we don't support."
	}
	m.fbPosts[post.ID] = post
	m.fbOrder = append(m.fbOrder, post)
	s.stats.statuses.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// fbVideoStatusLocked is a video's status field: processing, then ready,
// or error.
func (s *Server) fbVideoStatusLocked(_ *metaNet, p *fbPost) map[string]any {
	switch {
	case s.now().Before(p.ready):
		return map[string]any{"video_status": "processing", "processing_progress": 50}
	case p.problem != "":
		return map[string]any{"video_status": "error", "error": map[string]string{"message": p.problem}}
	}
	return map[string]any{"video_status": "ready", "processing_progress": 100}
}
