package simnet_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

// netCall is one request to a simulated network, answered in full.
type netCall struct {
	status int
	header http.Header
	body   []byte
}

func (c netCall) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(c.body, v); err != nil {
		t.Fatalf("decoding %s: %v", c.body, err)
	}
}

func send(t *testing.T, method, u, token, contentType string, body io.Reader, header ...string) netCall {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return netCall{status: res.StatusCode, header: res.Header, body: b}
}

func sendJSON(t *testing.T, method, u, token string, v any, header ...string) netCall {
	t.Helper()
	b, _ := json.Marshal(v)
	return send(t, method, u, token, "application/json", bytes.NewReader(b), header...)
}

func startNet(t *testing.T) (*simnet.Server, string) {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL
}

type tokenJSON struct {
	AccessToken           string `json:"access_token"`
	RefreshToken          string `json:"refresh_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	Scope                 string `json:"scope"`
	Error                 string `json:"error"`
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// codeFor runs the authorization step and returns the code.
func codeFor(t *testing.T, authorizeURL string, q url.Values) string {
	t.Helper()
	c := send(t, "GET", authorizeURL+"?"+q.Encode(), "", "", nil)
	loc, err := url.Parse(c.header.Get("Location"))
	if c.status != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d, location %q, %s", c.status, c.header.Get("Location"), c.body)
	}
	if loc.Query().Get("state") != q.Get("state") {
		t.Errorf("state %q came back as %q", q.Get("state"), loc.Query().Get("state"))
	}
	return loc.Query().Get("code")
}

func tokenRequest(t *testing.T, u string, form url.Values, user, pass string) (int, tokenJSON) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tj tokenJSON
	_ = json.NewDecoder(res.Body).Decode(&tj)
	return res.StatusCode, tj
}

func TestXOAuthPKCEAndRotation(t *testing.T) {
	t.Parallel()
	sim, base := startNet(t)
	sim.X().AddClient("app", "secret")
	verifier := strings.Repeat("v", 43)
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://h.example/cb"}, "scope": {"tweet.read tweet.write users.read offline.access"},
		"state": {"s1"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}, "username": {"carol"}}
	tokenURL := base + "/x/2/oauth2/token"

	// PKCE is required by X.
	noPKCE := url.Values{}
	for k, v := range q {
		if !strings.HasPrefix(k, "code_challenge") {
			noPKCE[k] = v
		}
	}
	c := send(t, "GET", base+"/x/i/oauth2/authorize?"+noPKCE.Encode(), "", "", nil)
	if loc := c.header.Get("Location"); c.status != http.StatusFound || !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("authorize without PKCE: %d %s", c.status, loc)
	}

	code := codeFor(t, base+"/x/i/oauth2/authorize", q)
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://h.example/cb"}, "code_verifier": {strings.Repeat("w", 43)}}
	if st, tj := tokenRequest(t, tokenURL, exchange, "app", "secret"); st != http.StatusBadRequest || tj.Error != "invalid_grant" {
		t.Errorf("wrong verifier: %d %+v", st, tj)
	}
	code = codeFor(t, base+"/x/i/oauth2/authorize", q)
	exchange.Set("code", code)
	exchange.Set("code_verifier", verifier)
	if st, tj := tokenRequest(t, tokenURL, exchange, "app", "wrong"); st != http.StatusUnauthorized || tj.Error != "invalid_client" {
		t.Errorf("wrong secret: %d %+v", st, tj)
	}
	code = codeFor(t, base+"/x/i/oauth2/authorize", q)
	exchange.Set("code", code)
	st, first := tokenRequest(t, tokenURL, exchange, "app", "secret")
	if st != http.StatusOK || first.AccessToken == "" || first.RefreshToken == "" || first.ExpiresIn != 7200 {
		t.Fatalf("exchange: %d %+v", st, first)
	}
	// The code is single use.
	if st, _ := tokenRequest(t, tokenURL, exchange, "app", "secret"); st != http.StatusBadRequest {
		t.Errorf("second exchange: %d", st)
	}
	me := send(t, "GET", base+"/x/2/users/me", first.AccessToken, "", nil)
	if me.status != http.StatusOK || !strings.Contains(string(me.body), `"username":"carol"`) {
		t.Errorf("users/me: %d %s", me.status, me.body)
	}

	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
	st, second := tokenRequest(t, tokenURL, refresh, "app", "secret")
	if st != http.StatusOK || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh: %d %+v", st, second)
	}
	if st, tj := tokenRequest(t, tokenURL, refresh, "app", "secret"); st != http.StatusBadRequest || tj.Error != "invalid_grant" {
		t.Errorf("rotated-away refresh token: %d %+v", st, tj)
	}
	if n := sim.X().Refreshes(); n != 1 {
		t.Errorf("Refreshes() = %d; want 1", n)
	}

	// Without offline.access there is no refresh token.
	q.Set("scope", "tweet.read users.read")
	exchange.Set("code", codeFor(t, base+"/x/i/oauth2/authorize", q))
	if _, tj := tokenRequest(t, tokenURL, exchange, "app", "secret"); tj.AccessToken == "" || tj.RefreshToken != "" {
		t.Errorf("without offline.access: %+v", tj)
	}

	// Access tokens expire.
	sim.X().ExpireAccessTokens()
	if c := send(t, "GET", base+"/x/2/users/me", second.AccessToken, "", nil); c.status != http.StatusUnauthorized {
		t.Errorf("expired token: %d", c.status)
	}
}

func TestXPostsRateLimitAndControl(t *testing.T) {
	t.Parallel()
	sim, base := startNet(t)
	g := sim.X().CreateAccount("dave", "")
	sim.X().SetPostLimit(2, time.Hour)
	c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "first"})
	if c.status != http.StatusCreated || c.header.Get("x-rate-limit-limit") != "2" || c.header.Get("x-rate-limit-remaining") != "1" {
		t.Fatalf("post: %d %v %s", c.status, c.header, c.body)
	}
	reset, err := strconv.ParseInt(c.header.Get("x-rate-limit-reset"), 10, 64)
	if err != nil || time.Unix(reset, 0).Before(time.Now()) {
		t.Errorf("x-rate-limit-reset %q", c.header.Get("x-rate-limit-reset"))
	}
	var created struct {
		Data struct{ ID string } `json:"data"`
	}
	c.decode(t, &created)
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "first"}); c.status != http.StatusForbidden || !strings.Contains(string(c.body), "duplicate content") {
		t.Errorf("duplicate: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "third"}); c.status != http.StatusTooManyRequests || c.header.Get("x-rate-limit-remaining") != "0" {
		t.Errorf("over the limit: %d %v", c.status, c.header)
	}
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": strings.Repeat("の", 141)}); c.status != http.StatusTooManyRequests {
		t.Errorf("still limited: %d", c.status)
	}
	sim.X().SetPostLimit(100, time.Hour)
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": strings.Repeat("の", 141)}); c.status != http.StatusBadRequest {
		t.Errorf("282 weighted characters: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "reply", "reply": map[string]string{"in_reply_to_tweet_id": created.Data.ID}}); c.status != http.StatusCreated {
		t.Errorf("reply: %d %s", c.status, c.body)
	}
	if c := send(t, "DELETE", base+"/x/2/tweets/"+created.Data.ID, g.AccessToken, "", nil); c.status != http.StatusOK || !strings.Contains(string(c.body), `"deleted":true`) {
		t.Errorf("delete: %d %s", c.status, c.body)
	}
	ctl := send(t, "GET", base+"/_simnet/x/posts", "", "", nil)
	var list struct {
		Count int            `json:"count"`
		Posts []simnet.XPost `json:"posts"`
	}
	ctl.decode(t, &list)
	if list.Count != 2 || !list.Posts[0].Deleted || list.Posts[1].ReplyTo != created.Data.ID {
		t.Errorf("control posts: %s", ctl.body)
	}
	acc := sendJSON(t, "POST", base+"/_simnet/x/accounts", "", map[string]string{"username": "erin"})
	var grant simnet.Grant
	acc.decode(t, &grant)
	if acc.status != http.StatusOK || grant.AccessToken == "" || grant.Username != "erin" {
		t.Errorf("control account: %d %s", acc.status, acc.body)
	}
}

func TestXMediaUpload(t *testing.T) {
	t.Parallel()
	sim, base := startNet(t)
	g := sim.X().CreateAccount("frank", "")
	sim.X().SetMediaProcessing(time.Hour)
	file := bytes.Repeat([]byte{1}, 120)
	init := sendJSON(t, "POST", base+"/x/2/media/upload/initialize", g.AccessToken, map[string]any{"media_type": "image/png", "total_bytes": len(file), "media_category": "tweet_image"})
	var md struct {
		Data struct {
			ID             string `json:"id"`
			ProcessingInfo *struct {
				State string `json:"state"`
			} `json:"processing_info"`
		} `json:"data"`
	}
	init.decode(t, &md)
	if init.status != http.StatusOK || md.Data.ID == "" {
		t.Fatalf("initialize: %d %s", init.status, init.body)
	}
	id := md.Data.ID
	appendSeg := func(seg int, chunk []byte) netCall {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("segment_index", strconv.Itoa(seg))
		p, _ := mw.CreateFormFile("media", "blob")
		_, _ = p.Write(chunk)
		_ = mw.Close()
		return send(t, "POST", base+"/x/2/media/upload/"+id+"/append", g.AccessToken, mw.FormDataContentType(), &b)
	}
	if c := appendSeg(0, file[:100]); c.status != http.StatusOK {
		t.Fatalf("append: %d %s", c.status, c.body)
	}
	if c := send(t, "POST", base+"/x/2/media/upload/"+id+"/finalize", g.AccessToken, "", nil); c.status != http.StatusBadRequest {
		t.Errorf("finalize before all bytes: %d %s", c.status, c.body)
	}
	appendSeg(1, file[100:])
	fin := send(t, "POST", base+"/x/2/media/upload/"+id+"/finalize", g.AccessToken, "", nil)
	fin.decode(t, &md)
	if fin.status != http.StatusOK || md.Data.ProcessingInfo == nil || md.Data.ProcessingInfo.State != "in_progress" {
		t.Fatalf("finalize: %d %s", fin.status, fin.body)
	}
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "pic", "media": map[string]any{"media_ids": []string{id}}}); c.status != http.StatusBadRequest {
		t.Errorf("post with unprocessed media: %d %s", c.status, c.body)
	}
	sim.X().SetMediaProcessing(0)
	status := send(t, "GET", base+"/x/2/media/upload?command=STATUS&media_id="+id, g.AccessToken, "", nil)
	if status.status != http.StatusOK {
		t.Errorf("status: %d %s", status.status, status.body)
	}
	if c := sendJSON(t, "POST", base+"/x/2/media/metadata", g.AccessToken, map[string]any{"id": id, "metadata": map[string]any{"alt_text": map[string]string{"text": "ones"}}}); c.status != http.StatusOK {
		t.Errorf("metadata: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/x/2/tweets", g.AccessToken, map[string]any{"text": "pic", "media": map[string]any{"media_ids": []string{id}}}); c.status != http.StatusCreated {
		t.Errorf("post with media: %d %s", c.status, c.body)
	}
	if p := sim.X().Posts(); len(p) != 1 || p[0].AltTexts[0] != "ones" {
		t.Errorf("posts %+v", p)
	}
	// Another user's media cannot be used.
	other := sim.X().CreateAccount("gina", "")
	if c := sendJSON(t, "POST", base+"/x/2/tweets", other.AccessToken, map[string]any{"text": "theft", "media": map[string]any{"media_ids": []string{id}}}); c.status != http.StatusBadRequest {
		t.Errorf("someone else's media: %d", c.status)
	}
}
