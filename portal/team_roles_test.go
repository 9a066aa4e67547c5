package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestInviteRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	for _, r := range []Role{RoleEditor, RoleReadOnly} {
		c := b.invite(t, a, string(r)+"@acme.test", r)
		ws := c.must(http.StatusOK, c.do("GET", "/api/v1/workspaces/"+a.workspace, nil)).json(t)
		if ws["role"] != string(r) {
			t.Fatalf("role %v, want %s", ws["role"], r)
		}
	}
	before := b.count(t, "portal_invites")
	for _, bad := range []string{"", "admin", "review_link", "Manager"} {
		res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites",
			map[string]string{"email": "x@acme.test", "role": bad}))
		if res.errorFields(t)["role"] == nil {
			t.Fatalf("role %q: no field error in %s", bad, res.Body)
		}
	}
	if b.count(t, "portal_invites") != before {
		t.Fatal("a refused invitation was stored")
	}

	// The page offers every role.
	br := a.browser(t, b)
	page := br.must(http.StatusOK, br.get("/workspaces/"+a.workspace)).Body
	for _, r := range InviteRoles {
		if !strings.Contains(page, `<option value="`+string(r)+`"`) {
			t.Errorf("invite form does not offer %s", r)
		}
	}
	// A bad role sent by the form is a field error on the page too.
	res := br.must(http.StatusUnprocessableEntity, br.post("/workspaces/"+a.workspace+"/invites",
		url.Values{"csrf_token": {pageCSRF(t, page)}, "email": {"y@acme.test"}, "role": {"emperor"}}))
	if !strings.Contains(res.Body, "must be one of manager, editor") {
		t.Fatalf("no role error on the page:\n%s", excerpt(res.Body))
	}
	if b.count(t, "portal_invites") != before {
		t.Fatal("a refused invitation was stored")
	}
}

// TestEditorAndReadOnly checks the two roles' edges that matter most: an
// editor composes and schedules but does not touch accounts or approve;
// a read-only member sees and changes nothing.
func TestEditorAndReadOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ed := b.invite(t, a, "ed@acme.test", RoleEditor)
	ro := b.invite(t, a, "ro@acme.test", RoleReadOnly)

	post := ed.must(http.StatusCreated, ed.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "by the editor", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)["id"].(string)
	ed.must(http.StatusOK, ed.do("GET", "/api/v1/workspaces/"+a.workspace+"/accounts", nil))
	ed.must(http.StatusForbidden, ed.do("DELETE", "/api/v1/accounts/"+a.account, nil))
	ed.must(http.StatusForbidden, ed.do("PUT", "/api/v1/workspaces/"+a.workspace+"/approval-policy", map[string]string{"approval_policy": PolicyNone}))
	ed.must(http.StatusForbidden, ed.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites", map[string]string{"email": "z@acme.test", "role": "manager"}))

	ro.must(http.StatusOK, ro.do("GET", "/api/v1/posts/"+post, nil))
	ro.must(http.StatusOK, ro.do("GET", "/api/v1/accounts/"+a.account, nil))
	ro.must(http.StatusForbidden, ro.do("PATCH", "/api/v1/posts/"+post, map[string]any{"text": "changed"}))
	ro.must(http.StatusForbidden, ro.do("DELETE", "/api/v1/posts/"+post, nil))
	ro.must(http.StatusForbidden, ro.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "x", "account_ids": []string{a.account}, "scheduled_at": future()}))

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+post, nil)).json(t)
	if got["text"] != "by the editor" {
		t.Fatalf("post = %v", got["text"])
	}
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/accounts/"+a.account, nil))

	// The editor cannot decide the internal stage of approval.
	a.owner.must(http.StatusOK, a.owner.do("PUT", "/api/v1/workspaces/"+a.workspace+"/approval-policy", map[string]string{"approval_policy": PolicyInternal}))
	p2 := ed.must(http.StatusCreated, ed.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "needs approval", "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)
	if p2["status"] != "pending_approval" {
		t.Fatalf("status %v, want pending_approval", p2["status"])
	}
	res := ed.do("POST", "/api/v1/posts/"+p2["id"].(string)+"/approve", map[string]any{"revision": p2["revision"]})
	if res.Status != http.StatusForbidden {
		t.Fatalf("editor approving: status %d, want 403: %s", res.Status, res.Body)
	}
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ed := b.invite(t, a, "ed@acme.test", RoleEditor)
	edID := ed.must(http.StatusOK, ed.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["id"].(string)
	ownerID := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["id"].(string)
	base := "/api/v1/workspaces/" + a.workspace + "/members/"

	// Only owners remove; an owner is not removed this way.
	ed.must(http.StatusForbidden, ed.do("DELETE", base+ownerID, nil))
	res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("DELETE", base+ownerID, nil))
	if res.errorFields(t)["user_id"] == nil {
		t.Fatalf("no field error: %s", res.Body)
	}
	a.owner.must(http.StatusNotFound, a.owner.do("DELETE", base+"user_nobody", nil))

	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", base+edID, nil))
	ed.must(http.StatusNotFound, ed.do("GET", "/api/v1/workspaces/"+a.workspace, nil))
	a.owner.must(http.StatusNotFound, a.owner.do("DELETE", base+edID, nil))

	// Through the page: the member list offers the button, the form removes.
	ro := b.invite(t, a, "ro@acme.test", RoleReadOnly)
	roID := ro.must(http.StatusOK, ro.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["id"].(string)
	br := a.browser(t, b)
	page := br.must(http.StatusOK, br.get("/workspaces/"+a.workspace)).Body
	action := "/workspaces/" + a.workspace + "/members/" + roID + "/remove"
	if !strings.Contains(page, `action="`+action+`"`) {
		t.Fatal("no remove form for the member")
	}
	br.must(http.StatusSeeOther, br.post(action, url.Values{"csrf_token": {pageCSRF(t, page)}}), "/workspaces/"+a.workspace+"#team")
	ro.must(http.StatusNotFound, ro.do("GET", "/api/v1/workspaces/"+a.workspace, nil))
}

func TestTransferOwnership(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	ws2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Second", "timezone": "UTC"})).json(t)["id"].(string)
	mgr := b.invite(t, a, "mgr@acme.test", RoleManager)
	mgrID := mgr.must(http.StatusOK, mgr.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)["id"].(string)

	// Refused: not an owner, oneself, nobody, by API token.
	mgr.must(http.StatusForbidden, mgr.do("POST", "/api/v1/agency/transfer-ownership", map[string]string{"user_id": mgrID}))
	for _, bad := range []string{"", "user_nobody"} {
		res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/agency/transfer-ownership", map[string]string{"user_id": bad}))
		if res.errorFields(t)["user_id"] == nil {
			t.Fatalf("%q: no field error: %s", bad, res.Body)
		}
	}
	tok := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/tokens", map[string]any{"name": "script", "scopes": []string{"read", "write"}})).json(t)["token"].(string)
	script := b.client(t)
	script.bearer = tok
	script.must(http.StatusForbidden, script.do("POST", "/api/v1/agency/transfer-ownership", map[string]string{"user_id": mgrID}))
	mgr.must(http.StatusNotFound, mgr.do("GET", "/api/v1/workspaces/"+ws2, nil))

	// Through the page's form.
	br := a.browser(t, b)
	page := br.must(http.StatusOK, br.get("/workspaces/"+a.workspace)).Body
	br.must(http.StatusSeeOther, br.post("/settings/transfer-ownership", url.Values{"csrf_token": {pageCSRF(t, page)},
		"user_id": {mgrID}, "workspace_id": {a.workspace}}), "/workspaces/"+a.workspace+"#team")

	// The new owner reaches every workspace; the old one manages them all.
	me := mgr.must(http.StatusOK, mgr.do("GET", "/api/v1/me", nil)).json(t)["user"].(map[string]any)
	if me["role"] != "owner" {
		t.Fatalf("new owner's role %v", me["role"])
	}
	mgr.must(http.StatusOK, mgr.do("GET", "/api/v1/workspaces/"+ws2, nil))
	for _, ws := range []string{a.workspace, ws2} {
		got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+ws, nil)).json(t)
		if got["role"] != string(RoleManager) {
			t.Fatalf("previous owner's role in %s: %v", ws, got["role"])
		}
	}
	a.owner.must(http.StatusForbidden, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Third", "timezone": "UTC"}))
	// Owners do not appear twice in the member list.
	members := mgr.must(http.StatusOK, mgr.do("GET", "/api/v1/workspaces/"+a.workspace+"/members", nil)).json(t)["members"].([]any)
	if len(members) != 2 {
		t.Fatalf("members %v", members)
	}
}
