package portal

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/errs"
)

func (a *agency) tokenClient(t *testing.T, b *bundle, scopes ...string) *client {
	t.Helper()
	res := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]any{"name": "script", "scopes": scopes})).json(t)
	c := b.client(t)
	c.bearer = res["token"].(string)
	return c
}

func TestIdempotencyKeyMakesARetryHarmless(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.tokenClient(t, b)
	path := "/api/v1/workspaces/" + a.workspace + "/posts"
	body := map[string]any{"text": "Once only", "account_ids": []string{a.account}, "scheduled_at": future()}
	key := header(idempotencyHeader, "create-post-42")

	first := c.must(http.StatusCreated, c.do("POST", path, body, key))
	again := c.must(http.StatusCreated, c.do("POST", path, body, key))
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the retry answered %s (replayed %q), want the first answer %s", again.Body, again.Header.Get("Idempotent-Replayed"), first.Body)
	}
	if n := b.count(t, "portal_posts"); n != 1 {
		t.Fatalf("%d posts after a retry, want 1", n)
	}
	if n := b.trigger.count(); n != 1 {
		t.Fatalf("%d schedules after a retry, want 1", n)
	}

	// The same key for another body or another path: refused, nothing made.
	other := map[string]any{"text": "Something else", "account_ids": []string{a.account}, "scheduled_at": future()}
	if f := c.must(http.StatusUnprocessableEntity, c.do("POST", path, other, key)).errorFields(t); f[idempotencyHeader] == nil {
		t.Fatalf("no problem named for the key: %v", f)
	}
	c.must(http.StatusUnprocessableEntity, c.do("POST", "/api/v1/workspaces", map[string]string{"name": "X", "timezone": "UTC"}, key))
	// Keys are the caller's: the owner's session may use the same one.
	a.owner.must(http.StatusCreated, a.owner.do("POST", path, body, key))
	if n := b.count(t, "portal_posts"); n != 2 {
		t.Fatalf("%d posts, want 2", n)
	}

	// A refused request is an answer too: repeated, the same refusal.
	bad := map[string]any{"text": "", "account_ids": []string{a.account}, "scheduled_at": future()}
	r1 := c.must(http.StatusUnprocessableEntity, c.do("POST", path, bad, header(idempotencyHeader, "bad-1")))
	r2 := c.must(http.StatusUnprocessableEntity, c.do("POST", path, bad, header(idempotencyHeader, "bad-1")))
	if string(r1.Body) != string(r2.Body) {
		t.Fatalf("answers differ: %s / %s", r1.Body, r2.Body)
	}

	// A failure of the service is not kept: the same key works once it is back.
	b.trigger.setFail(errs.E(errs.Unavailable, "trigger is down"))
	c.must(http.StatusServiceUnavailable, c.do("POST", path, other, header(idempotencyHeader, "flaky-1")))
	b.trigger.setFail(nil)
	c.must(http.StatusCreated, c.do("POST", path, other, header(idempotencyHeader, "flaky-1")))

	for _, k := range []string{strings.Repeat("k", 256), "has space", "tab\there"} {
		c.must(http.StatusBadRequest, c.do("POST", path, body, header(idempotencyHeader, k)))
	}
}

func TestTokenScopes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	reader := a.tokenClient(t, b, ScopeRead)
	listed := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/tokens", nil)).json(t)["tokens"].([]any)
	if sc := listed[0].(map[string]any)["scopes"].([]any); len(sc) != 1 || sc[0] != ScopeRead {
		t.Fatalf("the token's scopes are listed as %v", sc)
	}
	reader.must(http.StatusOK, reader.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts", nil))
	res := reader.must(http.StatusForbidden, reader.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts",
		map[string]any{"text": "no", "account_ids": []string{a.account}, "scheduled_at": future()}))
	if !strings.Contains(string(res.Body), "may only read") {
		t.Fatalf("the refusal says %s", res.Body)
	}
	reader.must(http.StatusForbidden, reader.do("DELETE", "/api/v1/accounts/"+a.account, nil))
	reader.must(http.StatusForbidden, reader.do("POST", "/api/v1/tokens", map[string]any{"name": "escalate", "scopes": []string{ScopeWrite}}))
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("a read-only token wrote %d posts", n)
	}
	if f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "scopes": []string{"admin"}})).errorFields(t); f["scopes[0]"] == nil {
		t.Fatalf("an unknown scope: %v", f)
	}
}

func TestRateLimitIsPerToken(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.APIRate, c.APIBurst = 0.001, 20 })
	a := b.firstAgency(t)
	script := a.tokenClient(t, b)
	second := a.tokenClient(t, b)
	for range 20 {
		script.must(http.StatusOK, script.do("GET", "/api/v1/me", nil))
	}
	script.must(http.StatusTooManyRequests, script.do("GET", "/api/v1/me", nil))
	// The owner's own session, and their other token, still get through.
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil))
	second.must(http.StatusOK, second.do("GET", "/api/v1/me", nil))
}

// The proof: 100 concurrent creates under one key make one post.
// Each answer is the post (201, the first or its replay) or 409 while the
// first is still being handled; every 201 names the same post.
func TestIdempotencyKeyUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	c := a.tokenClient(t, b)
	path := "/api/v1/workspaces/" + a.workspace + "/posts"
	body := map[string]any{"text": "Once, however many ask", "account_ids": []string{a.account}, "scheduled_at": future()}
	key := header(idempotencyHeader, "burst-1")
	const n = 100
	status := make([]int, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := c.do("POST", path, body, key)
			status[i] = res.Status
			if res.Status == http.StatusCreated {
				ids[i], _ = res.json(t)["id"].(string)
			}
		})
	}
	wg.Wait()
	created := map[string]bool{}
	for i := range n {
		switch status[i] {
		case http.StatusCreated:
			created[ids[i]] = true
		case http.StatusConflict:
		default:
			t.Errorf("request %d answered %d", i, status[i])
		}
	}
	if len(created) != 1 {
		t.Errorf("the 201 answers name %d posts, want one: %v", len(created), created)
	}
	if got := b.count(t, "portal_posts"); got != 1 {
		t.Fatalf("%d posts from %d concurrent creates under one key, want 1", got, n)
	}
	if got := b.trigger.count(); got != 1 {
		t.Fatalf("%d schedules, want 1", got)
	}
}
