package simnet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDiscordControlAndExecute(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	res, err := http.Post(ts.URL+"/_simnet/discord/accounts", "application/json", strings.NewReader(`{"name":"demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	var acct struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&acct); err != nil || !strings.HasPrefix(acct.URL, ts.URL+"/discord/api/webhooks/") {
		t.Fatalf("account %+v, %v", acct, err)
	}
	res.Body.Close()

	post := func(url, body string) (int, http.Header) {
		r, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode, r.Header
	}
	if code, h := post(acct.URL, `{"content":"no wait"}`); code != http.StatusNoContent || h.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("without wait: %d, remaining %q", code, h.Get("X-RateLimit-Remaining"))
	}
	if code, _ := post(acct.URL+"?wait=true", `{"content":""}`); code != http.StatusBadRequest {
		t.Errorf("empty: %d", code)
	}
	if code, _ := post(ts.URL+"/discord/api/webhooks/1/"+strings.Repeat("x", 30), `{"content":"x"}`); code != http.StatusNotFound {
		t.Errorf("unknown webhook: %d", code)
	}
	for range 3 {
		post(acct.URL, `{"content":"x"}`)
	}
	if code, h := post(acct.URL, `{"content":"x"}`); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("sixth in the window: %d, Retry-After %q", code, h.Get("Retry-After"))
	}

	r, err := http.Get(ts.URL + "/_simnet/discord/posts")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var posts struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(r.Body).Decode(&posts); err != nil || posts.Count != 4 {
		t.Errorf("posts: %+v, %v; want 4", posts, err)
	}
}
