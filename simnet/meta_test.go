package simnet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

// graphCall makes one Graph API request and decodes the answer.
func graphCall(t *testing.T, method, u, token string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

func graphCode(out map[string]any) (code, subcode float64) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(float64)
	subcode, _ = e["error_subcode"].(float64)
	return code, subcode
}

func TestMetaControlEndpoints(t *testing.T) {
	t.Parallel()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	for _, tt := range []struct{ network, body, field string }{
		{"facebook", `{"name":"Acme"}`, "page_access_token"},
		{"instagram", `{"username":"acme"}`, "ig_user_id"},
		{"threads", `{"username":"acme"}`, "user_id"},
	} {
		res, err := http.Post(ts.URL+"/_simnet/"+tt.network+"/accounts", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		var acct map[string]any
		_ = json.NewDecoder(res.Body).Decode(&acct)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || acct[tt.field] == "" || acct[tt.field] == nil {
			t.Errorf("%s account: %d %v", tt.network, res.StatusCode, acct)
		}
		res, err = http.Post(ts.URL+"/_simnet/"+tt.network+"/accounts", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s account without a name: %d", tt.network, res.StatusCode)
		}
	}
	page := sim.CreateFacebookPage("Posts")
	if st, _, out := graphCall(t, "POST", ts.URL+"/graph/v24.0/"+page.ID+"/feed", page.AccessToken, url.Values{"message": {"hello"}}); st != 200 || out["id"] == nil {
		t.Fatalf("feed: %d %v", st, out)
	}
	res, err := http.Get(ts.URL + "/_simnet/facebook/posts")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Count int                   `json:"count"`
		Posts []simnet.FacebookPost `json:"posts"`
	}
	_ = json.NewDecoder(res.Body).Decode(&list)
	_ = res.Body.Close()
	if list.Count != 1 || list.Posts[0].Message != "hello" {
		t.Errorf("posts = %+v", list)
	}
}

func TestGraphAuthAndUsage(t *testing.T) {
	t.Parallel()
	sim := simnet.New(simnet.Options{})
	sim.SetMeta(simnet.MetaOptions{CallLimit: 4})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	page := sim.CreateFacebookPage("Auth")
	me := ts.URL + "/graph/v24.0/me"
	if st, _, out := graphCall(t, "GET", me, "", nil); st != 400 {
		t.Errorf("no token: %d %v", st, out)
	} else if c, _ := graphCode(out); c != 2500 {
		t.Errorf("no token: code %v", c)
	}
	if _, _, out := graphCall(t, "GET", me, "nope", nil); func() bool { c, _ := graphCode(out); return c != 190 }() {
		t.Errorf("bad token: %v", out)
	}
	// access_token as a parameter works too, as on Meta.
	st, h, out := graphCall(t, "GET", me+"?access_token="+url.QueryEscape(page.AccessToken), "", nil)
	if st != 200 || out["id"] != page.ID {
		t.Fatalf("me: %d %v", st, out)
	}
	var buc map[string][]map[string]any
	if err := json.Unmarshal([]byte(h.Get("X-Business-Use-Case-Usage")), &buc); err != nil || buc[page.ID][0]["call_count"] != 25.0 || buc[page.ID][0]["type"] != "pages" {
		t.Errorf("usage header %q", h.Get("X-Business-Use-Case-Usage"))
	}
	for range 3 {
		graphCall(t, "GET", me, page.AccessToken, nil)
	}
	if _, _, out := graphCall(t, "GET", me, page.AccessToken, nil); func() bool { c, _ := graphCode(out); return c != 32 }() {
		t.Errorf("over the page budget: %v", out)
	}
	// The user's own calls have their own budget, in X-App-Usage.
	_, h, _ = graphCall(t, "GET", me, page.UserToken, nil)
	if !strings.Contains(h.Get("X-App-Usage"), `"call_count":25`) {
		t.Errorf("X-App-Usage = %q", h.Get("X-App-Usage"))
	}
	sim.ExpireMetaToken(page.UserToken)
	if _, _, out := graphCall(t, "GET", me, page.UserToken, nil); func() bool { c, s := graphCode(out); return c != 190 || s != 463 }() {
		t.Errorf("expired: %v", out)
	}
	// Faults apply under /graph/ like anywhere else.
	_ = sim.SetFaults(simnet.Faults{FailNext: 1, Path: "/graph/"})
	if st, _, _ := graphCall(t, "GET", me, page.AccessToken, nil); st != http.StatusServiceUnavailable {
		t.Errorf("injected fault: %d", st)
	}
}

func TestInstagramContainerLifecycle(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sim := simnet.New(simnet.Options{Now: clock})
	sim.SetMeta(simnet.MetaOptions{Processing: time.Minute})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	jpeg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00rest of a jpeg"))
	}))
	defer jpeg.Close()
	ig := sim.CreateInstagramAccount("lifecycle")
	base := ts.URL + "/graph/v24.0/"
	st, _, out := graphCall(t, "POST", base+ig.ID+"/media", ig.AccessToken, url.Values{"image_url": {jpeg.URL + "/a.jpg"}, "caption": {"hi"}})
	if st != 200 {
		t.Fatalf("container: %d %v", st, out)
	}
	id := out["id"].(string)
	status := func() string {
		_, _, out := graphCall(t, "GET", base+id+"?fields=status_code", ig.AccessToken, nil)
		s, _ := out["status_code"].(string)
		return s
	}
	if s := status(); s != "IN_PROGRESS" {
		t.Errorf("status = %s; want IN_PROGRESS", s)
	}
	if _, _, out := graphCall(t, "POST", base+ig.ID+"/media_publish", ig.AccessToken, url.Values{"creation_id": {id}}); func() bool { c, _ := graphCode(out); return c != 9007 }() {
		t.Errorf("publishing too early: %v", out)
	}
	advance(time.Minute)
	if s := status(); s != "FINISHED" {
		t.Errorf("status = %s; want FINISHED", s)
	}
	// Left for a day, a container expires.
	_, _, out = graphCall(t, "POST", base+ig.ID+"/media", ig.AccessToken, url.Values{"image_url": {jpeg.URL + "/b.jpg"}})
	late := out["id"].(string)
	advance(24 * time.Hour)
	if _, _, out := graphCall(t, "GET", base+late+"?fields=status_code", ig.AccessToken, nil); out["status_code"] != "EXPIRED" {
		t.Errorf("a day later: %v", out)
	}
	_, _, out = graphCall(t, "POST", base+ig.ID+"/media", ig.AccessToken, url.Values{"image_url": {jpeg.URL + "/c.jpg"}})
	fresh := out["id"].(string)
	advance(time.Minute)
	if st, _, out := graphCall(t, "POST", base+ig.ID+"/media_publish", ig.AccessToken, url.Values{"creation_id": {fresh}}); st != 200 {
		t.Fatalf("publish: %d %v", st, out)
	}
	if _, _, out := graphCall(t, "GET", base+ig.ID+"/content_publishing_limit?fields=quota_usage,config", ig.AccessToken, nil); !strings.Contains(toJSON(out), `"quota_usage":1`) {
		t.Errorf("quota = %v", out)
	}
	if posts := sim.InstagramPosts(); len(posts) != 1 || posts[0].ContainerID != fresh {
		t.Errorf("posts = %+v", posts)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMetaDialogDeny(t *testing.T) {
	t.Parallel()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	id, _ := sim.CreateMetaApp()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.PostForm(ts.URL+"/facebook/v24.0/dialog/oauth", url.Values{"client_id": {id}, "redirect_uri": {"https://herald.example/cb"}, "state": {"s1"}, "decision": {"deny"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s1" {
		t.Errorf("deny: %d %s", res.StatusCode, loc)
	}
	res, err = http.Get(ts.URL + "/facebook/v24.0/dialog/oauth?client_id=unknown&redirect_uri=https://herald.example/cb")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown app: %d", res.StatusCode)
	}
}

// Herald's configured Meta app can be registered by its id and secret.
func TestMetaAppsControl(t *testing.T) {
	t.Parallel()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	dialog := ts.URL + "/facebook/v24.0/dialog/oauth?client_id=herald-meta&redirect_uri=https://herald.example/cb&state=s"
	get := func() int {
		res, err := http.Get(dialog)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	if got := get(); got != http.StatusBadRequest {
		t.Fatalf("unregistered app: %d", got)
	}
	res, err := http.Post(ts.URL+"/_simnet/meta/apps", "application/json", strings.NewReader(`{"app_id":"herald-meta","app_secret":"s3cret"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	_ = json.NewDecoder(res.Body).Decode(&out)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || out["app_id"] != "herald-meta" {
		t.Fatalf("register: %d %v", res.StatusCode, out)
	}
	if got := get(); got != http.StatusOK {
		t.Errorf("registered app: %d", got)
	}
	res, err = http.Post(ts.URL+"/_simnet/meta/apps", "application/json", strings.NewReader(`{"app_id":"nosecret"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusBadRequest {
		t.Errorf("an app without a secret: %d", res.StatusCode)
	}
	res, err = http.Post(ts.URL+"/_simnet/meta/apps", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	out = nil
	_ = json.NewDecoder(res.Body).Decode(&out)
	_ = res.Body.Close()
	if out["app_id"] == "" || out["app_secret"] == "" {
		t.Errorf("a new app: %v", out)
	}
}
