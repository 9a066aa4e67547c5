package simnet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTelegramControlAndSend(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	res, err := http.Post(ts.URL+"/_simnet/telegram/accounts", "application/json", strings.NewReader(`{"bot":"demo_bot","chat":{"type":"channel","username":"demo"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var acct struct {
		Token  string `json:"token"`
		ChatID int64  `json:"chat_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&acct); err != nil || acct.Token == "" {
		t.Fatalf("account: %+v, %v", acct, err)
	}
	res.Body.Close()

	send := func(token string, form url.Values) (int, map[string]any) {
		r, err := http.PostForm(ts.URL+"/telegram/bot"+token+"/sendMessage", form)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		return r.StatusCode, body
	}
	if code, body := send(acct.Token, url.Values{"chat_id": {"@demo"}, "text": {"hello"}}); code != 200 || body["ok"] != true {
		t.Fatalf("send: %d %v", code, body)
	}
	if code, body := send(acct.Token, url.Values{"chat_id": {"@demo"}, "text": {""}}); code != 400 || body["description"] != "Bad Request: message text is empty" {
		t.Errorf("empty text: %d %v", code, body)
	}
	if code, _ := send("1:"+strings.Repeat("x", 35), url.Values{"chat_id": {"@demo"}, "text": {"x"}}); code != 401 {
		t.Errorf("unknown token: %d; want 401", code)
	}
	if code, _ := send("garbage", url.Values{"chat_id": {"@demo"}, "text": {"x"}}); code != 404 {
		t.Errorf("malformed token: %d; want 404", code)
	}

	r, err := http.Get(ts.URL + "/_simnet/telegram/posts")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var posts struct {
		Count int               `json:"count"`
		Posts []TelegramMessage `json:"posts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&posts); err != nil || posts.Count != 1 || posts.Posts[0].Text != "hello" || posts.Posts[0].ChatID != acct.ChatID {
		t.Errorf("posts = %+v, %v", posts, err)
	}
}

func TestTelegramRateWindow(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64 // seconds since the start
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Second) }})
	tok := s.CreateTelegramBot("b")
	c := s.CreateTelegramChat(TelegramChat{Type: "group"})
	s.SetTelegramMember(c.ID, tok, "member")
	s.SetTelegramRate(2, time.Minute)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	post := func() (int, string) {
		r, err := http.PostForm(ts.URL+"/telegram/bot"+tok+"/sendMessage", url.Values{"chat_id": {strconv.FormatInt(c.ID, 10)}, "text": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var body struct {
			Parameters struct {
				RetryAfter int `json:"retry_after"`
			} `json:"parameters"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		return r.StatusCode, strconv.Itoa(body.Parameters.RetryAfter)
	}
	post()
	clock.Add(30)
	post()
	if code, after := post(); code != 429 || after != "30" {
		t.Errorf("third in a minute: %d retry_after %s; want 429 after 30", code, after)
	}
	clock.Add(31)
	if code, _ := post(); code != 200 {
		t.Errorf("after the first left the window: %d", code)
	}
}
