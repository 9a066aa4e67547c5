package simnet_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

// xrpc sends one XRPC call and decodes the JSON answer.
func xrpc(t *testing.T, base, method, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	verb, path := "GET", "/xrpc/"+method
	var rd *bytes.Reader
	if body != nil {
		verb = "POST"
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	var req *http.Request
	if rd != nil {
		req, _ = http.NewRequest(verb, base+path, rd)
	} else {
		req, _ = http.NewRequest(verb, base+path, nil)
	}
	if _, raw := body.([]byte); raw {
		req.Header.Set("Content-Type", "image/png")
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

func blueskySetup(t *testing.T, opts simnet.Options) (*simnet.Server, string, *clock) {
	t.Helper()
	c := newClock()
	opts.Now = c.Now
	srv := simnet.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL, c
}

func TestBlueskySessionAndPost(t *testing.T) {
	t.Parallel()
	srv, base, c := blueskySetup(t, simnet.Options{})

	// Accounts come from the control endpoint.
	res, err := http.Post(base+"/_simnet/bluesky/accounts", "application/json", strings.NewReader(`{"handle":"Alice.Test","password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var acct map[string]string
	_ = json.NewDecoder(res.Body).Decode(&acct)
	res.Body.Close()
	did := acct["did"]
	if res.StatusCode != 200 || !strings.HasPrefix(did, "did:plc:") || acct["handle"] != "alice.test" {
		t.Fatalf("create account: %d %v", res.StatusCode, acct)
	}

	st, _, body := xrpc(t, base, "com.atproto.server.createSession", "", map[string]string{"identifier": "alice.test", "password": "nope"})
	if st != 401 || body["error"] != "AuthenticationRequired" {
		t.Errorf("wrong password: %d %v", st, body)
	}
	st, _, sess := xrpc(t, base, "com.atproto.server.createSession", "", map[string]string{"identifier": "alice.test", "password": "pw"})
	if st != 200 || sess["did"] != did {
		t.Fatalf("createSession: %d %v", st, sess)
	}
	access, refresh := sess["accessJwt"].(string), sess["refreshJwt"].(string)

	st, _, body = xrpc(t, base, "com.atproto.repo.uploadBlob", access, []byte("\x89PNG\r\n\x1a\nnot really"))
	blob := body["blob"]
	if st != 200 || blob == nil {
		t.Fatalf("uploadBlob: %d %v", st, body)
	}
	rkey := "3kabcdefghij2"
	post := map[string]any{
		"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey,
		"record": map[string]any{
			"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-03-01T12:01:00.000Z",
			"embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "x", "image": blob}}},
		},
	}
	st, h, body := xrpc(t, base, "com.atproto.repo.createRecord", access, post)
	if st != 200 || body["uri"] != "at://"+did+"/app.bsky.feed.post/"+rkey || body["cid"] == "" {
		t.Fatalf("createRecord: %d %v", st, body)
	}
	if h.Get("RateLimit-Limit") != "5000" || h.Get("RateLimit-Remaining") != "4997" || h.Get("RateLimit-Policy") != "5000;w=3600" {
		t.Errorf("rate-limit headers %v", h)
	}
	if reset, _ := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); reset != c.Now().Truncate(time.Hour).Add(time.Hour).Unix() {
		t.Errorf("RateLimit-Reset %q", h.Get("RateLimit-Reset"))
	}
	// A taken record key: the reference PDS's bare 500.
	st, _, body = xrpc(t, base, "com.atproto.repo.createRecord", access, post)
	if st != 500 || body["error"] != "InternalServerError" {
		t.Errorf("duplicate rkey: %d %v", st, body)
	}
	// Record keys of posts are TIDs.
	post["rkey"] = "my-post"
	if st, _, body = xrpc(t, base, "com.atproto.repo.createRecord", access, post); st != 400 || body["error"] != "InvalidRequest" {
		t.Errorf("non-TID rkey: %d %v", st, body)
	}

	st, _, body = xrpc(t, base, "com.atproto.repo.getRecord?repo="+did+"&collection=app.bsky.feed.post&rkey="+rkey, "", nil)
	if st != 200 || body["value"].(map[string]any)["text"] != "hi" {
		t.Errorf("getRecord: %d %v", st, body)
	}
	if st, _, body = xrpc(t, base, "com.atproto.identity.resolveHandle?handle=alice.test", "", nil); st != 200 || body["did"] != did {
		t.Errorf("resolveHandle: %d %v", st, body)
	}
	if st, _, body = xrpc(t, base, "com.atproto.identity.resolveHandle?handle=nobody.test", "", nil); st != 400 {
		t.Errorf("resolveHandle of nobody: %d %v", st, body)
	}

	var listed struct {
		Count int                  `json:"count"`
		Posts []simnet.BlueskyPost `json:"posts"`
	}
	r, err := http.Get(base + "/_simnet/bluesky/posts?handle=alice.test")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(r.Body).Decode(&listed)
	r.Body.Close()
	if listed.Count != 1 || listed.Posts[0].Text != "hi" || listed.Posts[0].RKey != rkey {
		t.Errorf("posts %+v", listed)
	}

	// Sessions: the refresh token is not an access token, access tokens
	// expire, refresh tokens are used once.
	if st, _, body = xrpc(t, base, "com.atproto.server.getSession", refresh, nil); st != 400 || body["error"] != "InvalidToken" {
		t.Errorf("refresh token as bearer: %d %v", st, body)
	}
	if st, _, body = xrpc(t, base, "com.atproto.server.getSession", "", nil); st != 401 {
		t.Errorf("no bearer: %d %v", st, body)
	}
	c.Advance(2 * time.Hour)
	if st, _, body = xrpc(t, base, "com.atproto.server.getSession", access, nil); st != 400 || body["error"] != "ExpiredToken" {
		t.Errorf("expired access token: %d %v", st, body)
	}
	st, _, body = xrpc(t, base, "com.atproto.server.refreshSession", refresh, map[string]any{})
	if st != 200 || body["accessJwt"] == access {
		t.Fatalf("refreshSession: %d %v", st, body)
	}
	if st, _, _ = xrpc(t, base, "com.atproto.server.refreshSession", refresh, map[string]any{}); st != 400 {
		t.Errorf("a used refresh token: %d", st)
	}
	access = body["accessJwt"].(string)

	if st, _, _ = xrpc(t, base, "com.atproto.repo.deleteRecord", access, map[string]string{"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}); st != 200 {
		t.Errorf("deleteRecord: %d", st)
	}
	if st, _, body = xrpc(t, base, "com.atproto.repo.getRecord?repo="+did+"&collection=app.bsky.feed.post&rkey="+rkey, "", nil); st != 400 || body["error"] != "RecordNotFound" {
		t.Errorf("getRecord after delete: %d %v", st, body)
	}
	if p := srv.BlueskyPosts(); len(p) != 1 || !p[0].Deleted {
		t.Errorf("BlueskyPosts %+v", p)
	}
}

func TestBlueskyRecordChecks(t *testing.T) {
	t.Parallel()
	srv, base, _ := blueskySetup(t, simnet.Options{Bluesky: simnet.BlueskyOptions{WritePoints: 4}})
	did := srv.CreateBlueskyAccount("bob.test", "pw")
	_, _, sess := xrpc(t, base, "com.atproto.server.createSession", "", map[string]string{"identifier": did, "password": "pw"})
	access := sess["accessJwt"].(string)
	create := func(record map[string]any) (int, map[string]any) {
		record["$type"] = "app.bsky.feed.post"
		record["createdAt"] = "2026-03-01T12:01:00Z"
		st, _, body := xrpc(t, base, "com.atproto.repo.createRecord", access, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": record})
		return st, body
	}
	for name, rec := range map[string]map[string]any{
		"301 graphemes": {"text": strings.Repeat("é", 301)},
		"unknown blob": {"text": "x", "embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{
			map[string]any{"alt": "", "image": map[string]any{"$type": "blob", "ref": map[string]string{"$link": "bafkreinope"}, "mimeType": "image/png", "size": 1}},
		}}},
		"facet past the text": {"text": "x", "facets": []any{map[string]any{"index": map[string]int{"byteStart": 0, "byteEnd": 5}, "features": []any{}}}},
	} {
		if st, body := create(rec); st != 400 || body["error"] != "InvalidRequest" {
			t.Errorf("%s: %d %v", name, st, body)
		}
	}
	if st, body := create(map[string]any{"text": strings.Repeat("é", 300)}); st != 200 {
		t.Errorf("300 graphemes: %d %v", st, body)
	}
	// 4 points an hour: the second create (3 points each) is refused.
	st, body := create(map[string]any{"text": "again"})
	if st != 429 || body["error"] != "RateLimitExceeded" {
		t.Errorf("over the write budget: %d %v", st, body)
	}
	srv.TakedownBlueskyAccount(did)
	if st, _, body := xrpc(t, base, "com.atproto.server.getSession", access, nil); st != 400 || body["error"] != "AccountTakedown" {
		t.Errorf("after a takedown: %d %v", st, body)
	}
}
