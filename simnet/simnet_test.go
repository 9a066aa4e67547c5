package simnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	srv   *simnet.Server
	url   string
	clock *clock
	token string // alice's
}

func setup(t *testing.T, opts simnet.Options) *bundle {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	srv := simnet.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &bundle{srv: srv, url: ts.URL, clock: c, token: srv.CreateAccount("alice")}
}

type request struct {
	method, path, token string
	form                url.Values
	json                any
	header              map[string]string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.decode(t, &e)
	return e.Error
}

func (b *bundle) do(t *testing.T, req request) response {
	t.Helper()
	return doWith(t, http.DefaultClient, b.url, req)
}

func doWith(t *testing.T, c *http.Client, base string, req request) response {
	t.Helper()
	var body io.Reader
	ct := ""
	switch {
	case req.form != nil:
		body, ct = strings.NewReader(req.form.Encode()), "application/x-www-form-urlencoded"
	case req.json != nil:
		b, err := json.Marshal(req.json)
		if err != nil {
			t.Fatal(err)
		}
		body, ct = strings.NewReader(string(b)), "application/json"
	}
	r, err := http.NewRequest(req.method, base+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	res, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

type statusOut struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	URI         string `json:"uri"`
	CreatedAt   string `json:"created_at"`
	Content     string `json:"content"`
	Visibility  string `json:"visibility"`
	SpoilerText string `json:"spoiler_text"`
	Account     struct {
		ID   string `json:"id"`
		Acct string `json:"acct"`
	} `json:"account"`
	MediaAttachments []struct {
		ID  string  `json:"id"`
		URL *string `json:"url"`
	} `json:"media_attachments"`
}

func (b *bundle) post(t *testing.T, token, text, key string) (response, statusOut) {
	t.Helper()
	req := request{method: "POST", path: "/api/v1/statuses", token: token, form: url.Values{"status": {text}}}
	if key != "" {
		req.header = map[string]string{"Idempotency-Key": key}
	}
	res := b.do(t, req)
	var st statusOut
	if res.status == http.StatusOK {
		res.decode(t, &st)
	}
	return res, st
}

func TestPostStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func(token string) request
	}{
		{"form body", func(tok string) request {
			return request{method: "POST", path: "/api/v1/statuses", token: tok,
				form: url.Values{"status": {"Hello <world>\nline two"}, "visibility": {"unlisted"}}}
		}},
		{"json body", func(tok string) request {
			return request{method: "POST", path: "/api/v1/statuses", token: tok,
				json: map[string]any{"status": "Hello <world>\nline two", "visibility": "unlisted"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, simnet.Options{})
			res := b.do(t, tt.req(b.token))
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			var st statusOut
			res.decode(t, &st)
			if st.ID == "" || st.Account.Acct != "alice" || st.Visibility != "unlisted" {
				t.Errorf("status = %+v", st)
			}
			if want := "<p>Hello &lt;world&gt;<br />line two</p>"; st.Content != want {
				t.Errorf("content = %q; want %q", st.Content, want)
			}
			if want := b.url + "/@alice/" + st.ID; st.URL != want {
				t.Errorf("url = %q; want %q", st.URL, want)
			}
			if _, err := time.Parse(time.RFC3339, st.CreatedAt); err != nil {
				t.Errorf("created_at %q: %v", st.CreatedAt, err)
			}

			got := b.do(t, request{method: "GET", path: "/api/v1/statuses/" + st.ID, token: b.token})
			var again statusOut
			got.decode(t, &again)
			if got.status != http.StatusOK || again.ID != st.ID || again.URL != st.URL {
				t.Errorf("GET status = %d %+v", got.status, again)
			}

			all := b.srv.Statuses()
			if len(all) != 1 || all[0].ID != st.ID || all[0].Text != "Hello <world>\nline two" || all[0].Username != "alice" {
				t.Errorf("Statuses() = %+v", all)
			}
		})
	}
}

func TestGetUnknownStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	res := b.do(t, request{method: "GET", path: "/api/v1/statuses/42", token: b.token})
	if res.status != http.StatusNotFound || res.errorMessage(t) != "Record not found" {
		t.Errorf("got %d %s; want 404 Record not found", res.status, res.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	bob := b.srv.CreateAccount("bob")

	_, first := b.post(t, b.token, "one", "key-1")
	_, again := b.post(t, b.token, "one (edited)", "key-1")
	if again.ID != first.ID {
		t.Errorf("same key gave status %s, then %s; want the same", first.ID, again.ID)
	}
	_, other := b.post(t, b.token, "two", "key-2")
	_, bobs := b.post(t, bob, "bob's", "key-1")
	if other.ID == first.ID || bobs.ID == first.ID {
		t.Errorf("different key or account reused status %s", first.ID)
	}
	if n := len(b.srv.Statuses()); n != 3 {
		t.Errorf("%d statuses stored; want 3", n)
	}
	if n := b.srv.DuplicatesAvoided(); n != 1 {
		t.Errorf("DuplicatesAvoided = %d; want 1", n)
	}

	// Mastodon remembers a key for an hour.
	b.clock.Advance(time.Hour + time.Second)
	_, late := b.post(t, b.token, "one", "key-1")
	if late.ID == first.ID {
		t.Error("key was still honoured after an hour")
	}
}

func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, st := b.post(t, b.token, "race", "same-key")
			ids <- st.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || len(b.srv.Statuses()) != 1 {
		t.Errorf("%d distinct ids, %d statuses; want 1 and 1", len(seen), len(b.srv.Statuses()))
	}
	if got := b.srv.DuplicatesAvoided(); got != n-1 {
		t.Errorf("DuplicatesAvoided = %d; want %d", got, n-1)
	}
}

func TestStatusValidation(t *testing.T) {
	t.Parallel()
	url23 := "https://example.com/" + strings.Repeat("p", 100)
	tests := []struct {
		name   string
		params url.Values
		want   string // error message; "" means accepted
	}{
		{"500 characters", url.Values{"status": {strings.Repeat("a", 500)}}, ""},
		{"501 characters", url.Values{"status": {strings.Repeat("a", 501)}}, "Validation failed: Text character limit of 500 exceeded"},
		{"500 emoji", url.Values{"status": {strings.Repeat("👍🏽", 500)}}, ""},
		{"links count 23", url.Values{"status": {strings.Repeat("a", 476) + " " + url23}}, ""},
		{"content warning counts", url.Values{"status": {strings.Repeat("a", 490)}, "spoiler_text": {strings.Repeat("b", 11)}}, "Validation failed: Text character limit of 500 exceeded"},
		{"blank", url.Values{"status": {"  "}}, "Validation failed: Text can't be blank"},
		{"bad visibility", url.Values{"status": {"x"}, "visibility": {"everyone"}}, "'everyone' is not a valid visibility"},
		{"too many media", url.Values{"status": {"x"}, "media_ids[]": {"1", "2", "3", "4", "5"}}, "Cannot attach more than 4 files"},
		{"unknown media", url.Values{"status": {"x"}, "media_ids[]": {"999"}}, "Media 999 not found or already attached to another post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, simnet.Options{})
			res := b.do(t, request{method: "POST", path: "/api/v1/statuses", token: b.token, form: tt.params,
				header: map[string]string{"Idempotency-Key": "k"}})
			if tt.want == "" {
				if res.status != http.StatusOK {
					t.Fatalf("status %d %s; want 200", res.status, res.body)
				}
				return
			}
			if res.status != http.StatusUnprocessableEntity || res.errorMessage(t) != tt.want {
				t.Errorf("got %d %s; want 422 %q", res.status, res.body, tt.want)
			}
			if n := len(b.srv.Statuses()); n != 0 {
				t.Errorf("%d statuses stored after a refusal", n)
			}
			// A refused request does not use up its key.
			ok, _ := b.post(t, b.token, "fine", "k")
			if ok.status != http.StatusOK || b.srv.DuplicatesAvoided() != 0 {
				t.Errorf("retry with the key: %d, duplicates %d", ok.status, b.srv.DuplicatesAvoided())
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	revoked := b.srv.CreateAccount("carol")
	b.srv.RevokeToken(revoked)
	tests := []struct {
		name   string
		header string
	}{
		{"no token", ""},
		{"unknown token", "Bearer nope"},
		{"revoked token", "Bearer " + revoked},
		{"not bearer", "Basic YTpi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := request{method: "POST", path: "/api/v1/statuses", form: url.Values{"status": {"x"}}}
			if tt.header != "" {
				req.header = map[string]string{"Authorization": tt.header}
			}
			res := b.do(t, req)
			if res.status != http.StatusUnauthorized || res.errorMessage(t) != "The access token is invalid" {
				t.Errorf("got %d %s; want 401", res.status, res.body)
			}
		})
	}
	if n := len(b.srv.Statuses()); n != 0 {
		t.Errorf("%d statuses stored by unauthenticated requests", n)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{RateLimit: 3, RateWindow: 5 * time.Minute})
	bob := b.srv.CreateAccount("bob")
	verify := request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: b.token}

	// The clock starts at 12:01, so the window ends at 12:05.
	wantReset := "2026-03-01T12:05:00.000000Z"
	for i, wantRemaining := range []string{"2", "1", "0"} {
		res := b.do(t, verify)
		if res.status != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, res.status)
		}
		h := res.header
		if h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != wantRemaining || h.Get("X-RateLimit-Reset") != wantReset {
			t.Errorf("request %d headers: limit %q remaining %q reset %q", i+1,
				h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"))
		}
	}
	res := b.do(t, verify)
	if res.status != http.StatusTooManyRequests || res.errorMessage(t) != "Too many requests" {
		t.Fatalf("4th request: %d %s; want 429", res.status, res.body)
	}
	if res.header.Get("X-RateLimit-Remaining") != "0" || res.header.Get("X-RateLimit-Reset") != wantReset {
		t.Errorf("429 headers: %v", res.header)
	}
	// A refused post is not made.
	if posted, _ := b.post(t, b.token, "x", ""); posted.status != http.StatusTooManyRequests || len(b.srv.Statuses()) != 0 {
		t.Errorf("post while limited: %d, %d statuses", posted.status, len(b.srv.Statuses()))
	}
	// Budgets are per account.
	if res := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: bob}); res.status != http.StatusOK {
		t.Errorf("another account: %d; want 200", res.status)
	}
	// Unauthenticated endpoints carry no headers.
	if res := b.do(t, request{method: "GET", path: "/api/v2/instance"}); res.header.Get("X-RateLimit-Limit") != "" {
		t.Error("instance endpoint has rate-limit headers")
	}
	if got := b.srv.Stats().RateLimited; got != 2 {
		t.Errorf("Stats().RateLimited = %d; want 2", got)
	}

	b.clock.Advance(4 * time.Minute) // 12:05: a new window
	if res := b.do(t, verify); res.status != http.StatusOK || res.header.Get("X-RateLimit-Remaining") != "2" {
		t.Errorf("after the reset: %d remaining %q", res.status, res.header.Get("X-RateLimit-Remaining"))
	}
}

func TestRateLimitDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{RateLimit: -1})
	for range 5 {
		res := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: b.token})
		if res.status != http.StatusOK || res.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("got %d with limit header %q", res.status, res.header.Get("X-RateLimit-Limit"))
		}
	}
}

func TestVerifyCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	b.post(t, b.token, "one", "")
	res := b.do(t, request{method: "GET", path: "/api/v1/accounts/verify_credentials", token: b.token})
	var acct struct {
		ID            string `json:"id"`
		Username      string `json:"username"`
		Acct          string `json:"acct"`
		URL           string `json:"url"`
		StatusesCount int    `json:"statuses_count"`
		Source        *struct {
			Privacy string `json:"privacy"`
		} `json:"source"`
	}
	res.decode(t, &acct)
	if res.status != http.StatusOK || acct.Username != "alice" || acct.Acct != "alice" || acct.URL != b.url+"/@alice" ||
		acct.StatusesCount != 1 || acct.Source == nil || acct.ID == "" {
		t.Errorf("verify_credentials = %d %+v", res.status, acct)
	}
}

func TestInstance(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{MaxChars: 1000, MaxMedia: 6})
	for _, path := range []string{"/api/v1/instance", "/api/v2/instance"} {
		res := b.do(t, request{method: "GET", path: path})
		var inst struct {
			Version       string `json:"version"`
			Configuration struct {
				Statuses struct {
					MaxCharacters            int `json:"max_characters"`
					MaxMediaAttachments      int `json:"max_media_attachments"`
					CharactersReservedPerURL int `json:"characters_reserved_per_url"`
				} `json:"statuses"`
				MediaAttachments struct {
					SupportedMimeTypes []string `json:"supported_mime_types"`
					ImageSizeLimit     int64    `json:"image_size_limit"`
				} `json:"media_attachments"`
			} `json:"configuration"`
		}
		res.decode(t, &inst)
		c := inst.Configuration
		if res.status != http.StatusOK || c.Statuses.MaxCharacters != 1000 || c.Statuses.MaxMediaAttachments != 6 ||
			c.Statuses.CharactersReservedPerURL != 23 || c.MediaAttachments.ImageSizeLimit != 16<<20 ||
			!strings.Contains(strings.Join(c.MediaAttachments.SupportedMimeTypes, ","), "image/webp") || inst.Version == "" {
			t.Errorf("%s = %d %+v", path, res.status, inst)
		}
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})

	res := b.do(t, request{method: "POST", path: "/_simnet/accounts", json: map[string]string{"username": "dave"}})
	var created struct {
		AccessToken string `json:"access_token"`
		ID          string `json:"id"`
		Acct        string `json:"acct"`
	}
	res.decode(t, &created)
	if res.status != http.StatusOK || created.AccessToken == "" || created.ID == "" || created.Acct != "dave" {
		t.Fatalf("create account = %d %s", res.status, res.body)
	}
	b.post(t, created.AccessToken, "from dave", "k")
	b.post(t, created.AccessToken, "from dave", "k")
	b.post(t, b.token, "from alice", "")

	res = b.do(t, request{method: "GET", path: "/_simnet/statuses?account=dave"})
	var listed struct {
		Count             int             `json:"count"`
		DuplicatesAvoided int             `json:"duplicates_avoided"`
		Statuses          []simnet.Status `json:"statuses"`
	}
	res.decode(t, &listed)
	if listed.Count != 1 || len(listed.Statuses) != 1 || listed.Statuses[0].Text != "from dave" ||
		listed.Statuses[0].IdempotencyKey != "k" || listed.DuplicatesAvoided != 1 {
		t.Errorf("statuses = %s", res.body)
	}

	res = b.do(t, request{method: "GET", path: "/_simnet/stats"})
	var st simnet.Stats
	res.decode(t, &st)
	if st.Statuses != 2 || st.DuplicatesAvoided != 1 || st.Requests == 0 {
		t.Errorf("stats = %+v", st)
	}

	for _, bad := range []string{"", "no spaces", strings.Repeat("x", 31), "ünïcode"} {
		res := b.do(t, request{method: "POST", path: "/_simnet/accounts", json: map[string]string{"username": bad}})
		var e struct {
			Fields map[string]string `json:"fields"`
		}
		res.decode(t, &e)
		if res.status != http.StatusUnprocessableEntity || e.Fields["username"] == "" {
			t.Errorf("username %q: %d %s; want 422 naming username", bad, res.status, res.body)
		}
	}
}

func TestCreateAccountPanicsOnBadUsername(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("CreateAccount accepted an invalid username")
		}
	}()
	simnet.New(simnet.Options{}).CreateAccount("not valid")
}

func TestServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	srv := simnet.New(simnet.Options{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	res := doWith(t, http.DefaultClient, "http://"+ln.Addr().String(), request{method: "GET", path: "/api/v2/instance"})
	if res.status != http.StatusOK {
		t.Fatalf("instance: %d", res.status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v; want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	t.Parallel()
	err := simnet.New(simnet.Options{}).ListenAndServe(t.Context(), "256.0.0.1:http")
	if err == nil {
		t.Fatal("ListenAndServe accepted an invalid address")
	}
}

// TestManyPosts checks that concurrent publishing from many accounts loses
// and duplicates nothing.
func TestManyPosts(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{RateLimit: -1})
	const accounts, perAccount = 8, 250
	var wg sync.WaitGroup
	for a := range accounts {
		tok := b.srv.CreateAccount(fmt.Sprintf("user%d", a))
		wg.Go(func() {
			for i := range perAccount {
				res, _ := b.post(t, tok, fmt.Sprintf("post %d", i), fmt.Sprintf("key-%d", i))
				if res.status != http.StatusOK {
					t.Errorf("post: %d %s", res.status, res.body)
					return
				}
			}
		})
	}
	wg.Wait()
	all := b.srv.Statuses()
	ids := map[string]bool{}
	for _, st := range all {
		ids[st.ID] = true
	}
	if len(all) != accounts*perAccount || len(ids) != len(all) {
		t.Errorf("%d statuses with %d distinct ids; want %d", len(all), len(ids), accounts*perAccount)
	}
}

func BenchmarkPostStatus(b *testing.B) {
	srv := simnet.New(simnet.Options{RateLimit: -1})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	tok := srv.CreateAccount("bench")
	body := url.Values{"status": {"Benchmark post https://example.com/launch"}}.Encode()
	var n int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			key := fmt.Sprint(n)
			mu.Unlock()
			req, _ := http.NewRequest("POST", ts.URL+"/api/v1/statuses", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Idempotency-Key", key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}

// TestControlAcceptsCurlJSON covers `curl -d '{"username":"demo"}'`, which
// sends JSON labelled as a form.
func TestControlAcceptsCurlJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	for _, tt := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded", `{"username":"demo"}`},
		{"application/x-www-form-urlencoded", `username=demo2`},
		{"application/json", `{"username":"demo3"}`},
	} {
		res, err := http.Post(b.url+"/_simnet/accounts", tt.contentType, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d; want 200", tt.contentType, tt.body, res.StatusCode)
		}
	}
}
