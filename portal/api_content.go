package portal

import (
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

type accountRequest struct {
	Network     string `json:"network"`
	InstanceURL string `json:"instance_url"`
	AccessToken string `json:"access_token"`
	// Fields are a form network's connect values (GET /api/v1/networks
	// lists them): {"bot_token": "...", "chat_id": "@brand"}.
	Fields map[string]string `json:"fields"`
}

// POST /api/v1/workspaces/{id}/accounts {network, instance_url, access_token}
// -> 201 account (never the token)
func (s *Service) apiConnectAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req accountRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	var (
		a   Account
		err error
	)
	if _, form := s.providers[req.Network].(provider.FormConnector); form || req.Fields != nil {
		a, err = s.ConnectWithForm(r.Context(), p, r.PathValue("id"), req.Network, req.Fields)
		err = prefixFields(err, "fields.", "network")
	} else {
		a, err = s.ConnectAccount(r.Context(), p, r.PathValue("id"), AccountInput{Network: req.Network, InstanceURL: req.InstanceURL, AccessToken: req.AccessToken})
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, accountView(a))
}

// appNetworks are the networks connected through OAuth with an app of
// Herald's own, with the configuration keys of the app.
var appNetworks = map[string]string{
	"x":         "networks.x.client_id",
	"linkedin":  "networks.linkedin.client_id",
	"facebook":  "networks.meta.app_id",
	"instagram": "networks.meta.app_id",
	"threads":   "networks.threads.app_id",
}

// GET /api/v1/networks -> {networks: [{network, label, connect, fields}]}:
// the networks this server publishes to and how an account of each
// connects ("form" with its fields, "oauth", or "token").
func (s *Service) apiListNetworks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	type fieldJSON struct {
		Name        string `json:"name"`
		Label       string `json:"label"`
		Help        string `json:"help,omitempty"`
		Placeholder string `json:"placeholder,omitempty"`
		Secret      bool   `json:"secret,omitempty"`
		Optional    bool   `json:"optional,omitempty"`
	}
	type networkJSON struct {
		Network string      `json:"network"`
		Label   string      `json:"label"`
		Connect string      `json:"connect"`
		Fields  []fieldJSON `json:"fields,omitempty"`
		// InstanceURL: the OAuth flow asks which server (Mastodon).
		InstanceURL bool `json:"instance_url,omitempty"`
		// Pick: after the OAuth callback, the user picks pages/accounts.
		Pick bool `json:"pick,omitempty"`
		// OAuthUnavailable says why a network that connects through an
		// app of Herald's own cannot here.
		OAuthUnavailable string `json:"oauth_unavailable,omitempty"`
	}
	out := []networkJSON{}
	for _, name := range slices.Sorted(maps.Keys(s.providers)) {
		n := networkJSON{Network: name, Label: networkLabel(name), Connect: "token"}
		if fc, ok := s.providers[name].(provider.FormConnector); ok {
			n.Connect = "form"
			for _, f := range fc.ConnectFields() {
				n.Fields = append(n.Fields, fieldJSON{f.Name, f.Label, f.Help, f.Placeholder, f.Secret, f.Optional})
			}
		} else if _, ok := s.oauth[name]; ok {
			n.Connect = "oauth"
			n.InstanceURL = true
		} else if _, ok := s.appOAuth[name]; ok {
			n.Connect = "oauth"
			n.Pick = name == "facebook" || name == "instagram"
		} else if appNetworks[name] != "" {
			n.OAuthUnavailable = "Herald's " + networkLabel(name) + " app is not configured on this server (" + appNetworks[name] + "); connect with an access token"
		}
		out = append(out, n)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"networks": out})
}

// GET /api/v1/workspaces/{id}/accounts?limit=N&cursor=C -> {accounts: [...],
// next_cursor}, oldest connected first.
func (s *Service) apiListAccounts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PageAccounts(r.Context(), p, r.PathValue("id"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]accountJSON, 0, len(list))
	for _, a := range list {
		out = append(out, accountView(a))
	}
	return writePage(w, "accounts", out, next)
}

// GET /api/v1/accounts/{id} -> account
func (s *Service) apiGetAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := s.GetAccount(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, accountView(a))
}

// DELETE /api/v1/accounts/{id} -> 204
func (s *Service) apiDeleteAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteAccount(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type oauthRequest struct {
	Network     string `json:"network"`
	InstanceURL string `json:"instance_url"`
}

// POST /api/v1/workspaces/{id}/accounts/oauth {network?, instance_url?}
// -> {authorize_url}; network defaults to mastodon, whose flow needs the
// instance_url (the others connect through Herald's own app).
func (s *Service) apiStartOAuth(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req oauthRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Network == "" {
		req.Network = "mastodon"
	}
	u, err := s.StartOAuth(r.Context(), p, r.PathValue("id"), req.Network, req.InstanceURL)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"authorize_url": u})
}

// GET /oauth/{network}/callback?code=...&state=... -> 303 to the workspace
// page, with ?connected=<account id> or ?oauth_error=<message>.
func (s *Service) oauthCallback(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	res, err := s.FinishOAuth(r.Context(), p, r.PathValue("network"), q.Get("state"), q.Get("code"), q.Get("error"))
	if res.WorkspaceID == "" {
		return err
	}
	target := strings.TrimSuffix(s.cfg.BaseURL, "/") + "/workspaces/" + url.PathEscape(res.WorkspaceID)
	switch {
	case err != nil:
		target += "?oauth_error=" + url.QueryEscape(describe(err))
	case res.Pick != "":
		target += "/accounts/pick?pick=" + url.QueryEscape(res.Pick)
	default:
		target += "?connected=" + url.QueryEscape(res.Account.ID)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// GET /api/v1/oauth/picks/{pick} -> {workspace_id, network, expires_at,
// choices: [{id, name, handle, detail}]}: what a Facebook or Instagram
// grant offers (the callback sends the browser on with ?pick=...). Only
// the session that finished the flow may read it; tokens are never shown.
func (s *Service) apiGetPick(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pk, err := s.GetPick(r.Context(), p, r.PathValue("pick"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pickView(pk))
}

type pickChoiceJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Handle string `json:"handle,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func pickView(pk Pick) map[string]any {
	choices := make([]pickChoiceJSON, 0, len(pk.Choices))
	for _, c := range pk.Choices {
		choices = append(choices, pickChoiceJSON{c.ID, c.Name, c.Handle, c.Detail})
	}
	return map[string]any{"workspace_id": pk.WorkspaceID, "network": pk.Network, "expires_at": pk.ExpiresAt.UTC().Format(time.RFC3339), "choices": choices}
}

// POST /api/v1/oauth/picks/{pick} {ids: [...]} -> 201 {accounts: [...]}:
// connects the chosen pages or accounts, one account each; the pick works
// once.
func (s *Service) apiPickAccounts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	_, list, err := s.PickAccounts(r.Context(), p, r.PathValue("pick"), req.IDs)
	if err != nil {
		return err
	}
	out := make([]accountJSON, 0, len(list))
	for _, a := range list {
		out = append(out, accountView(a))
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"accounts": out})
}

// describe is an error's message with its field messages, for places that
// show one line.
func describe(err error) string {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return errs.PublicMessage(err)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + e.Fields[k]
	}
	return strings.Join(parts, "; ")
}

// POST /api/v1/workspaces/{id}/media multipart: "file", optional
// "description" -> 201 media
func (s *Service) apiUploadMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return &statusError{status: http.StatusUnsupportedMediaType,
			err: errs.E(errs.Invalid, "send the file as multipart/form-data with a \"file\" field")}
	}
	// Small parts stay in memory; the file spills to a temporary file that
	// the server removes after the request.
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(s.cfg.MaxUploadBytes, err)
		}
		return badRequest("", "malformed multipart body: %s", err.Error())
	}
	f, hdr, err := r.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) {
		return errs.Fields{"file": "is required"}.Err()
	}
	if err != nil {
		return badRequest("file", "could not be read: %s", err.Error())
	}
	defer f.Close()
	m, err := s.UploadMedia(r.Context(), p, r.PathValue("id"), MediaInput{FileName: hdr.Filename, Description: r.FormValue("description"), Content: f})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mediaView(m))
}

// GET /api/v1/media/{id} -> media
func (s *Service) apiGetMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	m, err := s.GetMedia(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mediaView(m))
}

// GET /api/v1/media/{id}/content -> the file's bytes
func (s *Service) apiMediaContent(w http.ResponseWriter, r *http.Request, p *Principal) error {
	m, rc, err := s.OpenMedia(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", m.MimeType)
	h.Set("Content-Length", strconv.FormatInt(m.SizeBytes, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": m.FileName}))
	// Private to this user's browser; the type is sniffed at upload, and the
	// policy keeps a crafted file from running anything if opened directly.
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("streaming media", "media_id", m.ID, "err", err)
	}
	return nil
}

// repeatRequest is a recurring schedule in a request.
type repeatRequest struct {
	RRule           string   `json:"rrule"`
	Zone            string   `json:"zone"`
	StartLocal      string   `json:"start_local"`
	Exceptions      []string `json:"exceptions"`
	SkipIfLaterThan string   `json:"skip_if_later_than"`
}

func (r *repeatRequest) input() *RepeatInput {
	if r == nil {
		return nil
	}
	return &RepeatInput{RRule: r.RRule, Zone: r.Zone, StartLocal: r.StartLocal, Exceptions: r.Exceptions, SkipIfLaterThan: r.SkipIfLaterThan}
}

type postRequest struct {
	Text         string   `json:"text"`
	Thread       []string `json:"thread"`
	FirstComment string   `json:"first_comment"`
	AccountIDs   []string `json:"account_ids"`
	MediaIDs     []string `json:"media_ids"`
	// Variants and UTM: see variants.go.
	Variants    map[string]variantJSON `json:"variants"`
	UTM         *utmJSON               `json:"utm"`
	ScheduledAt string                 `json:"scheduled_at"`
	PublishNow  bool                   `json:"publish_now"`
	Repeat      *repeatRequest         `json:"repeat"`
	QueueID     string                 `json:"queue_id"`
	Evergreen   bool                   `json:"evergreen"`
	Draft       bool                   `json:"draft"`
	// SkipIfLaterThan ("2h", with scheduled_at): after an outage the post
	// is skipped rather than published later than this.
	SkipIfLaterThan string `json:"skip_if_later_than"`

	Labels []string `json:"labels"`
}

// POST /api/v1/workspaces/{id}/posts {text, thread?, first_comment?,
// account_ids, media_ids, scheduled_at (+ skip_if_later_than) | publish_now
// | repeat | queue_id (+ evergreen) | draft} -> 201 post
func (s *Service) apiCreatePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req postRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	post, err := s.CreatePost(r.Context(), p, r.PathValue("id"), PostInput{Text: req.Text, Thread: req.Thread, Labels: req.Labels,
		FirstComment: req.FirstComment, AccountIDs: req.AccountIDs,
		MediaIDs: req.MediaIDs, Variants: variantsInput(req.Variants), UTM: req.UTM.input(), ScheduledAt: req.ScheduledAt, PublishNow: req.PublishNow, Repeat: req.Repeat.input(),
		QueueID: req.QueueID, Evergreen: req.Evergreen, Draft: req.Draft, SkipIfLaterThan: req.SkipIfLaterThan})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, postView(post))
}

// GET /api/v1/workspaces/{id}/posts?status=S&limit=N&cursor=C -> {posts: [...],
// next_cursor}, newest created first.
func (s *Service) apiListPosts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, next, err := s.PagePosts(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("status"), pageParams(r))
	if err != nil {
		return err
	}
	out := make([]postJSON, 0, len(list))
	for _, post := range list {
		out = append(out, postView(post))
	}
	return writePage(w, "posts", out, next)
}

// GET /api/v1/posts/{id} -> post
func (s *Service) apiGetPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	post, err := s.GetPost(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, postView(post))
}

type patchPostRequest struct {
	Text         *string   `json:"text"`
	Thread       *[]string `json:"thread"`
	FirstComment *string   `json:"first_comment"`
	// Variants replaces every variant; see variants.go.
	Variants    *map[string]variantJSON `json:"variants"`
	UTM         *utmJSON                `json:"utm"`
	AccountIDs  []string                `json:"account_ids"`
	ScheduledAt *string                 `json:"scheduled_at"`
	PublishNow  bool                    `json:"publish_now"`
	Repeat      *repeatRequest          `json:"repeat"`
	QueueID     *string                 `json:"queue_id"`
	Evergreen   bool                    `json:"evergreen"`
	Draft       bool                    `json:"draft"`
	// SkipIfLaterThan goes with scheduled_at, as on create.
	SkipIfLaterThan *string `json:"skip_if_later_than"`

	Labels *[]string `json:"labels"`
}

// PATCH /api/v1/posts/{id} {text?, account_ids?, scheduled_at? | publish_now?
// | repeat? | queue_id? (+ evergreen) | draft?} -> post
func (s *Service) apiUpdatePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req patchPostRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	post, err := s.UpdatePost(r.Context(), p, r.PathValue("id"), PostUpdate{Text: req.Text, Thread: req.Thread,
		FirstComment: req.FirstComment, Variants: variantsPatch(req.Variants), UTM: utmPatch(req.UTM), AccountIDs: req.AccountIDs,
		ScheduledAt: req.ScheduledAt, PublishNow: req.PublishNow, Repeat: req.Repeat.input(), QueueID: req.QueueID,
		Evergreen: req.Evergreen, Draft: req.Draft, SkipIfLaterThan: req.SkipIfLaterThan, Labels: req.Labels})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, postView(post))
}

// GET /api/v1/posts/{id}/firings?limit=N -> {firings: [...]}
func (s *Service) apiListFirings(w http.ResponseWriter, r *http.Request, p *Principal) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errs.Fields{"limit": "must be a whole number from 1 to 500"}.Err()
		}
		limit = n
	}
	list, err := s.ListFirings(r.Context(), p, r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"firings": firingsView(list)})
}

// DELETE /api/v1/posts/{id} -> 204
func (s *Service) apiDeletePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeletePost(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
