package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// invite has the owner of a invite email to a's workspace and signs the new
// user in.
func (b *bundle) invite(t *testing.T, a *agency, email string, role Role) *client {
	t.Helper()
	inv := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites",
		map[string]string{"email": email, "role": string(role)})).json(t)
	link := inv["invite_url"].(string)
	if !strings.HasPrefix(link, "https://herald.test/invites/") {
		t.Fatalf("invite_url %q", link)
	}
	token := link[strings.LastIndex(link, "/")+1:]
	c := b.client(t)
	c.signIn(c.must(http.StatusOK, c.do("POST", "/api/v1/invites/"+token+"/accept", map[string]string{"name": "New " + string(role), "password": "a long passphrase"})))
	return c
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	post := a.createPost(t, "Agency A's post")["id"].(string)
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "a.png", pngBytes(t), "")).json(t)["id"].(string)

	other := b.otherAgency(t, "beta")
	eve := other.owner
	tests := []struct{ method, path string }{
		{"GET", "/api/v1/workspaces/" + a.workspace},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/posts"},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/accounts"},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/media"},
		{"GET", "/api/v1/workspaces/" + a.workspace + "/members"},
		{"GET", "/api/v1/posts/" + post},
		{"PATCH", "/api/v1/posts/" + post},
		{"DELETE", "/api/v1/posts/" + post},
		{"GET", "/api/v1/media/" + media},
		{"GET", "/api/v1/media/" + media + "/content"},
		{"GET", "/api/v1/accounts/" + a.account},
		{"DELETE", "/api/v1/accounts/" + a.account},
		{"POST", "/api/v1/workspaces/" + a.workspace + "/posts"},
		{"POST", "/api/v1/workspaces/" + a.workspace + "/accounts"},
		{"POST", "/api/v1/workspaces/" + a.workspace + "/invites"},
	}
	bodies := map[string]any{
		"PATCH": map[string]any{"text": "hijacked"},
		"POST":  map[string]any{},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body any
			if b, ok := bodies[tt.method]; ok && !strings.HasSuffix(tt.path, "/posts") {
				body = b
			}
			if tt.method == "POST" && strings.HasSuffix(tt.path, "/posts") {
				body = map[string]any{"text": "x", "account_ids": []string{other.account}, "scheduled_at": future()}
			}
			res := eve.do(tt.method, tt.path, body)
			if res.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", res.Status, res.Body)
			}
		})
	}
	if n := len(eve.must(http.StatusOK, eve.do("GET", "/api/v1/workspaces", nil)).json(t)["workspaces"].([]any)); n != 1 {
		t.Fatalf("agency B sees %d workspaces", n)
	}
	// Nothing of A's changed.
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+post, nil)).json(t)
	if got["text"] != "Agency A's post" {
		t.Fatalf("A's post = %v", got)
	}
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/accounts/"+a.account, nil))
}

func TestRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	post := a.createPost(t, "For review")["id"].(string)
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "a.png", pngBytes(t), "")).json(t)["id"].(string)
	// A workspace the invitees are not members of.
	hidden := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Hidden", "timezone": "UTC"})).json(t)["id"].(string)

	approver := b.invite(t, a, "cli@client.test", RoleClientApprover)
	manager := b.invite(t, a, "max@acme.test", RoleManager)
	newPost := map[string]any{"text": "x", "account_ids": []string{a.account}, "scheduled_at": future()}

	tests := []struct {
		who    string
		c      *client
		method string
		path   string
		body   any
		want   int
	}{
		{"approver", approver, "GET", "/api/v1/posts/" + post, nil, 200},
		{"approver", approver, "GET", "/api/v1/workspaces/" + a.workspace + "/posts", nil, 200},
		{"approver", approver, "GET", "/api/v1/media/" + media + "/content", nil, 200},
		{"approver", approver, "POST", "/api/v1/workspaces/" + a.workspace + "/posts", newPost, 403},
		{"approver", approver, "PATCH", "/api/v1/posts/" + post, map[string]any{"text": "y"}, 403},
		{"approver", approver, "DELETE", "/api/v1/posts/" + post, nil, 403},
		{"approver", approver, "GET", "/api/v1/workspaces/" + a.workspace + "/accounts", nil, 403},
		{"approver", approver, "GET", "/api/v1/workspaces/" + a.workspace + "/media", nil, 403},
		{"approver", approver, "POST", "/api/v1/workspaces", map[string]any{"name": "Mine", "timezone": "UTC"}, 403},
		{"approver", approver, "POST", "/api/v1/workspaces/" + a.workspace + "/invites", map[string]any{"email": "x@y.test", "role": "owner"}, 403},
		{"approver", approver, "GET", "/api/v1/workspaces/" + hidden, nil, 404},
		{"manager", manager, "POST", "/api/v1/workspaces/" + a.workspace + "/posts", newPost, 201},
		{"manager", manager, "GET", "/api/v1/workspaces/" + a.workspace + "/accounts", nil, 200},
		{"manager", manager, "GET", "/api/v1/workspaces/" + a.workspace + "/members", nil, 200},
		{"manager", manager, "POST", "/api/v1/workspaces/" + a.workspace + "/invites", map[string]any{"email": "x@y.test", "role": "manager"}, 403},
		{"manager", manager, "POST", "/api/v1/workspaces", map[string]any{"name": "Mine", "timezone": "UTC"}, 403},
		{"manager", manager, "GET", "/api/v1/workspaces/" + hidden, nil, 404},
		{"manager", manager, "GET", "/api/v1/workspaces/" + hidden + "/posts", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.method+" "+tt.path, func(t *testing.T) {
			if res := tt.c.do(tt.method, tt.path, tt.body); res.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.want, res.Body)
			}
		})
	}
	if n := len(approver.must(http.StatusOK, approver.do("GET", "/api/v1/workspaces", nil)).json(t)["workspaces"].([]any)); n != 1 {
		t.Fatalf("approver sees %d workspaces, want 1", n)
	}
}

func TestInvites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ws := "/api/v1/workspaces/" + a.workspace + "/invites"

	res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", ws, map[string]string{"email": "nope", "role": "admin"}))
	if f := res.errorFields(t); f["email"] == nil || f["role"] == nil {
		t.Fatalf("fields = %v", f)
	}

	inv := a.owner.must(http.StatusCreated, a.owner.do("POST", ws, map[string]string{"email": "max@acme.test", "role": "client_approver"})).json(t)
	link := inv["invite_url"].(string)
	token := link[strings.LastIndex(link, "/")+1:]
	accept := "/api/v1/invites/" + token + "/accept"
	c := b.client(t)
	res = c.must(http.StatusUnprocessableEntity, c.do("POST", accept, map[string]string{"name": "", "password": "short"}))
	if f := res.errorFields(t); f["name"] == nil || f["password"] == nil {
		t.Fatalf("fields = %v", f)
	}
	c.signIn(c.must(http.StatusOK, c.do("POST", accept, map[string]string{"name": "Max", "password": "a long passphrase"})))
	// A token works once.
	again := b.client(t)
	again.must(http.StatusNotFound, again.do("POST", accept, map[string]string{"name": "Max", "password": "a long passphrase"}))
	var stored int
	b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM portal_invites WHERE token_hash = ?`, token).Scan(&stored)
	if stored != 0 {
		t.Fatal("invite token stored in clear")
	}

	// Inviting the existing user again, as manager, upgrades the role once
	// they prove who they are.
	inv = a.owner.must(http.StatusCreated, a.owner.do("POST", ws, map[string]string{"email": "MAX@acme.test", "role": "manager"})).json(t)
	link = inv["invite_url"].(string)
	accept = "/api/v1/invites/" + link[strings.LastIndex(link, "/")+1:] + "/accept"
	c2 := b.client(t)
	c2.must(http.StatusUnprocessableEntity, c2.do("POST", accept, map[string]string{"password": "not the password"}))
	c2.signIn(c2.must(http.StatusOK, c2.do("POST", accept, map[string]string{"password": "a long passphrase"})))
	members := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/members", nil)).json(t)["members"].([]any)
	roles := map[string]string{}
	for _, m := range members {
		mm := m.(map[string]any)
		roles[mm["email"].(string)] = mm["role"].(string)
	}
	if len(roles) != 2 || roles["max@acme.test"] != "manager" || roles["ada@acme.test"] != "owner" {
		t.Fatalf("members = %v", roles)
	}
	if n := b.count(t, "portal_users"); n != 2 {
		t.Fatalf("%d users, want 2", n)
	}

	// An owner invite makes an agency owner, who sees every workspace.
	owner2 := b.invite(t, a, "olga@acme.test", RoleOwner)
	me := owner2.must(http.StatusOK, owner2.do("GET", "/api/v1/me", nil)).json(t)
	if me["user"].(map[string]any)["role"] != "owner" {
		t.Fatalf("me = %v", me)
	}
	owner2.must(http.StatusCreated, owner2.do("POST", "/api/v1/workspaces", map[string]string{"name": "Olga's", "timezone": "Asia/Tokyo"}))
}
