package simnet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// LinkedIn simulates the parts of LinkedIn's API that Herald uses, under
// /linkedin/: the versioned Posts API (POST /linkedin/rest/posts, DELETE
// /linkedin/rest/posts/{urn}, with the Linkedin-Version and
// X-Restli-Protocol-Version headers required and the new post's URN in
// x-restli-id), comments on posts (POST
// /linkedin/rest/socialActions/{urn}/comments), the Images API
// (initializeUpload, then PUT to the upload URL), OpenID Connect's /linkedin/v2/userinfo, and 3-legged OAuth 2.0
// (GET /linkedin/oauth/v2/authorization, POST
// /linkedin/oauth/v2/accessToken) with 60-day access tokens and refresh
// tokens that a refresh does not replace. PKCE is checked when the
// authorization request carries a challenge. Commentary is read as
// LinkedIn's "little" text: an unescaped reserved character that starts
// no hashtag or mention cuts the post short there, as LinkedIn does.
// Posts are limited per member per UTC day (LinkedIn's 150), answering
// 429 once spent; LinkedIn sends no rate-limit headers.
type LinkedIn struct {
	s     *Server
	oauth *oauthNet

	mu       sync.Mutex
	posts    map[string]*linkedinPost // by URN
	order    []*linkedinPost
	images   map[string]*linkedinImage // by URN
	uploads  map[string]*linkedinImage // by upload token
	videos   map[string]*linkedinVideo // by URN
	orgs     map[string]string         // organization URN -> admin user id
	daily    map[string]*bucket        // by user id
	dayLimit int
	// videoProcessing is how long a finalized video is PROCESSING.
	videoProcessing time.Duration
}

// LinkedIn's numbers that simnet reproduces.
const (
	LinkedInAccessTokenTTL  = 60 * 24 * time.Hour
	LinkedInRefreshTokenTTL = 365 * 24 * time.Hour
	LinkedInDailyPostLimit  = 150
	LinkedInMaxCommentary   = 3000
	LinkedInMaxCommentChars = 1250
	linkedinScopes          = "openid profile email w_member_social"
	// linkedinOldestVersion is the oldest Linkedin-Version still served.
	linkedinOldestVersion = 202505
)

// LinkedInPost is a post as simnet's control endpoint lists it.
type LinkedInPost struct {
	URN        string `json:"urn"`
	Author     string `json:"author"`
	Commentary string `json:"commentary"`
	// Text is the commentary as LinkedIn shows it: unescaped, and cut at
	// the first reserved character that was not escaped.
	Text       string    `json:"text"`
	Truncated  bool      `json:"truncated,omitempty"`
	Images     []string  `json:"images,omitempty"`
	AltTexts   []string  `json:"alt_texts,omitempty"`
	Version    string    `json:"linkedin_version"`
	Visibility string    `json:"visibility"`
	CreatedAt  time.Time `json:"created_at"`
	Deleted    bool      `json:"deleted,omitempty"`
	// Comments are the comments made on the post through socialActions.
	Comments []LinkedInComment `json:"comments,omitempty"`
}

// LinkedInComment is a comment on a post.
type LinkedInComment struct {
	URN   string `json:"urn"`
	Actor string `json:"actor"`
	Text  string `json:"text"`
	Image string `json:"image,omitempty"`
}

type linkedinPost struct{ LinkedInPost }

type linkedinImage struct {
	urn, owner, token string
	size              int64
	uploaded          bool
}

func (s *Server) mountLinkedIn(m *http.ServeMux) {
	li := &LinkedIn{
		s:        s,
		oauth:    newOAuthNet(s.now, s.nextID, "li", linkedinScopes),
		posts:    map[string]*linkedinPost{},
		images:   map[string]*linkedinImage{},
		videos:   map[string]*linkedinVideo{},
		uploads:  map[string]*linkedinImage{},
		orgs:     map[string]string{},
		daily:    map[string]*bucket{},
		dayLimit: LinkedInDailyPostLimit,
	}
	li.oauth.accessTTL = LinkedInAccessTokenTTL
	li.oauth.refreshTTL = LinkedInRefreshTokenTTL
	s.linkedin = li

	m.HandleFunc("GET /linkedin/oauth/v2/authorization", li.oauth.authorize)
	m.HandleFunc("POST /linkedin/oauth/v2/accessToken", li.oauth.token)
	m.Handle("GET /linkedin/v2/userinfo", li.api(false, "openid", li.userinfo))
	m.Handle("POST /linkedin/rest/posts", li.api(true, "w_member_social", li.createPost))
	m.Handle("DELETE /linkedin/rest/posts/{urn}", li.api(true, "w_member_social", li.deletePost))
	m.Handle("POST /linkedin/rest/images", li.api(true, "w_member_social", li.initializeUpload))
	m.Handle("POST /linkedin/rest/socialActions/{urn}/comments", li.api(true, "w_member_social", li.createComment))
	li.mountVideos(m)
	m.Handle("PUT /linkedin/upload/{token}", li.api(false, "w_member_social", li.upload))

	m.HandleFunc("POST /_simnet/linkedin/accounts", func(w http.ResponseWriter, r *http.Request) { controlAccounts(w, r, li.oauth) })
	m.HandleFunc("POST /_simnet/linkedin/clients", func(w http.ResponseWriter, r *http.Request) { controlClients(w, r, li.oauth) })
	m.HandleFunc("GET /_simnet/linkedin/posts", func(w http.ResponseWriter, _ *http.Request) {
		all := li.Posts()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "refreshes": li.Refreshes(), "posts": all})
	})
}

// LinkedIn returns the simulated LinkedIn.
func (s *Server) LinkedIn() *LinkedIn { return s.linkedin }

// AddClient registers an OAuth client (a LinkedIn developer app).
func (li *LinkedIn) AddClient(id, secret string) { li.oauth.addClient(id, secret) }

// CreateAccount creates a member (or finds it) and issues it tokens for
// clientID. The member's URN is "urn:li:person:" + Grant.UserID.
func (li *LinkedIn) CreateAccount(username, clientID string) Grant {
	if msg := validUsername(username); msg != "" {
		panic("simnet: LinkedIn.CreateAccount: username " + msg)
	}
	return li.oauth.createUser(username, clientID)
}

// AddOrganization makes the member with userID an administrator of the
// organization (its URN is returned), so it may post as the organization.
func (li *LinkedIn) AddOrganization(userID string) string {
	urn := "urn:li:organization:" + li.oauth.nextID()
	li.mu.Lock()
	li.orgs[urn] = userID
	li.mu.Unlock()
	return urn
}

// Refreshes counts refresh_token grants served.
func (li *LinkedIn) Refreshes() int64 { return li.oauth.refreshes.Load() }

// ExpireAccessTokens makes every access token issued so far expired.
func (li *LinkedIn) ExpireAccessTokens() { li.oauth.expireAccessTokens() }

// SetDailyPostLimit sets the posts a member may make per UTC day.
func (li *LinkedIn) SetDailyPostLimit(n int) {
	li.mu.Lock()
	li.dayLimit = n
	clear(li.daily)
	li.mu.Unlock()
}

// Posts lists the posts made so far, oldest first.
func (li *LinkedIn) Posts() []LinkedInPost {
	li.mu.Lock()
	defer li.mu.Unlock()
	out := make([]LinkedInPost, 0, len(li.order))
	for _, p := range li.order {
		c := p.LinkedInPost
		c.Comments = slices.Clone(p.Comments)
		out = append(out, c)
	}
	return out
}

// liError answers with LinkedIn's error body.
func liError(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]any{"status": status, "message": msg}
	if code != "" {
		body["code"] = code
	}
	writeJSON(w, status, body)
}

type liHandler func(w http.ResponseWriter, r *http.Request, t *netToken)

var linkedinVersionRE = regexp.MustCompile(`^(\d{6})(\.\d{2})?$`)

// api wraps an endpoint with bearer authentication, the scope check and,
// for the versioned /rest/ API, the version headers.
func (li *LinkedIn) api(versioned bool, scope string, h liHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, problem := li.oauth.authenticate(r)
		if t == nil {
			code := "INVALID_ACCESS_TOKEN"
			if problem == "expired token" {
				code = "EXPIRED_ACCESS_TOKEN"
			}
			liError(w, http.StatusUnauthorized, code, "Invalid access token")
			return
		}
		if versioned {
			v := r.Header.Get("Linkedin-Version")
			m := linkedinVersionRE.FindStringSubmatch(v)
			if m == nil {
				liError(w, http.StatusBadRequest, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.")
				return
			}
			if n, _ := strconv.Atoi(m[1]); n < linkedinOldestVersion {
				liError(w, http.StatusUpgradeRequired, "NONEXISTENT_VERSION", "Requested version "+v+" is not active")
				return
			}
			if r.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
				liError(w, http.StatusBadRequest, "", "X-Restli-Protocol-Version 2.0.0 is required")
				return
			}
		}
		if !t.has(scope) {
			liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to access this resource")
			return
		}
		h(w, r, t)
	})
}

func (li *LinkedIn) userinfo(w http.ResponseWriter, _ *http.Request, t *netToken) {
	if !t.has("profile") {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to access: userinfo.GET.NO_VERSION")
		return
	}
	u := t.user
	writeJSON(w, http.StatusOK, map[string]any{
		"sub": u.id, "name": u.name, "given_name": u.name, "family_name": "Simnet",
		"locale":  map[string]string{"country": "US", "language": "en"},
		"picture": li.s.opts.BaseURL + "/linkedin/media/" + u.id + ".png",
	})
}

func personURN(u *netUser) string { return "urn:li:person:" + u.id }

// mayPostAs reports whether the member may post as author.
func (li *LinkedIn) mayPostAs(u *netUser, author string) bool {
	return author == personURN(u) || li.orgs[author] == u.id
}

type liMedia struct {
	ID      string `json:"id"`
	AltText string `json:"altText,omitempty"`
	Title   string `json:"title,omitempty"`
}

type liCreatePost struct {
	Author       string `json:"author"`
	Commentary   string `json:"commentary"`
	Visibility   string `json:"visibility"`
	Distribution *struct {
		FeedDistribution               string   `json:"feedDistribution"`
		TargetEntities                 []any    `json:"targetEntities"`
		ThirdPartyDistributionChannels []string `json:"thirdPartyDistributionChannels"`
	} `json:"distribution"`
	Content *struct {
		Media      *liMedia `json:"media"`
		MultiImage *struct {
			Images []liMedia `json:"images"`
		} `json:"multiImage"`
	} `json:"content"`
	LifecycleState            string `json:"lifecycleState"`
	IsReshareDisabledByAuthor bool   `json:"isReshareDisabledByAuthor"`
}

func (li *LinkedIn) createPost(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req liCreatePost
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	var missing []string
	if req.Author == "" {
		missing = append(missing, "ERROR :: /author :: field is required but not found and has no default value")
	}
	if req.Visibility == "" {
		missing = append(missing, "ERROR :: /visibility :: field is required but not found and has no default value")
	}
	if req.Distribution == nil {
		missing = append(missing, "ERROR :: /distribution :: field is required but not found and has no default value")
	}
	if req.LifecycleState == "" {
		missing = append(missing, "ERROR :: /lifecycleState :: field is required but not found and has no default value")
	}
	if len(missing) > 0 {
		liError(w, http.StatusUnprocessableEntity, "", strings.Join(missing, "\n"))
		return
	}
	text, truncated := readLittle(req.Commentary)
	if utf8.RuneCountInString(text) > LinkedInMaxCommentary {
		liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /commentary :: length of commentary exceeds the maximum of 3000 characters")
		return
	}
	var media []liMedia
	if c := req.Content; c != nil {
		if c.Media != nil {
			media = append(media, *c.Media)
		}
		if c.MultiImage != nil {
			if len(c.MultiImage.Images) < 2 || len(c.MultiImage.Images) > 20 {
				liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /content/multiImage/images :: a multi-image post has 2 to 20 images")
				return
			}
			media = append(media, c.MultiImage.Images...)
		}
	}
	now := li.s.now()
	li.mu.Lock()
	defer li.mu.Unlock()
	if !li.mayPostAs(t.user, req.Author) {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal.CREATE."+r.Header.Get("Linkedin-Version"))
		return
	}
	var imgs, alts []string
	for _, m := range media {
		if v := li.videos[m.ID]; v != nil {
			switch {
			case v.owner != req.Author:
				liError(w, http.StatusBadRequest, "", "Video "+m.ID+" does not belong to "+req.Author)
				return
			case len(media) > 1:
				liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /content :: a video post has one video and nothing else")
				return
			case v.status(now) != "AVAILABLE":
				liError(w, http.StatusBadRequest, "", "com.linkedin.content.common.exception.BadRequestResponseException: Video "+m.ID+" is "+v.status(now)+", not AVAILABLE")
				return
			}
			imgs, alts = append(imgs, m.ID), append(alts, "")
			continue
		}
		img := li.images[m.ID]
		if img == nil || img.owner != req.Author || !img.uploaded {
			liError(w, http.StatusBadRequest, "", "com.linkedin.content.common.exception.BadRequestResponseException: Image "+m.ID+" is not uploaded or does not belong to "+req.Author)
			return
		}
		imgs, alts = append(imgs, m.ID), append(alts, m.AltText)
	}
	for _, p := range li.order {
		if p.Author == req.Author && !p.Deleted && p.Commentary == req.Commentary && strings.Join(p.Images, " ") == strings.Join(imgs, " ") {
			li.s.stats.duplicates.Add(1)
			liError(w, http.StatusUnprocessableEntity, "", "Content is a duplicate of "+p.URN)
			return
		}
	}
	b := li.daily[t.user.id]
	if b == nil {
		b = &bucket{}
		li.daily[t.user.id] = b
	}
	if _, _, ok := b.take(now, li.dayLimit, 24*time.Hour); !ok {
		li.s.stats.rateLimited.Add(1)
		liError(w, http.StatusTooManyRequests, "", "Resource level throttle MEMBER DAY limit for calls to this resource is reached.")
		return
	}
	p := &linkedinPost{LinkedInPost{
		URN: "urn:li:share:" + li.oauth.nextID(), Author: req.Author, Commentary: req.Commentary, Text: text, Truncated: truncated,
		Images: imgs, AltTexts: alts, Version: r.Header.Get("Linkedin-Version"), Visibility: req.Visibility, CreatedAt: now,
	}}
	li.posts[p.URN] = p
	li.order = append(li.order, p)
	li.s.stats.statuses.Add(1)
	w.Header().Set("x-restli-id", p.URN)
	w.WriteHeader(http.StatusCreated)
}

// createComment is POST /rest/socialActions/{post-urn}/comments: a comment
// by actor (the member, or an organization they administer) on a post that
// exists, with a text of up to 1,250 characters and at most one uploaded
// image. It answers 201 with the comment, its URN also in x-restli-id.
func (li *LinkedIn) createComment(w http.ResponseWriter, r *http.Request, t *netToken) {
	target, err := url.PathUnescape(r.PathValue("urn"))
	if err != nil {
		liError(w, http.StatusBadRequest, "", "malformed post URN")
		return
	}
	var req struct {
		Actor   string `json:"actor"`
		Object  string `json:"object"`
		Message *struct {
			Text string `json:"text"`
		} `json:"message"`
		Content []struct {
			Entity struct {
				Image string `json:"image"`
			} `json:"entity"`
		} `json:"content"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	switch {
	case req.Actor == "":
		liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /actor :: field is required but not found and has no default value")
		return
	case req.Message == nil || strings.TrimSpace(req.Message.Text) == "":
		liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /message/text :: field is required but not found and has no default value")
		return
	case utf8.RuneCountInString(req.Message.Text) > LinkedInMaxCommentChars:
		liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /message/text :: length exceeds the maximum of 1250 characters")
		return
	case req.Object != "" && req.Object != target:
		liError(w, http.StatusBadRequest, "", "object "+req.Object+" does not match the URN in the path "+target)
		return
	case len(req.Content) > 1:
		liError(w, http.StatusUnprocessableEntity, "", "ERROR :: /content :: a comment takes at most one image")
		return
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	p := li.posts[target]
	switch {
	case !li.mayPostAs(t.user, req.Actor):
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to comment as "+req.Actor)
		return
	case p == nil || p.Deleted:
		liError(w, http.StatusNotFound, "NOT_FOUND", "Post "+target+" does not exist")
		return
	}
	c := LinkedInComment{URN: "urn:li:comment:(" + target + "," + li.oauth.nextID() + ")", Actor: req.Actor, Text: req.Message.Text}
	if len(req.Content) == 1 {
		img := li.images[req.Content[0].Entity.Image]
		if img == nil || img.owner != req.Actor || !img.uploaded {
			liError(w, http.StatusBadRequest, "", "Image "+req.Content[0].Entity.Image+" is not uploaded or does not belong to "+req.Actor)
			return
		}
		c.Image = img.urn
	}
	p.Comments = append(p.Comments, c)
	li.s.stats.statuses.Add(1)
	w.Header().Set("x-restli-id", c.URN)
	writeJSON(w, http.StatusCreated, map[string]any{
		"$URN": c.URN, "id": strings.TrimSuffix(c.URN[strings.LastIndexByte(c.URN, ',')+1:], ")"),
		"actor": c.Actor, "object": target, "message": map[string]string{"text": c.Text},
	})
}

func (li *LinkedIn) deletePost(w http.ResponseWriter, r *http.Request, t *netToken) {
	urn, err := url.PathUnescape(r.PathValue("urn"))
	if err != nil {
		liError(w, http.StatusBadRequest, "", "malformed post URN")
		return
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	p := li.posts[urn]
	switch {
	case p == nil || p.Deleted:
		liError(w, http.StatusNotFound, "NOT_FOUND", "Post "+urn+" does not exist")
	case !li.mayPostAs(t.user, p.Author):
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to delete "+urn)
	default:
		p.Deleted = true
		w.WriteHeader(http.StatusNoContent)
	}
}

func (li *LinkedIn) initializeUpload(w http.ResponseWriter, r *http.Request, t *netToken) {
	if r.URL.Query().Get("action") != "initializeUpload" {
		liError(w, http.StatusBadRequest, "", "action=initializeUpload is required")
		return
	}
	var req struct {
		InitializeUploadRequest struct {
			Owner string `json:"owner"`
		} `json:"initializeUploadRequest"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&req); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	owner := req.InitializeUploadRequest.Owner
	li.mu.Lock()
	defer li.mu.Unlock()
	if !li.mayPostAs(t.user, owner) {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to upload images for "+owner)
		return
	}
	img := &linkedinImage{urn: "urn:li:image:C" + li.oauth.nextID(), owner: owner, token: randomToken()}
	li.images[img.urn] = img
	li.uploads[img.token] = img
	writeJSON(w, http.StatusOK, map[string]any{"value": map[string]any{
		"uploadUrlExpiresAt": li.s.now().Add(24 * time.Hour).UnixMilli(),
		"uploadUrl":          li.s.baseURL(r) + "/linkedin/upload/" + img.token,
		"image":              img.urn,
	}})
}

func (li *LinkedIn) upload(w http.ResponseWriter, r *http.Request, _ *netToken) {
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 36<<20))
	if err != nil {
		liError(w, http.StatusRequestEntityTooLarge, "", "image too large")
		return
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	img := li.uploads[r.PathValue("token")]
	if img == nil {
		liError(w, http.StatusNotFound, "", "unknown upload URL")
		return
	}
	img.size, img.uploaded = n, n > 0
	w.WriteHeader(http.StatusCreated)
}

// littleReserved are the characters LinkedIn's little text format keeps
// for its elements; as plain text they must be escaped with a backslash.
const littleReserved = `\|{}@[]()<>#*_~`

var urlRE = regexp.MustCompile(`^(?i)https?://[^\s]+`)

var mentionRE = regexp.MustCompile(`^@\[[^\]]*\]\(urn:li:(person|organization):[A-Za-z0-9_-]+\)`)

// readLittle reads commentary as LinkedIn shows it: escapes undone,
// hashtags and mentions kept, and the text cut at the first reserved
// character that is neither escaped nor part of one.
func readLittle(s string) (shown string, truncated bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(littleReserved, s[i+1]) >= 0:
			b.WriteByte(s[i+1])
			i += 2
		case (c == 'h' || c == 'H') && urlRE.MatchString(s[i:]) && (i == 0 || !isWordStart(s[i-1:])):
			// A link is taken as it is, so that it still links.
			m := urlRE.FindString(s[i:])
			b.WriteString(m)
			i += len(m)
		case c == '#' && i+1 < len(s) && isWordStart(s[i+1:]):
			b.WriteByte('#')
			i++
		case c == '@' && mentionRE.MatchString(s[i:]):
			m := mentionRE.FindString(s[i:])
			b.WriteString(m)
			i += len(m)
		case strings.IndexByte(littleReserved, c) >= 0:
			return b.String(), true
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), false
}

func isWordStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
