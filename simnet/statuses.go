package simnet

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider/mastodon/charcount"
)

// Status is a post as simnet stored it, for tests and benchmarks to check
// what was published.
type Status struct {
	ID             string   `json:"id"`
	AccountID      string   `json:"account_id"`
	Username       string   `json:"username"`
	Text           string   `json:"text"`
	SpoilerText    string   `json:"spoiler_text,omitempty"`
	Visibility     string   `json:"visibility"`
	MediaIDs       []string `json:"media_ids"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	// InReplyToID is the status this one replies to, if any.
	InReplyToID string    `json:"in_reply_to_id,omitempty"`
	URL         string    `json:"url"`
	URI         string    `json:"uri"`
	CreatedAt   time.Time `json:"created_at"`
}

type status struct {
	Status
	account *account
	app     *app
	media   []*media
	base    string
}

// Statuses returns every status posted, oldest first.
func (s *Server) Statuses() []Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Status, len(s.order))
	for i, st := range s.order {
		out[i] = st.Status
		out[i].MediaIDs = slices.Clone(st.MediaIDs)
	}
	return out
}

type statusParams struct {
	Status      string   `json:"status"`
	InReplyToID string   `json:"in_reply_to_id"`
	SpoilerText string   `json:"spoiler_text"`
	Visibility  string   `json:"visibility"`
	MediaIDs    []string `json:"media_ids"`
}

// maxFormBytes bounds non-upload request bodies.
const maxFormBytes = 1 << 20

func parseStatusParams(w http.ResponseWriter, r *http.Request) (statusParams, error) {
	var p statusParams
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			return p, fmt.Errorf("malformed JSON body: %w", err)
		}
		return p, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxFormBytes); err != nil {
			return p, fmt.Errorf("malformed multipart body: %w", err)
		}
	default:
		if err := r.ParseForm(); err != nil {
			return p, fmt.Errorf("malformed form body: %w", err)
		}
	}
	p.Status = r.PostFormValue("status")
	p.InReplyToID = r.PostFormValue("in_reply_to_id")
	p.SpoilerText = r.PostFormValue("spoiler_text")
	p.Visibility = r.PostFormValue("visibility")
	p.MediaIDs = append(r.PostForm["media_ids[]"], r.PostForm["media_ids"]...)
	return p, nil
}

var visibilities = []string{"public", "unlisted", "private", "direct"}

func (s *Server) postStatus(w http.ResponseWriter, r *http.Request, t *token) {
	a := t.account
	if a == nil {
		writeError(w, http.StatusUnprocessableEntity, "This method requires an authenticated user")
		return
	}
	p, err := parseStatusParams(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := r.Header.Get("Idempotency-Key")
	base := s.baseURL(r)

	a.mu.Lock()
	st, dup, code, msg := s.createStatus(a, t.app, p, key, base)
	a.mu.Unlock()

	if st == nil {
		writeError(w, code, msg)
		return
	}
	if dup {
		s.stats.duplicates.Add(1)
	}
	writeJSON(w, http.StatusOK, s.statusJSON(st))
}

// createStatus validates and stores a status, or returns the one an earlier
// request with the same idempotency key made. The caller holds a.mu.
func (s *Server) createStatus(a *account, ap *app, p statusParams, key, base string) (st *status, dup bool, code int, msg string) {
	now := s.now()
	if key != "" {
		if e, ok := a.idem[key]; ok && now.Sub(e.at) < s.opts.IdempotencyTTL {
			return e.status, true, 0, ""
		}
	}
	if p.Visibility == "" {
		p.Visibility = "public"
	}
	switch {
	case strings.TrimSpace(p.Status) == "" && len(p.MediaIDs) == 0:
		return nil, false, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank"
	case charcount.Count(p.SpoilerText)+charcount.Count(p.Status) > s.opts.MaxChars:
		return nil, false, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", s.opts.MaxChars)
	case !slices.Contains(visibilities, p.Visibility):
		return nil, false, http.StatusUnprocessableEntity, fmt.Sprintf("'%s' is not a valid visibility", p.Visibility)
	case len(p.MediaIDs) > s.opts.MaxMedia:
		return nil, false, http.StatusUnprocessableEntity, fmt.Sprintf("Cannot attach more than %d files", s.opts.MaxMedia)
	}

	if p.InReplyToID != "" {
		s.mu.RLock()
		_, ok := s.statuses[p.InReplyToID]
		s.mu.RUnlock()
		if !ok {
			return nil, false, http.StatusNotFound, "Record not found"
		}
	}
	id := s.nextID()
	st = &status{
		Status: Status{
			ID:             id,
			AccountID:      a.id,
			Username:       a.username,
			Text:           p.Status,
			SpoilerText:    p.SpoilerText,
			Visibility:     p.Visibility,
			IdempotencyKey: key,
			InReplyToID:    p.InReplyToID,
			URL:            base + "/@" + a.username + "/" + id,
			URI:            base + "/users/" + a.username + "/statuses/" + id,
			CreatedAt:      now,
		},
		account: a,
		app:     ap,
		base:    base,
	}

	s.mu.Lock()
	for _, mid := range p.MediaIDs {
		m := s.media[mid]
		if m == nil || m.account != a || m.statusID != "" {
			s.mu.Unlock()
			return nil, false, http.StatusUnprocessableEntity, fmt.Sprintf("Media %s not found or already attached to another post", mid)
		}
		if now.Before(m.ready) {
			s.mu.Unlock()
			return nil, false, http.StatusUnprocessableEntity, "Cannot attach files that have not finished processing. Try again in a moment!"
		}
		if slices.Contains(st.media, m) {
			continue
		}
		st.media = append(st.media, m)
	}
	st.MediaIDs = make([]string, len(st.media))
	for i, m := range st.media {
		m.statusID = id
		st.MediaIDs[i] = m.id
	}
	s.statuses[id] = st
	s.order = append(s.order, st)
	s.mu.Unlock()

	a.posted.Add(1)
	s.stats.statuses.Add(1)
	if key != "" {
		s.rememberKey(a, key, st, now)
	}
	return st, false, 0, ""
}

// rememberKey records key for st, clearing expired keys now and then so
// memory follows the keys of the last TTL, not of all time.
func (s *Server) rememberKey(a *account, key string, st *status, now time.Time) {
	if now.Sub(a.swept) > s.opts.IdempotencyTTL/4 {
		for k, e := range a.idem {
			if now.Sub(e.at) >= s.opts.IdempotencyTTL {
				delete(a.idem, k)
			}
		}
		a.swept = now
	}
	a.idem[key] = idemEntry{status: st, at: now}
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, _ *token) {
	s.mu.RLock()
	st := s.statuses[r.PathValue("id")]
	s.mu.RUnlock()
	if st == nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	writeJSON(w, http.StatusOK, s.statusJSON(st))
}

func (s *Server) statusJSON(st *status) *statusJSON {
	out := &statusJSON{
		ID:               st.ID,
		CreatedAt:        timeJSON(st.CreatedAt),
		SpoilerText:      st.SpoilerText,
		Sensitive:        st.SpoilerText != "",
		Visibility:       st.Visibility,
		URI:              st.URI,
		URL:              st.URL,
		Content:          contentHTML(st.Text),
		Account:          s.accountJSON(st.account, st.base, false),
		MediaAttachments: make([]*mediaJSON, 0, len(st.media)),
		Mentions:         []struct{}{},
		Tags:             []struct{}{},
		Emojis:           []struct{}{},
	}
	if st.InReplyToID != "" {
		reply := st.InReplyToID
		out.InReplyToID = &reply
	}
	if st.app != nil {
		out.Application = &appRef{Name: st.app.name, Website: st.app.websitePtr()}
	}
	for _, m := range st.media {
		out.MediaAttachments = append(out.MediaAttachments, m.json(st.base, true))
	}
	return out
}

func (s *Server) accountJSON(a *account, base string, withSource bool) accountJSON {
	url := base + "/@" + a.username
	out := accountJSON{
		ID:            a.id,
		Username:      a.username,
		Acct:          a.username,
		DisplayName:   a.username,
		CreatedAt:     timeJSON(a.createdAt.Truncate(24 * time.Hour)),
		URL:           url,
		URI:           base + "/users/" + a.username,
		Avatar:        base + "/avatars/original/missing.png",
		AvatarStatic:  base + "/avatars/original/missing.png",
		Header:        base + "/headers/original/missing.png",
		HeaderStatic:  base + "/headers/original/missing.png",
		StatusesCount: a.posted.Load(),
		Emojis:        []struct{}{},
		Fields:        []struct{}{},
	}
	if withSource {
		out.Source = &accountSource{Privacy: "public", Fields: []struct{}{}}
	}
	return out
}

func (s *Server) verifyCredentials(w http.ResponseWriter, r *http.Request, t *token) {
	if t.account == nil {
		writeError(w, http.StatusUnprocessableEntity, "This method requires an authenticated user")
		return
	}
	writeJSON(w, http.StatusOK, s.accountJSON(t.account, s.baseURL(r), true))
}
