package simnet

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/provider/x/xtext"
)

// X simulates the parts of X API v2 that Herald uses, under /x/: posts
// (POST and DELETE /x/2/tweets, a user's recent posts), GET /x/2/users/me,
// the v2 media upload (initialize, append, finalize, status) with alt text
// (POST /x/2/media/metadata), and OAuth 2.0 with PKCE (GET
// /x/i/oauth2/authorize, POST /x/2/oauth2/token) whose access tokens last
// two hours and whose refresh tokens rotate. Every authenticated answer
// carries x-rate-limit-limit, -remaining and -reset (epoch seconds), per
// user and endpoint, and a spent budget answers 429. Errors have X's
// problem shape ({"title", "detail", "type", "status"}).
type X struct {
	s     *Server
	oauth *oauthNet

	mu              sync.Mutex
	tweets          map[string]*xTweet
	order           []*xTweet
	media           map[string]*xMedia
	limits          map[string]*bucket // by user id and endpoint
	postLimit       int
	limitWindow     time.Duration
	processing      time.Duration
	videoProcessing time.Duration
}

// X's numbers that simnet reproduces.
const (
	XAccessTokenTTL   = 2 * time.Hour
	XDefaultPostLimit = 100 // per user per 15 minutes on POST /2/tweets
	xOtherLimit       = 900
	xLimitWindow      = 15 * time.Minute
	xMaxMediaBytes    = 5 << 20
	xMaxGIFBytes      = 15 << 20
	xMaxVideoBytes    = 512 << 20
	xMaxAltText       = 1000
	xDuplicateWindow  = 24 * time.Hour
	xScopes           = "tweet.read tweet.write users.read media.write offline.access"
)

// XPost is a post as simnet's control endpoint lists it.
type XPost struct {
	ID       string `json:"id"`
	AuthorID string `json:"author_id"`
	Username string `json:"username"`
	Text     string `json:"text"`
	// Shown is the text as X's API returns it: links rewritten to t.co
	// and &, < and > escaped.
	Shown     string    `json:"shown"`
	MediaIDs  []string  `json:"media_ids,omitempty"`
	AltTexts  []string  `json:"alt_texts,omitempty"`
	ReplyTo   string    `json:"in_reply_to_tweet_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Deleted   bool      `json:"deleted,omitempty"`
}

type xTweet struct {
	XPost
}

type xMedia struct {
	id, owner, mediaType, category string
	total, received                int64
	segments                       map[int]bool
	finalized                      bool
	finalizedAt                    time.Time
	altText                        string
	// polled: a STATUS was asked after finalizing (a video's processing
	// is reported there, and a post naming it before is refused).
	polled bool
}

func (s *Server) mountX(m *http.ServeMux) {
	x := &X{
		s:           s,
		oauth:       newOAuthNet(s.now, s.nextID, "x", xScopes),
		tweets:      map[string]*xTweet{},
		media:       map[string]*xMedia{},
		limits:      map[string]*bucket{},
		postLimit:   XDefaultPostLimit,
		limitWindow: xLimitWindow,
	}
	x.oauth.requirePKCE = true
	x.oauth.rotate = true
	x.oauth.accessTTL = XAccessTokenTTL
	x.oauth.refreshScope = "offline.access"
	s.x = x

	m.HandleFunc("GET /x/i/oauth2/authorize", x.oauth.authorize)
	m.HandleFunc("POST /x/2/oauth2/token", x.oauth.token)
	m.Handle("GET /x/2/users/me", x.api("users.read", "users/me", x.me))
	m.Handle("GET /x/2/users/{id}/tweets", x.api("tweet.read", "users/tweets", x.userTweets))
	m.Handle("POST /x/2/tweets", x.api("tweet.write", "tweets", x.createTweet))
	m.Handle("DELETE /x/2/tweets/{id}", x.api("tweet.write", "tweets/delete", x.deleteTweet))
	m.Handle("POST /x/2/media/upload/initialize", x.api("media.write", "media", x.mediaInit))
	m.Handle("POST /x/2/media/upload/{id}/append", x.api("media.write", "media", x.mediaAppend))
	m.Handle("POST /x/2/media/upload/{id}/finalize", x.api("media.write", "media", x.mediaFinalize))
	m.Handle("GET /x/2/media/upload", x.api("media.write", "media/status", x.mediaStatus))
	m.Handle("POST /x/2/media/metadata", x.api("media.write", "media/metadata", x.mediaMetadata))

	m.HandleFunc("POST /_simnet/x/accounts", x.controlAccounts)
	m.HandleFunc("POST /_simnet/x/clients", func(w http.ResponseWriter, r *http.Request) { controlClients(w, r, x.oauth) })
	m.HandleFunc("GET /_simnet/x/posts", func(w http.ResponseWriter, _ *http.Request) {
		all := x.Posts()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "refreshes": x.Refreshes(), "posts": all})
	})
}

// X returns the simulated X.
func (s *Server) X() *X { return s.x }

// AddClient registers an OAuth client (an "app" in X's developer portal);
// an empty secret makes it a public client.
func (x *X) AddClient(id, secret string) { x.oauth.addClient(id, secret) }

// CreateAccount creates a user (or finds it) and issues it an access token
// (two hours) and a refresh token for the client clientID (which may be
// unregistered when the refresh token is not used), with all of Herald's
// scopes. It panics on an invalid username, like Server.CreateAccount.
func (x *X) CreateAccount(username, clientID string) Grant {
	if msg := validUsername(username); msg != "" {
		panic("simnet: X.CreateAccount: username " + msg)
	}
	return x.oauth.createUser(username, clientID)
}

// Refreshes counts refresh_token grants served.
func (x *X) Refreshes() int64 { return x.oauth.refreshes.Load() }

// ExpireAccessTokens makes every access token issued so far expired, as
// two hours passing would.
func (x *X) ExpireAccessTokens() { x.oauth.expireAccessTokens() }

// RevokeRefreshTokens forgets every refresh token, as a user revoking the
// app does.
func (x *X) RevokeRefreshTokens() { x.oauth.revokeRefreshTokens() }

// SetPostLimit sets the per-user budget of POST /2/tweets per window
// (default 100 per 15 minutes).
func (x *X) SetPostLimit(limit int, window time.Duration) {
	x.mu.Lock()
	x.postLimit, x.limitWindow = limit, window
	clear(x.limits)
	x.mu.Unlock()
}

// SetVideoProcessing sets how long a finalized video takes to process
// (default 0: ready at its first STATUS). Videos always report
// processing_info, "pending" when finalized, as X's do: media_category
// tweet_video is processed asynchronously.
func (x *X) SetVideoProcessing(d time.Duration) {
	x.mu.Lock()
	x.videoProcessing = d
	x.mu.Unlock()
}

// SetMediaProcessing makes finalized uploads report processing_info
// ("in_progress" until d after their finalization, then "succeeded");
// the setting applies to uploads already finalized too.
func (x *X) SetMediaProcessing(d time.Duration) {
	x.mu.Lock()
	x.processing = d
	x.mu.Unlock()
}

// Posts lists the posts made so far, oldest first, deleted ones marked.
func (x *X) Posts() []XPost {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]XPost, 0, len(x.order))
	for _, t := range x.order {
		out = append(out, t.XPost)
	}
	return out
}

// xProblem answers with X's problem body.
func xProblem(w http.ResponseWriter, status int, title, detail string) {
	typ := "about:blank"
	if status == http.StatusBadRequest {
		typ = "https://api.twitter.com/2/problems/invalid-request"
	}
	writeJSON(w, status, map[string]any{"title": title, "detail": detail, "type": typ, "status": status})
}

type xHandler func(w http.ResponseWriter, r *http.Request, t *netToken)

// api wraps an endpoint with bearer authentication, the scope check and
// the per-user, per-endpoint rate limit and its headers.
func (x *X) api(scope, endpoint string, h xHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, problem := x.oauth.authenticate(r)
		if t == nil {
			xProblem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized: "+problem)
			return
		}
		limit := xOtherLimit
		x.mu.Lock()
		window := x.limitWindow
		if endpoint == "tweets" {
			limit = x.postLimit
		}
		b := x.limits[t.user.id+" "+endpoint]
		if b == nil {
			b = &bucket{}
			x.limits[t.user.id+" "+endpoint] = b
		}
		x.mu.Unlock()
		remaining, reset, ok := b.take(x.s.now(), limit, window)
		hd := w.Header()
		hd.Set("x-rate-limit-limit", strconv.Itoa(limit))
		hd.Set("x-rate-limit-remaining", strconv.Itoa(remaining))
		hd.Set("x-rate-limit-reset", strconv.FormatInt(reset.Unix(), 10))
		if !ok {
			x.s.stats.rateLimited.Add(1)
			xProblem(w, http.StatusTooManyRequests, "Too Many Requests", "Too Many Requests")
			return
		}
		if !t.has(scope) {
			xProblem(w, http.StatusForbidden, "Forbidden", "Missing scope "+scope)
			return
		}
		h(w, r, t)
	})
}

func (x *X) me(w http.ResponseWriter, _ *http.Request, t *netToken) {
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]string{"id": t.user.id, "name": t.user.name, "username": t.user.username}})
}

// userTweets handles GET /2/users/:id/tweets, newest first, with
// max_results (5 to 100, default 10) and start_time.
func (x *X) userTweets(w http.ResponseWriter, r *http.Request, _ *netToken) {
	q := r.URL.Query()
	maxResults := 10
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 100 {
			xProblem(w, http.StatusBadRequest, "Invalid Request", "max_results must be between 5 and 100")
			return
		}
		maxResults = n
	}
	var since time.Time
	if v := q.Get("start_time"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			xProblem(w, http.StatusBadRequest, "Invalid Request", "start_time must be RFC 3339")
			return
		}
		since = t
	}
	id := r.PathValue("id")
	x.mu.Lock()
	data := []map[string]any{}
	for i := len(x.order) - 1; i >= 0 && len(data) < maxResults; i-- {
		t := x.order[i]
		if t.AuthorID != id || t.Deleted || t.CreatedAt.Before(since) {
			continue
		}
		data = append(data, map[string]any{"id": t.ID, "text": t.Shown, "created_at": t.CreatedAt.UTC().Format(time.RFC3339)})
	}
	x.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]int{"result_count": len(data)}})
}

type xCreateTweet struct {
	Text  string `json:"text"`
	Media *struct {
		MediaIDs []string `json:"media_ids"`
	} `json:"media"`
	Reply *struct {
		InReplyToTweetID string `json:"in_reply_to_tweet_id"`
	} `json:"reply"`
}

func (x *X) createTweet(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req xCreateTweet
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid: "+err.Error())
		return
	}
	var mediaIDs []string
	if req.Media != nil {
		mediaIDs = req.Media.MediaIDs
	}
	if strings.TrimSpace(req.Text) == "" && len(mediaIDs) == 0 {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "The `text` field is required when no media is attached.")
		return
	}
	if n := xtext.Count(req.Text); n > xtext.MaxWeightedLength {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "Tweet text is too long: it weighs "+strconv.Itoa(n)+" of 280.")
		return
	}
	if len(mediaIDs) > 4 {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "A Tweet may have at most 4 media.")
		return
	}
	now := x.s.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	var alts []string
	for _, id := range mediaIDs {
		m := x.media[id]
		if m == nil || m.owner != t.user.id || !m.finalized || now.Before(x.readyAt(m)) || (xVideo(m.mediaType) && !m.polled) {
			xProblem(w, http.StatusBadRequest, "Invalid Request", "Your media IDs are invalid.")
			return
		}
		if xVideo(m.mediaType) && len(mediaIDs) > 1 {
			xProblem(w, http.StatusBadRequest, "Invalid Request", "A Tweet may have either up to 4 photos, or 1 GIF, or 1 video.")
			return
		}
		alts = append(alts, m.altText)
	}
	replyTo := ""
	if req.Reply != nil {
		replyTo = req.Reply.InReplyToTweetID
		if p := x.tweets[replyTo]; p == nil || p.Deleted {
			xProblem(w, http.StatusForbidden, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you.")
			return
		}
	}
	for i := len(x.order) - 1; i >= 0; i-- {
		p := x.order[i]
		if now.Sub(p.CreatedAt) > xDuplicateWindow {
			break
		}
		if p.AuthorID == t.user.id && !p.Deleted && p.Text == req.Text && req.Text != "" {
			x.s.stats.duplicates.Add(1)
			xProblem(w, http.StatusForbidden, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
			return
		}
	}
	tw := &xTweet{XPost{ID: x.oauth.nextID(), AuthorID: t.user.id, Username: t.user.username, Text: req.Text, Shown: xShown(req.Text), MediaIDs: slices.Clone(mediaIDs), AltTexts: alts, ReplyTo: replyTo, CreatedAt: now}}
	x.tweets[tw.ID] = tw
	x.order = append(x.order, tw)
	x.s.stats.statuses.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": tw.ID, "text": tw.Shown, "edit_history_tweet_ids": []string{tw.ID}}})
}

func (x *X) deleteTweet(w http.ResponseWriter, r *http.Request, t *netToken) {
	x.mu.Lock()
	defer x.mu.Unlock()
	tw := x.tweets[r.PathValue("id")]
	switch {
	case tw == nil || tw.Deleted:
		xProblem(w, http.StatusNotFound, "Not Found Error", "Could not find tweet with id: ["+r.PathValue("id")+"].")
	case tw.AuthorID != t.user.id:
		xProblem(w, http.StatusForbidden, "Forbidden", "You are not allowed to delete a Tweet that is not yours.")
	default:
		tw.Deleted = true
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]bool{"deleted": true}})
	}
}

var xLinkRE = regexp.MustCompile(`(?i)https?://\S+`)

// xShown is text as X's API shows it.
func xShown(text string) string {
	text = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
	return xLinkRE.ReplaceAllStringFunc(text, func(string) string { return "https://t.co/" + randomToken()[:10] })
}

var xMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/quicktime"}

func xVideo(mediaType string) bool { return strings.HasPrefix(mediaType, "video/") }

func (x *X) mediaInit(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req struct {
		MediaType     string `json:"media_type"`
		TotalBytes    int64  `json:"total_bytes"`
		MediaCategory string `json:"media_category"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&req); err != nil {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "the body must be JSON: "+err.Error())
		return
	}
	switch {
	case !slices.Contains(xMediaTypes, req.MediaType):
		xProblem(w, http.StatusBadRequest, "Invalid Request", "media_type "+strconv.Quote(req.MediaType)+" is not supported")
		return
	case xVideo(req.MediaType) && req.MediaCategory != "tweet_video" && req.MediaCategory != "amplify_video":
		xProblem(w, http.StatusBadRequest, "Invalid Request", "a video needs media_category tweet_video")
		return
	case xVideo(req.MediaType) && (req.TotalBytes <= 0 || req.TotalBytes > xMaxVideoBytes):
		xProblem(w, http.StatusBadRequest, "Invalid Request", "total_bytes must be between 1 and 536870912 for videos")
		return
	case req.MediaType == "image/gif" && req.MediaCategory != "tweet_gif" && req.TotalBytes > xMaxMediaBytes:
		xProblem(w, http.StatusBadRequest, "Invalid Request", "a GIF over 5 MB needs media_category tweet_gif")
		return
	case xVideo(req.MediaType):
	case req.TotalBytes <= 0 || req.TotalBytes > xMaxGIFBytes || (req.MediaType != "image/gif" && req.TotalBytes > xMaxMediaBytes):
		xProblem(w, http.StatusBadRequest, "Invalid Request", "total_bytes must be between 1 and 5242880 for images (15728640 for GIFs)")
		return
	}
	m := &xMedia{id: x.oauth.nextID(), owner: t.user.id, mediaType: req.MediaType, category: req.MediaCategory, total: req.TotalBytes, segments: map[int]bool{}}
	x.mu.Lock()
	x.media[m.id] = m
	x.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": m.id, "media_key": "3_" + m.id, "expires_after_secs": 86400}})
}

func (x *X) ownMedia(w http.ResponseWriter, id string, t *netToken) *xMedia {
	m := x.media[id]
	if m == nil || m.owner != t.user.id {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "Your media ID is invalid.")
		return nil
	}
	return m
}

func (x *X) mediaAppend(w http.ResponseWriter, r *http.Request, t *netToken) {
	r.Body = http.MaxBytesReader(w, r.Body, xMaxGIFBytes+1<<20)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "the body must be multipart/form-data")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "malformed multipart body")
		return
	}
	segment, n := -1, int64(-1)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			xProblem(w, http.StatusBadRequest, "Invalid Request", "malformed multipart body")
			return
		}
		switch part.FormName() {
		case "segment_index":
			b, _ := io.ReadAll(io.LimitReader(part, 16))
			segment, err = strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				segment = -2
			}
		case "media":
			n, err = io.Copy(io.Discard, part)
			if err != nil {
				return
			}
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.ownMedia(w, r.PathValue("id"), t)
	switch {
	case m == nil:
	case m.finalized:
		xProblem(w, http.StatusBadRequest, "Invalid Request", "The media was already finalized.")
	case segment < 0 || segment > 999 || n < 0:
		xProblem(w, http.StatusBadRequest, "Invalid Request", "segment_index (0 to 999) and media are required")
	default:
		if !m.segments[segment] {
			m.segments[segment] = true
			m.received += n
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"expires_at": x.s.now().Add(24 * time.Hour).Unix()}})
	}
}

func (x *X) mediaFinalize(w http.ResponseWriter, r *http.Request, t *netToken) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.ownMedia(w, r.PathValue("id"), t)
	if m == nil {
		return
	}
	if m.received != m.total {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "File size mismatch: received "+strconv.FormatInt(m.received, 10)+" of "+strconv.FormatInt(m.total, 10)+" bytes.")
		return
	}
	if !m.finalized {
		m.finalized = true
		m.finalizedAt = x.s.now()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": x.mediaJSON(m)})
}

func (x *X) mediaJSON(m *xMedia) map[string]any {
	d := map[string]any{"id": m.id, "media_key": "3_" + m.id, "size": m.total, "expires_after_secs": 86400}
	if xVideo(m.mediaType) {
		info := map[string]any{"state": "succeeded", "progress_percent": 100}
		switch left := x.readyAt(m).Sub(x.s.now()); {
		case !m.polled:
			// Finalizing answers pending; the first STATUS starts the work.
			info = map[string]any{"state": "pending", "check_after_secs": 1}
		case left > 0:
			info = map[string]any{"state": "in_progress", "check_after_secs": max(1, int(left/time.Second)), "progress_percent": 50}
		}
		d["processing_info"] = info
		return d
	}
	if x.processing > 0 {
		info := map[string]any{"state": "succeeded", "progress_percent": 100}
		if left := x.readyAt(m).Sub(x.s.now()); left > 0 {
			info = map[string]any{"state": "in_progress", "check_after_secs": max(1, int(left/time.Second)), "progress_percent": 50}
		}
		d["processing_info"] = info
	}
	return d
}

// readyAt is when a finalized upload is processed: the processing time in
// force after its finalization. x.mu is held.
func (x *X) readyAt(m *xMedia) time.Time {
	if xVideo(m.mediaType) {
		return m.finalizedAt.Add(max(x.processing, x.videoProcessing))
	}
	return m.finalizedAt.Add(x.processing)
}

func (x *X) mediaStatus(w http.ResponseWriter, r *http.Request, t *netToken) {
	q := r.URL.Query()
	if q.Get("command") != "STATUS" {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "command must be STATUS")
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if m := x.ownMedia(w, q.Get("media_id"), t); m != nil {
		m.polled = m.finalized
		writeJSON(w, http.StatusOK, map[string]any{"data": x.mediaJSON(m)})
	}
}

func (x *X) mediaMetadata(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req struct {
		ID       string `json:"id"`
		Metadata struct {
			AltText *struct {
				Text string `json:"text"`
			} `json:"alt_text"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&req); err != nil {
		xProblem(w, http.StatusBadRequest, "Invalid Request", "the body must be JSON: "+err.Error())
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.ownMedia(w, req.ID, t)
	switch {
	case m == nil:
	case req.Metadata.AltText == nil:
		xProblem(w, http.StatusBadRequest, "Invalid Request", "metadata.alt_text is required")
	case xVideo(m.mediaType):
		xProblem(w, http.StatusBadRequest, "Invalid Request", "alt_text is supported for images and GIFs only")
	case len([]rune(req.Metadata.AltText.Text)) > xMaxAltText:
		xProblem(w, http.StatusBadRequest, "Invalid Request", "alt_text.text must be at most 1000 characters")
	default:
		m.altText = req.Metadata.AltText.Text
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": m.id, "associated_metadata": map[string]any{"alt_text": map[string]string{"text": m.altText}}}})
	}
}

func (x *X) controlAccounts(w http.ResponseWriter, r *http.Request) {
	controlAccounts(w, r, x.oauth)
}
