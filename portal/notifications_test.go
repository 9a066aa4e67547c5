package portal

import (
	"net/http"
	"strings"
	"testing"
)

func TestNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	me := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)

	res := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/notifications?limit=10&unread=true", nil)).json(t)
	if res["unread"] != float64(1) || len(res["notifications"].([]any)) != 1 {
		t.Fatalf("notifications = %v", res)
	}
	ask := b.notify.asks[len(b.notify.asks)-1]
	if ask.GetTenantId() != a.id || ask.GetUserId() != me["id"] || ask.GetLimit() != 10 || !ask.GetUnreadOnly() {
		t.Fatalf("asked Notification for %v", ask)
	}
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("GET", "/api/v1/notifications?limit=abc", nil))

	marked := a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/notifications/read", map[string]any{"ids": []string{"ntf_1"}})).json(t)
	if marked["marked"] != float64(1) {
		t.Fatalf("marked = %v", marked)
	}
	// No body marks everything.
	a.owner.must(http.StatusOK, a.owner.do("POST", "/api/v1/notifications/read", nil))
	if last := b.notify.read[len(b.notify.read)-1]; last.GetUserId() != me["id"] || len(last.GetNotificationIds()) != 0 {
		t.Fatalf("mark all asked %v", last)
	}

	// The stream is the signed-in user's, whatever the query says.
	stream := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/notifications/stream?tenant_id=agency_evil&user_id=user_evil", nil))
	if !strings.Contains(string(stream.Body), "event: hello") {
		t.Fatalf("stream body %q", stream.Body)
	}
	q := b.stream.last.URL.Query()
	if q.Get("tenant_id") != a.id || q.Get("user_id") != me["id"] || b.stream.last.Header.Get("Cookie") != "" {
		t.Fatalf("stream asked for %v with cookie %q", q, b.stream.last.Header.Get("Cookie"))
	}
	anon := b.client(t)
	anon.must(http.StatusUnauthorized, anon.do("GET", "/api/v1/notifications/stream", nil))
}
