package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// statusError is an error whose HTTP status is not the one its kind maps
// to: malformed bodies are 400 and wrong content types 415, where a field
// that fails validation is 422.
type statusError struct {
	status int
	err    *errs.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func badRequest(field, format string, args ...any) error {
	e := errs.E(errs.Invalid, format, args...)
	if field != "" {
		e.Fields = map[string]string{field: e.Message}
	}
	return &statusError{status: http.StatusBadRequest, err: e}
}

// decodeJSON reads a JSON object into dst. It insists on a JSON content
// type (415), a single well-formed object (400, saying where it is broken)
// and only known fields (400, naming the field). An empty body is an empty
// object when allowEmpty is set.
func decodeJSON(r *http.Request, dst any, allowEmpty bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.Wrap(err, errs.TooLarge, fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit))
		}
		return errs.Wrap(err, errs.Invalid, "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("", "the request body is empty; send a JSON object")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &statusError{status: http.StatusUnsupportedMediaType,
			err: errs.E(errs.Invalid, "send the body as JSON with Content-Type: application/json")}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("", "the request body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonError explains a decoding failure in terms of the request.
func jsonError(body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return badRequest("", "malformed JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("", "the request body must be a JSON object, not %s", typ.Value)
		}
		return badRequest(field, "must be %s, not %s", jsonTypeName(typ.Type), typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return badRequest(name, "%q is not a known field", name)
	}
	return badRequest("", "malformed JSON: %s", err.Error())
}

func position(body []byte, offset int64) (line, col int) {
	offset = min(offset, int64(len(body)))
	before := body[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return "an object"
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Kind    string            `json:"kind"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeError is the one place errors become HTTP responses:
// {"error": {"kind", "message", "fields"}} with the status of the kind.
// Internal errors are logged and answered with a generic message.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errs.HTTPStatus(err)
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	switch {
	case status >= 500 && errs.KindOf(err) == errs.Internal:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case status == http.StatusServiceUnavailable:
		s.log.Warn("request refused: dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if secs := retryAfterSeconds(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeErrorStatus(w, status, err)
}

func writeErrorStatus(w http.ResponseWriter, status int, err error) {
	body := errorBody{Error: errorJSON{Kind: string(errs.KindOf(err)), Message: errs.PublicMessage(err)}}
	if e, ok := errs.As(err); ok && len(e.Fields) > 0 {
		body.Error.Fields = e.Fields
	}
	setAPIHeaders(w)
	_ = writeJSON(w, status, body)
}

// ts formats an instant for JSON ("" for none, left out by omitempty).
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// --- response shapes ---

type userJSON struct {
	ID       string `json:"id"`
	AgencyID string `json:"agency_id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	// Role is "owner" for agency owners and "member" otherwise; workspace
	// roles are listed with the workspaces.
	Role string `json:"role"`
}

func userView(p *Principal) userJSON {
	role := "member"
	if p.Owner {
		role = "owner"
	}
	return userJSON{ID: p.UserID, AgencyID: p.AgencyID, Email: p.Email, Name: p.Name, Role: role}
}

type sessionJSON struct {
	User      userJSON `json:"user"`
	CSRFToken string   `json:"csrf_token"`
	ExpiresAt string   `json:"expires_at"`
}

func sessionView(sess *Session) sessionJSON {
	return sessionJSON{User: userView(sess.Principal), CSRFToken: sess.Principal.CSRFToken, ExpiresAt: ts(sess.ExpiresAt)}
}

type workspaceJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Timezone  string `json:"timezone"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func workspaceView(w Workspace) workspaceJSON {
	return workspaceJSON{ID: w.ID, Name: w.Name, Timezone: w.Timezone, Role: string(w.Role), CreatedAt: ts(w.CreatedAt)}
}

type memberJSON struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

type inviteJSON struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	ExpiresAt   string `json:"expires_at"`
	InviteURL   string `json:"invite_url"`
}

type accountJSON struct {
	ID           string `json:"id"`
	WorkspaceID  string `json:"workspace_id"`
	Network      string `json:"network"`
	InstanceURL  string `json:"instance_url"`
	RemoteID     string `json:"remote_id"`
	Handle       string `json:"handle"`
	DisplayName  string `json:"display_name"`
	ProfileURL   string `json:"profile_url"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
}

func accountView(a Account) accountJSON {
	return accountJSON{ID: a.ID, WorkspaceID: a.WorkspaceID, Network: a.Network, InstanceURL: a.InstanceURL, RemoteID: a.RemoteID,
		Handle: a.Handle, DisplayName: a.DisplayName, ProfileURL: a.ProfileURL, Status: a.Status, StatusReason: a.StatusReason,
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}
}

type mediaJSON struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	MimeType    string   `json:"mime_type"`
	SizeBytes   int64    `json:"size_bytes"`
	FileName    string   `json:"file_name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	ContentURL  string   `json:"content_url"`
	CreatedAt   string   `json:"created_at"`
}

func mediaView(m Media) mediaJSON {
	return mediaJSON{ID: m.ID, WorkspaceID: m.WorkspaceID, MimeType: m.MimeType, SizeBytes: m.SizeBytes, FileName: m.FileName,
		Description: m.Description, Tags: m.Tags, ContentURL: "/api/v1/media/" + m.ID + "/content", CreatedAt: ts(m.CreatedAt)}
}

type targetJSON struct {
	AccountID string `json:"account_id"`
	Network   string `json:"network"`
	Status    string `json:"status"`
	RemoteID  string `json:"remote_id,omitempty"`
	RemoteURL string `json:"remote_url,omitempty"`
	Error     string `json:"error,omitempty"`
	UpdatedAt string `json:"updated_at"`
}

type postJSON struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Text        string `json:"text"`
	// Thread and FirstComment follow the post (omitted when none).
	Thread       []string `json:"thread,omitempty"`
	FirstComment string   `json:"first_comment,omitempty"`
	// Variants and UTM are omitted when none (see variants.go).
	Variants map[string]variantJSON `json:"variants,omitempty"`
	UTM      *utmJSON               `json:"utm,omitempty"`
	Revision int64                  `json:"revision"`
	Status   string                 `json:"status"`
	// Kind: once, recurring, queue or draft.
	Kind string `json:"kind"`
	// ScheduledAt is the wall time in Zone, as given (for a recurring or
	// queued post: its next firing); ScheduledAtUTC the instant it
	// resolved to. Both are empty for a draft and for a queued post
	// Trigger has not placed yet.
	ScheduledAt    string      `json:"scheduled_at"`
	Zone           string      `json:"zone"`
	ScheduledAtUTC string      `json:"scheduled_at_utc"`
	Repeat         *repeatJSON `json:"repeat,omitempty"`
	// SkipIfLaterThan is a one-shot post's late limit (a repeating
	// post's is in repeat).
	SkipIfLaterThan string       `json:"skip_if_later_than,omitempty"`
	QueueID         string       `json:"queue_id,omitempty"`
	Evergreen       bool         `json:"evergreen,omitempty"`
	Held            bool         `json:"held,omitempty"`
	FiredCount      int64        `json:"fired_count,omitempty"`
	Finished        bool         `json:"finished,omitempty"`
	AccountIDs      []string     `json:"account_ids"`
	MediaIDs        []string     `json:"media_ids"`
	Targets         []targetJSON `json:"targets"`
	Firings         []firingJSON `json:"firings,omitempty"`
	CreatedBy       string       `json:"created_by"`
	CreatedAt       string       `json:"created_at"`
	UpdatedAt       string       `json:"updated_at"`

	Labels []string `json:"labels"`
}

type repeatJSON struct {
	RRule           string   `json:"rrule"`
	Zone            string   `json:"zone"`
	StartLocal      string   `json:"start_local"`
	Exceptions      []string `json:"exceptions"`
	SkipIfLaterThan string   `json:"skip_if_later_than,omitempty"`
	Description     string   `json:"description"`
}

type firingJSON struct {
	DueAt   string       `json:"due_at"`
	Targets []targetJSON `json:"targets"`
}

func targetView(t Target) targetJSON {
	return targetJSON{AccountID: t.AccountID, Network: t.Network, Status: t.Status,
		RemoteID: t.RemoteID, RemoteURL: t.RemoteURL, Error: t.Error, UpdatedAt: ts(t.UpdatedAt)}
}

func firingsView(fs []Firing) []firingJSON {
	out := make([]firingJSON, 0, len(fs))
	for _, f := range fs {
		fj := firingJSON{DueAt: ts(f.DueAt), Targets: make([]targetJSON, 0, len(f.Targets))}
		for _, t := range f.Targets {
			fj.Targets = append(fj.Targets, targetView(t))
		}
		out = append(out, fj)
	}
	return out
}

// wallOf shows a stored wall time as given ("2026-12-01T09:30").
func wallOf(stored string) string {
	if t, err := time.Parse(triggerWallFmt, stored); err == nil {
		return formatWall(t)
	}
	return stored
}

func postView(p Post) postJSON {
	out := postJSON{ID: p.ID, WorkspaceID: p.WorkspaceID, Text: p.Text, Thread: p.Thread, FirstComment: p.FirstComment,
		Variants: variantsView(p.Variants), UTM: utmView(p.UTM), Revision: p.Revision, Status: p.Status, Kind: p.Kind,
		ScheduledAt: p.LocalTime, Zone: p.Zone, AccountIDs: p.AccountIDs, MediaIDs: p.MediaIDs,
		QueueID: p.QueueID, Evergreen: p.Evergreen, Held: p.Held, FiredCount: p.FiredCount, Finished: p.Finished,
		Targets: make([]targetJSON, 0, len(p.Targets)), CreatedBy: p.CreatedBy, CreatedAt: ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt)}
	if out.Labels = p.Labels; out.Labels == nil {
		out.Labels = []string{}
	}
	if !p.ScheduledAt.IsZero() {
		out.ScheduledAtUTC = ts(p.ScheduledAt)
	} else {
		out.ScheduledAt = ""
	}
	if p.Kind == KindOnce && p.SkipLate > 0 {
		out.SkipIfLaterThan = p.SkipLate.String()
	}
	if p.Kind == KindRecurring {
		r := &repeatJSON{RRule: p.RRule, Zone: p.Zone, StartLocal: wallOf(p.StartLocal), Exceptions: []string{}, Description: describeRepeat(p.RRule)}
		for _, x := range p.Exceptions {
			r.Exceptions = append(r.Exceptions, wallOf(x))
		}
		if p.SkipLate > 0 {
			r.SkipIfLaterThan = p.SkipLate.String()
		}
		out.Repeat = r
	}
	for _, t := range p.Targets {
		out.Targets = append(out.Targets, targetView(t))
	}
	if p.Firings != nil {
		out.Firings = firingsView(p.Firings)
	}
	return out
}

type tokenJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token,omitempty"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt string   `json:"last_used_at,omitempty"`
}

type notificationJSON struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Kind        string `json:"kind"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	Link        string `json:"link"`
	CreatedAt   string `json:"created_at"`
	ReadAt      string `json:"read_at,omitempty"`
}
