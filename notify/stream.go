package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/heraldhq/herald/errs"
)

// streamWriteTimeout bounds one write to a stream: a browser that stops
// reading is cut off instead of holding its handler forever. It replaces
// any server-wide write timeout, which would end every stream.
const streamWriteTimeout = 30 * time.Second

// StreamHandler serves a user's live notifications as Server-Sent Events.
// The caller has authenticated the browser and names the user with the
// query parameters tenant_id and user_id; the handler must be mounted
// behind that check, never exposed as it is.
//
// Events:
//
//	event: unread        data: {"unread": N}, first, and after notifications are marked read
//	event: notification  data: a Notification in protobuf JSON, as ListNotifications returns it
//	event: resync        data: {"unread": N}, the stream fell behind and skipped notifications:
//	                     reload the list; notifications sent after it may repeat what the reload
//	                     returns (deduplicate by notificationId)
//
// A comment line is sent every Config.Heartbeat while idle. The stream ends
// when the client goes away or the service closes; EventSource reconnects
// by itself.
func (s *Service) StreamHandler() http.Handler { return http.HandlerFunc(s.serveStream) }

func (s *Service) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, errs.E(errs.Invalid, "use GET"), http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	tenantID, userID := q.Get("tenant_id"), q.Get("user_id")
	var v errs.Fields
	checkUser(&v, tenantID, userID)
	if err := v.Err(); err != nil {
		writeError(w, err, 0)
		return
	}
	ctx := r.Context()

	// Subscribe before counting, so nothing created in between is missed.
	sub, stop := s.hub.subscribe(tenantID, userID)
	defer stop()
	unread, err := countUnread(ctx, s.db, tenantID, userID)
	if err != nil {
		s.log.Warn("notify: opening stream", "err", err)
		writeError(w, errs.Wrap(err, errs.Unavailable, "notifications are unavailable"), 0)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Reverse proxies such as nginx would otherwise buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	write := func(text string) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write(sseEvent("unread", unreadJSON(unread))); err != nil {
		return
	}

	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		var text string
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case u := <-sub.updates:
			if u.notification == nil {
				text = sseEvent("unread", unreadJSON(u.unread))
				break
			}
			data, err := protojson.Marshal(u.notification)
			if err != nil {
				s.log.Error("notify: encoding notification", "err", err)
				continue
			}
			text = sseEvent("notification", string(data))
		case <-sub.resync:
			// What is still buffered is older than what the client will
			// reload: drop it.
			for drained := false; !drained; {
				select {
				case <-sub.updates:
				default:
					drained = true
				}
			}
			n, err := countUnread(ctx, s.db, tenantID, userID)
			if err != nil {
				// The client reconnects and starts afresh.
				return
			}
			text = sseEvent("resync", unreadJSON(n))
		case <-heartbeat.C:
			text = ": ping\n\n"
		}
		if err := write(text); err != nil {
			return
		}
	}
}

// sseEvent formats one event; each line of data gets its own "data:" field,
// as the format requires.
func sseEvent(name, data string) string {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for line := range strings.Lines(data) {
		b.WriteString("data: " + strings.TrimRight(line, "\r\n") + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

func unreadJSON(n int) string { return fmt.Sprintf(`{"unread":%d}`, n) }

// writeError answers a request that could not start a stream. status 0
// means the status of the error's kind.
func writeError(w http.ResponseWriter, err error, status int) {
	if status == 0 {
		status = errs.HTTPStatus(err)
	}
	body := struct {
		Kind    errs.Kind         `json:"kind"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	}{Kind: errs.KindOf(err), Message: errs.PublicMessage(err)}
	if e, ok := errs.As(err); ok {
		body.Fields = e.Fields
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
