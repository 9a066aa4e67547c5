package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/portal"
)

// TestSlice runs the whole journey once per transport between services,
// with the same assertions.
func TestSlice(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{config.TransportLocal, config.TransportGRPC, config.TransportConnect} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			h := startHerald(t, transport)
			runSlice(t, h)
			checkTransport(t, h, transport)
		})
	}
}

// checkTransport proves every service call of the run went the configured
// way: none over the network for method calls, all over the one protocol
// otherwise.
func checkTransport(t *testing.T, h *herald, transport string) {
	t.Helper()
	calls := []string{
		"herald.trigger.v1.TriggerService/Schedule",
		"herald.publisher.v1.PublisherService/Validate",
		"herald.portal.v1.PortalService/GetPublishJob",
		"herald.portal.v1.PortalService/ListRecipients",
		"herald.notification.v1.NotificationService/ListNotifications",
	}
	switch transport {
	case config.TransportLocal:
		if n := h.Calls.total(); n != 0 {
			t.Errorf("with method calls, %d service calls went over HTTP", n)
		}
	default:
		proto := map[string]string{config.TransportGRPC: "grpc", config.TransportConnect: "connect+json"}[transport]
		for _, m := range calls {
			if h.Calls.get(m, proto) == 0 {
				t.Errorf("%s never went over %s", m, proto)
			}
		}
		if other := h.Calls.notOver(proto); len(other) > 0 {
			t.Errorf("calls over another protocol than %s: %v", proto, other)
		}
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for x := range 32 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 8), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func runSlice(t *testing.T, h *herald) {
	_, mailAPI := mailpitURL(t)
	owner := h.newClient()
	ownerEmail := uniqueEmail("owner")
	const password = "correct horse battery"

	// 1. First run: the agency and its owner.
	if res := owner.call(http.MethodGet, "/api/v1/setup", nil, http.StatusOK); res["needed"] != true {
		t.Fatalf("fresh Herald should ask for setup: %v", res)
	}
	owner.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Acme Social", "name": "Ada Owner", "email": ownerEmail, "password": password}, http.StatusCreated)
	owner.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Second", "name": "Eve", "email": uniqueEmail("eve"), "password": password}, http.StatusConflict)

	// 2. Log in (a wrong password is refused; CSRF is required once signed in).
	owner.call(http.MethodPost, "/api/v1/login", obj{"email": ownerEmail, "password": "wrong password!"}, http.StatusUnauthorized)
	owner.login(ownerEmail, password)
	token := owner.csrf
	owner.csrf = ""
	owner.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "No CSRF", "timezone": "UTC"}, http.StatusForbidden)
	owner.csrf = token

	// 3. A client workspace in its own zone, and a teammate.
	bad := owner.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "", "timezone": "Mars/Olympus"}, http.StatusUnprocessableEntity)
	if str(bad, "error", "fields", "timezone") == "" || str(bad, "error", "fields", "name") == "" {
		t.Errorf("workspace errors should name name and timezone: %v", bad)
	}
	ws := owner.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Bistro Paris", "timezone": "Europe/Paris"}, http.StatusCreated)
	wsID := str(ws, "id")
	inv := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/invites", obj{"email": uniqueEmail("manager"), "role": "manager"}, http.StatusCreated)
	inviteURL := str(inv, "invite_url")
	inviteToken := inviteURL[strings.LastIndex(inviteURL, "/")+1:]
	mate := h.newClient()
	res := mate.call(http.MethodPost, "/api/v1/invites/"+inviteToken+"/accept", obj{"name": "Max Manager", "password": password}, http.StatusOK)
	mate.csrf = str(res, "csrf_token")
	if got := mate.call(http.MethodGet, "/api/v1/workspaces/"+wsID, nil, http.StatusOK); str(got, "role") != "manager" {
		t.Errorf("teammate's role in the workspace = %q, want manager", str(got, "role"))
	}

	// 4. Connect a Mastodon account on the simulated network.
	simToken := h.Sim.CreateAccount("bistro")
	acct := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": simToken}, http.StatusCreated)
	acctID := str(acct, "id")
	if !strings.Contains(str(acct, "handle"), "bistro") {
		t.Errorf("account handle %q should name the remote account", str(acct, "handle"))
	}
	badAcct := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": "not-a-token"}, http.StatusUnprocessableEntity)
	if str(badAcct, "error", "fields", "access_token") == "" {
		t.Errorf("a refused token should be a field error on access_token: %v", badAcct)
	}

	// 5. Media, then a post validated against the network's limits.
	media := owner.upload("/api/v1/workspaces/"+wsID+"/media", "croissant.png", pngImage(t), http.StatusCreated)
	mediaID := str(media, "id")
	notImage := owner.upload("/api/v1/workspaces/"+wsID+"/media", "notes.png", []byte("just some text, not an image"), http.StatusUnprocessableEntity)
	if str(notImage, "error", "fields", "file") == "" {
		t.Errorf("a non-image upload should be a field error on file: %v", notImage)
	}

	zone, _ := time.LoadLocation("Europe/Paris")
	postsBefore := len(items(owner.call(http.MethodGet, "/api/v1/workspaces/"+wsID+"/posts", nil, http.StatusOK), "posts"))
	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"past time", obj{"text": "late", "account_ids": []string{acctID}, "scheduled_at": time.Now().In(zone).Add(-time.Hour).Format("2006-01-02T15:04")}, http.StatusUnprocessableEntity, "scheduled_at"},
		{"nonexistent local time", obj{"text": "gap", "account_ids": []string{acctID}, "scheduled_at": "2027-03-28T02:30"}, http.StatusUnprocessableEntity, "scheduled_at"},
		{"over-long text", obj{"text": strings.Repeat("a", 501), "account_ids": []string{acctID}, "publish_now": true}, http.StatusUnprocessableEntity, "text"},
		{"empty text", obj{"text": "", "account_ids": []string{acctID}, "publish_now": true}, http.StatusUnprocessableEntity, "text"},
		{"unknown account", obj{"text": "hi", "account_ids": []string{"acct_01jd0000000000000000000000"}, "publish_now": true}, http.StatusUnprocessableEntity, "account_ids"},
		{"unknown media", obj{"text": "hi", "account_ids": []string{acctID}, "media_ids": []string{"media_01jd0000000000000000000000"}, "publish_now": true}, http.StatusUnprocessableEntity, "media_ids"},
		{"malformed JSON", `{"text": "hi",`, http.StatusBadRequest, ""},
		{"unknown field", `{"text": "hi", "colour": "red"}`, http.StatusBadRequest, ""},
	} {
		res := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", tc.body, tc.status)
		if str(res, "error", "message") == "" {
			t.Errorf("%s: no error message: %v", tc.name, res)
		}
		if tc.field != "" && !hasFieldPrefix(res, tc.field) {
			t.Errorf("%s: error should name field %q: %v", tc.name, tc.field, res)
		}
	}
	if n := len(items(owner.call(http.MethodGet, "/api/v1/workspaces/"+wsID+"/posts", nil, http.StatusOK), "posts")); n != postsBefore {
		t.Fatalf("refused posts left rows behind: %d posts, want %d", n, postsBefore)
	}

	// Live notifications: the browser's stream is open before the post goes out.
	stream := openStream(t, owner)
	// A published post is told in the app by default; this owner wants
	// an email too.
	owner.call(http.MethodPut, "/api/v1/me/notification-preferences", obj{
		"kinds": []obj{{"kind": "post.published", "channel": "both"}}}, http.StatusOK)

	// 6. Schedule at a local time in the workspace's zone, a few seconds ahead.
	due := time.Now().Add(3 * time.Second).In(zone).Truncate(time.Second)
	post := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{
		"text": "Fresh croissants at 7, see you there!", "account_ids": []string{acctID}, "media_ids": []string{mediaID},
		"scheduled_at": due.Format("2006-01-02T15:04:05"),
	}, http.StatusCreated)
	postID := str(post, "id")
	if str(post, "status") != "scheduled" || str(post, "zone") != "Europe/Paris" {
		t.Errorf("new post: status %q zone %q", str(post, "status"), str(post, "zone"))
	}
	if utc, _ := time.Parse(time.RFC3339, str(post, "scheduled_at_utc")); !utc.Equal(due) {
		t.Errorf("scheduled_at_utc %s, want %s", str(post, "scheduled_at_utc"), due.UTC())
	}

	var published obj
	eventually(t, "the post to be published", func() bool {
		published = owner.call(http.MethodGet, "/api/v1/posts/"+postID, nil, http.StatusOK)
		return str(published, "status") == "published"
	})
	targets := items(published, "targets")
	if len(targets) != 1 || !strings.HasPrefix(str(targets[0], "remote_url"), h.SimURL) {
		t.Fatalf("published post should link to the status on the network: %v", targets)
	}
	statuses := h.Sim.Statuses()
	if len(statuses) != 1 {
		t.Fatalf("network holds %d statuses, want exactly 1", len(statuses))
	}
	if firstPublish := statuses[0].CreatedAt; firstPublish.Before(due) {
		t.Errorf("published at %s, before its time %s", firstPublish, due)
	}
	if len(statuses[0].MediaIDs) != 1 {
		t.Errorf("the status should carry the image: %+v", statuses[0])
	}

	// 7. Notified: live, in the inbox, and by email.
	stream.expect(t, "notification", postID)
	inbox := owner.call(http.MethodGet, "/api/v1/notifications", nil, http.StatusOK)
	found := false
	for _, n := range items(inbox, "notifications") {
		if str(n, "kind") == "post.published" && strings.Contains(str(n, "link"), postID) {
			found = true
		}
	}
	if !found {
		t.Errorf("inbox lacks the published notification: %v", inbox)
	}
	eventually(t, "the email about the published post", func() bool {
		for _, s := range mailFor(t, mailAPI, ownerEmail) {
			if strings.Contains(strings.ToLower(s), "published") {
				return true
			}
		}
		return false
	})

	// A failing network: the post shows failed, with the reason.
	h.Sim.RevokeToken(simToken)
	failing := owner.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts", obj{
		"text": "This one will not make it", "account_ids": []string{acctID}, "publish_now": true,
	}, http.StatusCreated)
	var failed obj
	eventually(t, "the post to fail", func() bool {
		failed = owner.call(http.MethodGet, "/api/v1/posts/"+str(failing, "id"), nil, http.StatusOK)
		return str(failed, "status") == "failed"
	})
	if ft := items(failed, "targets"); len(ft) != 1 || str(ft[0], "error") == "" {
		t.Errorf("a failed target should say why: %v", ft)
	}

	// Another agency sees none of it.
	other := h.newClient()
	otherEmail := uniqueEmail("rival")
	if err := h.createAgency(portal.AgencyInput{AgencyName: "Rival", Name: "Rita", Email: otherEmail, Password: password}); err != nil {
		t.Fatal(err)
	}
	other.login(otherEmail, password)
	for _, path := range []string{"/api/v1/workspaces/" + wsID, "/api/v1/posts/" + postID, "/api/v1/media/" + mediaID, "/api/v1/accounts/" + acctID} {
		other.call(http.MethodGet, path, nil, http.StatusNotFound)
	}
	other.call(http.MethodDelete, "/api/v1/posts/"+postID, nil, http.StatusNotFound)
	otherWS := other.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Rival WS", "timezone": "UTC"}, http.StatusCreated)
	res = other.call(http.MethodPost, "/api/v1/workspaces/"+str(otherWS, "id")+"/posts", obj{"text": "steal", "account_ids": []string{acctID}, "publish_now": true}, http.StatusUnprocessableEntity)
	if !hasFieldPrefix(res, "account_ids") {
		t.Errorf("another agency's account id should be refused as a field: %v", res)
	}
	if n := len(h.Sim.Statuses()); n != 1 {
		t.Errorf("network holds %d statuses after the refused and failed posts, want 1", n)
	}
}

func hasFieldPrefix(res obj, field string) bool {
	fields, _ := res["error"].(map[string]any)["fields"].(map[string]any)
	for k := range fields {
		if k == field || strings.HasPrefix(k, field+"[") || strings.HasPrefix(k, field+".") {
			return true
		}
	}
	return false
}

// sse is an open server-sent events stream.
type sse struct {
	events chan [2]string // event name, data
	cancel context.CancelFunc
}

func openStream(t *testing.T, c *client) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/notifications/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	hc := &http.Client{Jar: c.http.Jar}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("opening the notification stream: %v", err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("notification stream: status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan [2]string, 64), cancel: cancel}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var name string
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
			case line == "":
				if name != "" || data.Len() > 0 {
					select {
					case s.events <- [2]string{name, data.String()}:
					default:
					}
				}
				name = ""
				data.Reset()
			}
		}
	}()
	return s
}

// expect waits for an event of the given name whose data mentions want.
func (s *sse) expect(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case ev := <-s.events:
			if ev[0] == name && strings.Contains(ev[1], want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q event mentioning %q on the stream", name, want)
		}
	}
}
