package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUIWebhooks(t *testing.T) {
	t.Parallel()
	b := setupRealNotification(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	var failing atomic.Bool
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "receiver is down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	path := "/workspaces/" + a.workspace + "/webhooks"

	res := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace))
	if !strings.Contains(res.Body, `href="`+path+`"`) {
		t.Fatal("the workspace page has no link to its webhooks")
	}
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "No endpoints yet.", "New endpoint", "All events")

	// A metadata address is refused beside the URL, nothing stored.
	res = c.must(http.StatusUnprocessableEntity, c.post(path, url.Values{"csrf_token": {token}, "kind": {"webhook"},
		"url": {"http://169.254.169.254/latest/"}, "all": {"on"}}))
	if !strings.Contains(res.Body, `id="webhook-url-error"`) {
		t.Fatalf("no error beside the URL:\n%s", excerpt(res.Body))
	}
	// A forged form changes nothing.
	c.must(http.StatusForbidden, c.post(path, url.Values{"kind": {"webhook"}, "url": {rc.URL}, "all": {"on"}}))
	if n := b.count(t, "notify_endpoints"); n != 0 {
		t.Fatalf("%d endpoints stored", n)
	}

	res = c.must(http.StatusCreated, c.post(path, url.Values{"csrf_token": {token}, "kind": {"webhook"}, "url": {rc.URL + "/hook"},
		"description": {"CRM"}, "topics": {"post.published", "post.failed"}}))
	secret := regexp.MustCompile(`<code>(whsec_[^<]+)</code>`).FindStringSubmatch(res.Body)
	if secret == nil {
		t.Fatalf("the secret is not shown on creation:\n%s", excerpt(res.Body))
	}
	epPath := regexp.MustCompile(`action="(` + regexp.QuoteMeta(path) + `/whk_[a-z0-9]+)/test"`).FindStringSubmatch(res.Body)
	if epPath == nil {
		t.Fatalf("no endpoint actions:\n%s", excerpt(res.Body))
	}
	ep := epPath[1]
	res = c.must(http.StatusOK, c.get(ep))
	if strings.Contains(res.Body, secret[1]) {
		t.Fatal("the secret is shown again")
	}
	wantText(t, res.Body, "Nothing delivered yet.", "Rotate secret", "Edit endpoint")

	c.must(http.StatusSeeOther, c.post(ep+"/test", url.Values{"csrf_token": {token}}), ep)
	res = c.must(http.StatusOK, c.get(ep))
	wantText(t, res.Body, "Test delivered", "webhook.test")
	if !strings.Contains(res.Body, `data-status="delivered"`) {
		t.Fatalf("the log does not show the delivery:\n%s", excerpt(res.Body))
	}

	// A failing test is logged as a dead letter (tests are not retried),
	// and re-sent from the dead letters once the receiver is back.
	failing.Store(true)
	c.must(http.StatusSeeOther, c.post(ep+"/test", url.Values{"csrf_token": {token}}), ep)
	res = c.must(http.StatusOK, c.get(ep+"?dead=1"))
	wantText(t, res.Body, "Test failed", "Dead letters", "503", "Re-send")
	dead := regexp.MustCompile(`data-delivery-id="(dlv_[a-z0-9]+)" data-status="dead"`).FindStringSubmatch(res.Body)
	if dead == nil {
		t.Fatalf("no dead letter listed:\n%s", excerpt(res.Body))
	}
	res = c.must(http.StatusOK, c.get(ep+"/deliveries/"+dead[1]))
	wantText(t, res.Body, "receiver is down", "Attempts", "Payload")
	failing.Store(false)
	c.must(http.StatusSeeOther, c.post(ep+"/deliveries/"+dead[1]+"/redeliver", url.Values{"csrf_token": {token}, "dead": {"1"}}), ep+"?dead=1")
	eventuallyUI(t, func() bool {
		return !strings.Contains(c.must(http.StatusOK, c.get(ep+"?dead=1")).Body, dead[1])
	})

	// Edited: disabled and back to all events.
	c.must(http.StatusSeeOther, c.post(ep, url.Values{"csrf_token": {token}, "url": {rc.URL + "/v2"}, "all": {"on"}}), ep)
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "/v2", "all events", "Disabled")

	res = c.must(http.StatusOK, c.post(ep+"/rotate", url.Values{"csrf_token": {token}}))
	if s := regexp.MustCompile(`<code>(whsec_[^<]+)</code>`).FindStringSubmatch(res.Body); s == nil || s[1] == secret[1] {
		t.Fatalf("no new secret shown:\n%s", excerpt(res.Body))
	}

	// A client approver finds no webhook pages.
	approver := b.invite(t, a, "approver@client.example", RoleClientApprover)
	ac := b.browser(t)
	ac.cookies["herald_session"] = approver.cookie
	ac.must(http.StatusNotFound, ac.get(path))
	ac.must(http.StatusNotFound, ac.get(ep))
	if strings.Contains(ac.must(http.StatusOK, ac.get("/workspaces/"+a.workspace)).Body, `href="`+path+`"`) {
		t.Error("an approver is offered the webhooks link")
	}

	c.must(http.StatusSeeOther, c.post(ep+"/delete", url.Values{"csrf_token": {token}}), path)
	wantText(t, c.must(http.StatusOK, c.get(path)).Body, "No endpoints yet.")
}

func eventuallyUI(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		sleepBriefly()
	}
	t.Fatal("timed out")
}

func sleepBriefly() { <-time.After(25 * time.Millisecond) }
