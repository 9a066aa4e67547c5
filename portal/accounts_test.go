package portal

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAccountTokenIsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	const secret = "s3cr3t-access-token-value"
	b.prov.addToken(secret, "remote-77", "brand")
	res := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "HTTPS://Social.Example", "access_token": secret}))
	if bytes.Contains(res.Body, []byte(secret)) {
		t.Fatal("the response shows the token")
	}
	acct := res.json(t)
	if acct["handle"] != "brand" || acct["instance_url"] != "https://social.example" || acct["status"] != AccountActive {
		t.Fatalf("account = %v", acct)
	}

	// No column of the raw row holds the token.
	rows, err := b.db.Query(context.Background(), `SELECT * FROM portal_accounts WHERE id = ?`, acct["id"])
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("no row")
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err = rows.Scan(ptrs...)
	// The in-memory store has one connection: release it before going on.
	rows.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		var raw []byte
		switch x := v.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("column %s holds the token in clear", cols[i])
		}
	}

	// Listing never shows it either.
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/accounts", nil))
	if bytes.Contains(list.Body, []byte(secret)) || len(list.json(t)["accounts"].([]any)) != 2 {
		t.Fatalf("list = %s", list.Body)
	}
}

func TestConnectAccountValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	tests := []struct {
		name  string
		body  map[string]string
		field string
	}{
		{"refused token", map[string]string{"network": "mastodon", "instance_url": "https://social.example", "access_token": "wrong"}, "access_token"},
		{"unreachable server", map[string]string{"network": "mastodon", "instance_url": "https://unreachable.example", "access_token": "token-ada"}, "instance_url"},
		{"unknown network", map[string]string{"network": "myspace", "instance_url": "https://social.example", "access_token": "token-ada"}, "network"},
		{"no network", map[string]string{"instance_url": "https://social.example", "access_token": "token-ada"}, "network"},
		{"not a URL", map[string]string{"network": "mastodon", "instance_url": "https://", "access_token": "token-ada"}, "instance_url"},
		{"bad host", map[string]string{"network": "mastodon", "instance_url": "social example", "access_token": "token-ada"}, "instance_url"},
		{"URL with path", map[string]string{"network": "mastodon", "instance_url": "https://social.example/@ada", "access_token": "token-ada"}, "instance_url"},
		{"ftp URL", map[string]string{"network": "mastodon", "instance_url": "ftp://social.example", "access_token": "token-ada"}, "instance_url"},
		{"URL with credentials", map[string]string{"network": "mastodon", "instance_url": "https://u:p@social.example", "access_token": "token-ada"}, "instance_url"},
		{"no token", map[string]string{"network": "mastodon", "instance_url": "https://social.example"}, "access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", tt.body))
			if res.errorFields(t)[tt.field] == nil {
				t.Fatalf("no message for %s: %s", tt.field, res.Body)
			}
			if n := b.count(t, "portal_accounts"); n != 1 {
				t.Fatalf("%d accounts", n)
			}
		})
	}
}

func TestDeleteAccountFailsItsPendingTargets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	id := a.createPost(t, "Soon")["id"].(string)
	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/accounts/"+a.account, nil))
	a.owner.must(http.StatusNotFound, a.owner.do("GET", "/api/v1/accounts/"+a.account, nil))
	post := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	tg := post["targets"].([]any)[0].(map[string]any)
	if post["status"] != PostFailed || tg["status"] != TargetFailed || tg["error"] == "" {
		t.Fatalf("post after account removal = %v", post)
	}
}

func TestOAuthFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	start := func(c *client) url.Values {
		t.Helper()
		res := c.must(http.StatusOK, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts/oauth", map[string]string{"instance_url": "https://social.example"}))
		u, err := url.Parse(res.json(t)["authorize_url"].(string))
		if err != nil || u.Host != "social.example" {
			t.Fatalf("authorize_url %v", u)
		}
		q := u.Query()
		if q.Get("state") == "" || q.Get("redirect_uri") != "https://herald.test/oauth/mastodon/callback" || q.Get("scope") != "read write" {
			t.Fatalf("authorize query %v", q)
		}
		return q
	}
	q := start(a.owner)
	b.prov.addToken("oauth-token", "remote-oauth", "viaoauth")
	b.prov.codes["code-1"] = "oauth-token"

	// Another session of the same user cannot finish this flow.
	other := b.client(t)
	other.login("ada@acme.test", ownerPassword)
	res := other.do("GET", "/oauth/mastodon/callback?code=code-1&state="+url.QueryEscape(q.Get("state")), nil)
	if res.Status != http.StatusNotFound {
		t.Fatalf("foreign session: %d %s", res.Status, res.Body)
	}
	// That attempt used the state up: the flow must start again.
	res = a.owner.do("GET", "/oauth/mastodon/callback?code=code-1&state="+url.QueryEscape(q.Get("state")), nil)
	if res.Status != http.StatusNotFound {
		t.Fatalf("reused state: %d %s", res.Status, res.Body)
	}

	q = start(a.owner)
	res = a.owner.do("GET", "/oauth/mastodon/callback?code=code-1&state="+url.QueryEscape(q.Get("state")), nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", res.Status, res.Body)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "https://herald.test/workspaces/"+a.workspace+"?connected=acct_") {
		t.Fatalf("redirect to %q", loc)
	}
	accounts := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/accounts", nil)).json(t)["accounts"].([]any)
	if len(accounts) != 2 {
		t.Fatalf("%d accounts after OAuth", len(accounts))
	}
	if b.prov.registrations != 1 {
		t.Fatalf("app registered %d times, want once per instance", b.prov.registrations)
	}

	// A denied authorization goes back to the workspace with the reason.
	q = start(a.owner)
	res = a.owner.must(http.StatusSeeOther, a.owner.do("GET", "/oauth/mastodon/callback?error=access_denied&state="+url.QueryEscape(q.Get("state")), nil))
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "oauth_error=") {
		t.Fatalf("redirect to %q", loc)
	}

	// API tokens cannot start a flow bound to a browser session.
	tok := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]string{"name": "x"})).json(t)["token"].(string)
	script := b.client(t)
	script.bearer = tok
	script.must(http.StatusForbidden, script.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts/oauth", map[string]string{"instance_url": "https://social.example"}))
	// The client secret is stored encrypted.
	var n int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_oauth_apps WHERE client_secret_sealed = ?`, []byte("client-secret")).Scan(&n)
	if n != 0 {
		t.Fatal("client secret stored in clear")
	}
}
