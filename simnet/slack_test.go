package simnet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSlackWebhook(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	res, err := http.Post(ts.URL+"/_simnet/slack/accounts", "application/json", strings.NewReader(`{"channel":"#demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	var acct struct {
		URL     string       `json:"url"`
		Webhook SlackWebhook `json:"webhook"`
	}
	if err := json.NewDecoder(res.Body).Decode(&acct); err != nil || acct.URL == "" {
		t.Fatalf("account %+v, %v", acct, err)
	}
	res.Body.Close()
	post := func(url, body string) (int, string) {
		r, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	cases := []struct {
		url, body string
		code      int
		answer    string
	}{
		{acct.URL, `{"text":"hello"}`, 200, "ok"},
		{acct.URL, `{}`, 400, "no_text"},
		{acct.URL, `{"text":`, 400, "invalid_payload"},
		{ts.URL + "/slack/services/T1/B1/xxxxxxxxxxxx", `{"text":"x"}`, 404, "no_service"},
		{strings.TrimSuffix(acct.URL, acct.Webhook.Token) + "wrongtoken", `{"text":"x"}`, 403, "invalid_token"},
	}
	for _, c := range cases {
		if code, answer := post(c.url, c.body); code != c.code || answer != c.answer {
			t.Errorf("POST %s: %d %q; want %d %q", c.body, code, answer, c.code, c.answer)
		}
	}
	s.ArchiveSlackChannel("#demo")
	if code, answer := post(acct.URL, `{"text":"x"}`); code != 410 || answer != "channel_is_archived" {
		t.Errorf("archived: %d %q", code, answer)
	}
	r, err := http.Get(ts.URL + "/_simnet/slack/posts")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var posts struct {
		Count int            `json:"count"`
		Posts []SlackMessage `json:"posts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&posts); err != nil || posts.Count != 1 || posts.Posts[0].Text != "hello" {
		t.Errorf("posts = %+v, %v", posts, err)
	}
}
