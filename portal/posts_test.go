package portal

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts a file to a workspace's media library.
func (c *client) upload(workspace, name string, content []byte, description string) *response {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if description != "" {
		mw.WriteField("description", description)
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	return c.do("POST", "/api/v1/workspaces/"+workspace+"/media", nil, func(r *http.Request) {
		r.Body = readerCloser{bytes.NewReader(body.Bytes())}
		r.ContentLength = int64(body.Len())
		r.Header.Set("Content-Type", mw.FormDataContentType())
	})
}

type readerCloser struct{ *bytes.Reader }

func (readerCloser) Close() error { return nil }

func TestCreatePostValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	// A second workspace of the same agency, with its own media.
	ws2 := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces", map[string]string{"name": "Two", "timezone": "UTC"})).json(t)["id"].(string)
	foreignMedia := a.owner.must(http.StatusCreated, a.owner.upload(ws2, "a.png", pngBytes(t), "")).json(t)["id"].(string)
	ownMedia := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "b.png", pngBytes(t), "")).json(t)["id"].(string)

	valid := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"text": "Hello", "account_ids": []string{a.account}, "media_ids": []string{ownMedia}, "scheduled_at": future()}
		edit(m)
		return m
	}
	tests := []struct {
		name   string
		body   any
		status int
		field  string // expected in error.fields
		says   string // expected in the response body
	}{
		{name: "over-long text", body: valid(func(m map[string]any) { m["text"] = strings.Repeat("é", 501) }), status: 422, field: "text", says: "limit is 500"},
		{name: "empty text", body: valid(func(m map[string]any) { m["text"] = "  " }), status: 422, field: "text"},
		{name: "past time", body: valid(func(m map[string]any) { m["scheduled_at"] = "2020-01-01T09:00" }), status: 422, field: "scheduled_at", says: "in the past"},
		{name: "DST gap", body: valid(func(m map[string]any) { m["scheduled_at"] = "2030-03-31T02:30" }), status: 422, field: "scheduled_at", says: "does not exist"},
		{name: "bad time format", body: valid(func(m map[string]any) { m["scheduled_at"] = "next tuesday" }), status: 422, field: "scheduled_at"},
		{name: "no time", body: valid(func(m map[string]any) { delete(m, "scheduled_at") }), status: 422, field: "scheduled_at"},
		{name: "time and now", body: valid(func(m map[string]any) { m["publish_now"] = true }), status: 422, field: "publish_now"},
		{name: "media of another workspace", body: valid(func(m map[string]any) { m["media_ids"] = []string{ownMedia, foreignMedia} }), status: 422, field: "media_ids[1]"},
		{name: "account of another agency", body: valid(func(m map[string]any) { m["account_ids"] = []string{other.account} }), status: 422, field: "account_ids[0]"},
		{name: "no accounts", body: valid(func(m map[string]any) { m["account_ids"] = []string{} }), status: 422, field: "account_ids"},
		{name: "duplicate account", body: valid(func(m map[string]any) { m["account_ids"] = []string{a.account, a.account} }), status: 422, field: "account_ids[1]"},
		{name: "malformed JSON", body: "{\"text\": \"hi\",\n \"account_ids\": [}", status: 400, says: "line 2"},
		{name: "truncated JSON", body: `{"text": "hi"`, status: 400, says: "malformed JSON"},
		{name: "unknown field", body: valid(func(m map[string]any) { m["colour"] = "red" }), status: 400, field: "colour"},
		{name: "wrong type", body: valid(func(m map[string]any) { m["account_ids"] = "acct" }), status: 400, field: "account_ids", says: "must be a list"},
		{name: "two objects", body: `{"text": "hi"} {}`, status: 400, says: "one JSON object"},
		{name: "empty body", body: "", status: 400, says: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", tt.body)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.field != "" {
				if f := res.errorFields(t); f[tt.field] == nil {
					t.Fatalf("no message for field %q: %s", tt.field, res.Body)
				}
			}
			if tt.says != "" && !strings.Contains(string(res.Body), tt.says) {
				t.Fatalf("response does not say %q: %s", tt.says, res.Body)
			}
			if n := b.count(t, "portal_posts"); n != 0 {
				t.Fatalf("%d posts written", n)
			}
			if n := b.trigger.count(); n != 0 {
				t.Fatalf("%d schedules made", n)
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", `{"text":"hi"}`, header("Content-Type", "text/plain"))
		if res.Status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		big := `{"text": "` + strings.Repeat("a", int(testConfig().MaxJSONBytes)) + `"}`
		res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", big)
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %.200s", res.Status, res.Body)
		}
	})
}

func TestPostLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "pic.png", pngBytes(t), "a square")).json(t)["id"].(string)

	created := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Launch day", "account_ids": []string{a.account}, "media_ids": []string{media}, "scheduled_at": "2030-10-27T02:30"})).json(t)
	id := created["id"].(string)
	if created["status"] != PostScheduled || created["revision"] != float64(1) || created["zone"] != "Europe/Paris" ||
		created["scheduled_at"] != "2030-10-27T02:30" || created["scheduled_at_utc"] != "2030-10-27T00:30:00Z" {
		t.Fatalf("created post = %v", created)
	}
	sch := b.trigger.schedule(id)
	if sch == nil || sch.GetRevision() != 1 || sch.GetPostId() != id || sch.GetTenantId() != a.id || sch.GetZone() != "Europe/Paris" ||
		!sch.GetDueAt().AsTime().Equal(time.Date(2030, 10, 27, 0, 30, 0, 0, time.UTC)) {
		t.Fatalf("schedule = %v", sch)
	}
	var synced bool
	b.db.QueryRow(context.Background(), `SELECT schedule_synced FROM portal_posts WHERE id = ?`, id).Scan(&synced)
	if !synced {
		t.Fatal("post not marked synced after Trigger took it")
	}

	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+id, nil)).json(t)
	targets := got["targets"].([]any)
	if len(targets) != 1 || targets[0].(map[string]any)["status"] != TargetPending || got["media_ids"].([]any)[0] != media {
		t.Fatalf("post = %v", got)
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/posts", nil)).json(t)
	if n := len(list["posts"].([]any)); n != 1 {
		t.Fatalf("%d posts listed", n)
	}

	// An edit is a new revision, scheduled again.
	edited := a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": "Launch day!", "scheduled_at": "2030-10-28T10:00"})).json(t)
	if edited["revision"] != float64(2) || edited["text"] != "Launch day!" || edited["scheduled_at_utc"] != "2030-10-28T09:00:00Z" {
		t.Fatalf("edited = %v", edited)
	}
	if sch := b.trigger.schedule(id); sch.GetRevision() != 2 || !sch.GetDueAt().AsTime().Equal(time.Date(2030, 10, 28, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("schedule after edit = %v", sch)
	}
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{"text": strings.Repeat("x", 600)}))
	a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PATCH", "/api/v1/posts/"+id, map[string]any{}))
	if sch := b.trigger.schedule(id); sch.GetRevision() != 2 {
		t.Fatalf("a refused edit reached Trigger: %v", sch)
	}

	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/posts/"+id, nil))
	if b.trigger.schedule(id) != nil {
		t.Fatal("schedule not cancelled")
	}
	a.owner.must(http.StatusNotFound, a.owner.do("GET", "/api/v1/posts/"+id, nil))
	if n := b.count(t, "portal_post_targets"); n != 0 {
		t.Fatalf("%d targets left", n)
	}
}

func TestPublishNow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	before := time.Now().Add(-time.Second)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Now", "account_ids": []string{a.account}, "publish_now": true})).json(t)
	due := b.trigger.schedule(post["id"].(string)).GetDueAt().AsTime()
	if due.Before(before) || due.After(time.Now()) {
		t.Fatalf("due %v, want about now", due)
	}
	// Its time has come: it shows as publishing and can no longer be edited.
	if post["status"] != PostPublishing {
		t.Fatalf("status %v", post["status"])
	}
	a.owner.must(http.StatusConflict, a.owner.do("PATCH", "/api/v1/posts/"+post["id"].(string), map[string]any{"text": "Later"}))
}

func TestTriggerFailureLeavesNothingHalfWritten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	kept := a.createPost(t, "Kept")
	keptID := kept["id"].(string)

	b.trigger.setFail(errs.E(errs.Unavailable, "trigger is down"))
	res := a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Lost", "account_ids": []string{a.account}, "scheduled_at": future()})
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("create while Trigger is down: %d %v %s", res.Status, res.Header, res.Body)
	}
	if n := b.count(t, "portal_posts"); n != 1 {
		t.Fatalf("%d posts, want only the earlier one", n)
	}
	if n := b.count(t, "portal_post_targets"); n != 1 {
		t.Fatalf("%d targets, want only the earlier post's", n)
	}

	a.owner.must(http.StatusServiceUnavailable, a.owner.do("PATCH", "/api/v1/posts/"+keptID, map[string]any{"text": "Changed"}))
	got := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+keptID, nil)).json(t)
	if got["text"] != "Kept" || got["revision"] != float64(1) || got["scheduled_at_utc"] != kept["scheduled_at_utc"] {
		t.Fatalf("post after failed edit = %v", got)
	}

	a.owner.must(http.StatusServiceUnavailable, a.owner.do("DELETE", "/api/v1/posts/"+keptID, nil))
	a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+keptID, nil))

	// Once Trigger is back, the resync loop gives it the restored revision:
	// it may have taken the failed edit's.
	b.trigger.setFail(nil)
	if n := b.svc.resync(context.Background(), time.Now().Add(time.Minute)); n != 1 {
		t.Fatalf("resynced %d posts, want 1", n)
	}
	if sch := b.trigger.schedule(keptID); sch.GetRevision() != 1 {
		t.Fatalf("schedule after resync = %v", sch)
	}
	if n := b.svc.resync(context.Background(), time.Now().Add(time.Minute)); n != 0 {
		t.Fatalf("resynced %d posts again", n)
	}
}

// publish delivers an event through the bus as Publisher's outbox would.
func (b *bundle) publish(t *testing.T, id, topic string, payload []byte) {
	t.Helper()
	if err := b.bus.Publish(context.Background(), &bus.Message{ID: id, Topic: topic, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

func TestGetPublishJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	media := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "pic.png", pngBytes(t), "alt text")).json(t)
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Hello", "account_ids": []string{a.account}, "media_ids": []string{media["id"].(string)}, "scheduled_at": future()})).json(t)
	id := post["id"].(string)
	ctx := context.Background()

	res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	job := res.GetJob()
	if !res.GetPublishable() || job.GetText() != "Hello" || len(job.GetTargets()) != 1 || len(job.GetMedia()) != 1 {
		t.Fatalf("job = %v", res)
	}
	if tg := job.GetTargets()[0]; tg.GetAccessToken() != "token-ada" || tg.GetInstanceUrl() != "https://social.example" || tg.GetNetwork() != "mastodon" {
		t.Fatalf("target = %v", tg)
	}
	if m := job.GetMedia()[0]; m.GetMimeType() != "image/png" || m.GetDescription() != "alt text" || !strings.HasPrefix(m.GetBlobKey(), "media/"+a.id+"/"+a.workspace+"/") {
		t.Fatalf("media = %v", m)
	}
	if ok, _ := b.blob.Exists(ctx, job.GetMedia()[0].GetBlobKey()); !ok {
		t.Fatal("blob key names no object")
	}

	// A one-shot post has one firing: naming it changes nothing.
	res, err = b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1, DueAt: timestamppb.Now()})
	if err != nil || !res.GetPublishable() || len(res.GetJob().GetTargets()) != 1 {
		t.Fatalf("one-shot job with a due_at = %v, %v", res, err)
	}

	notPublishable := []struct {
		name string
		req  *portalv1.GetPublishJobRequest
	}{
		{"old revision", &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 2}},
		{"other tenant", &portalv1.GetPublishJobRequest{TenantId: "agency_other", PostId: id, Revision: 1}},
		{"unknown post", &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: "post_nope", Revision: 1}},
	}
	for _, tt := range notPublishable {
		res, err := b.svc.GetPublishJob(ctx, tt.req)
		if err != nil || res.GetPublishable() || res.GetJob() != nil || res.GetReason() == "" {
			t.Errorf("%s: %v, %v", tt.name, res, err)
		}
	}
	if _, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{PostId: id}); !errs.Is(err, errs.Invalid) {
		t.Errorf("missing tenant and revision: %v", err)
	}

	a.owner.must(http.StatusNoContent, a.owner.do("DELETE", "/api/v1/posts/"+id, nil))
	res, err = b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: id, Revision: 1})
	if err != nil || res.GetPublishable() {
		t.Fatalf("deleted post: %v %v", res, err)
	}
}

func TestListRecipients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	b.invite(t, a, "max@acme.test", RoleManager)
	ctx := context.Background()
	res, err := b.svc.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: a.id, WorkspaceId: a.workspace})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.GetRecipients() {
		got[r.GetEmail()] = r.GetRole()
	}
	if len(got) != 2 || got["ada@acme.test"] != "owner" || got["max@acme.test"] != "manager" {
		t.Fatalf("recipients = %v", got)
	}
	if _, err := b.svc.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: "agency_x", WorkspaceId: a.workspace}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("other tenant: %v", err)
	}
}
