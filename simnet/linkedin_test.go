package simnet_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/simnet"
)

var liHeaders = []string{"Linkedin-Version", "202610", "X-Restli-Protocol-Version", "2.0.0"}

func liPost(author, commentary string, content any) map[string]any {
	p := map[string]any{
		"author": author, "commentary": commentary, "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
		"distribution": map[string]any{"feedDistribution": "MAIN_FEED", "targetEntities": []any{}, "thirdPartyDistributionChannels": []any{}},
	}
	if content != nil {
		p["content"] = content
	}
	return p
}

func TestLinkedInOAuth(t *testing.T) {
	t.Parallel()
	sim, base := startNet(t)
	sim.LinkedIn().AddClient("li-app", "li-secret")
	q := url.Values{"response_type": {"code"}, "client_id": {"li-app"}, "redirect_uri": {"https://h.example/cb"}, "scope": {"openid profile w_member_social"}, "state": {"s2"}}
	tokenURL := base + "/linkedin/oauth/v2/accessToken"
	form := url.Values{"grant_type": {"authorization_code"}, "code": {codeFor(t, base+"/linkedin/oauth/v2/authorization", q)}, "redirect_uri": {"https://h.example/cb"},
		"client_id": {"li-app"}, "client_secret": {"li-secret"}}
	st, tj := tokenRequest(t, tokenURL, form, "", "")
	if st != http.StatusOK || tj.AccessToken == "" || tj.RefreshToken == "" || tj.ExpiresIn != 60*24*3600 || tj.RefreshTokenExpiresIn != 365*24*3600 {
		t.Fatalf("exchange: %d %+v", st, tj)
	}
	info := send(t, "GET", base+"/linkedin/v2/userinfo", tj.AccessToken, "", nil)
	if info.status != http.StatusOK || !strings.Contains(string(info.body), `"sub"`) {
		t.Errorf("userinfo: %d %s", info.status, info.body)
	}
	// A refresh keeps the refresh token (LinkedIn does not rotate).
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {"li-app"}, "client_secret": {"li-secret"}}
	for i := range 2 {
		st, again := tokenRequest(t, tokenURL, refresh, "", "")
		if st != http.StatusOK || again.RefreshToken != tj.RefreshToken || again.AccessToken == tj.AccessToken {
			t.Fatalf("refresh %d: %d %+v", i, st, again)
		}
	}
	if n := sim.LinkedIn().Refreshes(); n != 2 {
		t.Errorf("Refreshes() = %d", n)
	}
	// PKCE is checked when the request carried a challenge.
	q.Set("code_challenge", s256(strings.Repeat("p", 43)))
	q.Set("code_challenge_method", "S256")
	form.Set("code", codeFor(t, base+"/linkedin/oauth/v2/authorization", q))
	if st, _ := tokenRequest(t, tokenURL, form, "", ""); st != http.StatusBadRequest {
		t.Errorf("missing verifier: %d", st)
	}
}

func TestLinkedInPostsAndImages(t *testing.T) {
	t.Parallel()
	sim, base := startNet(t)
	g := sim.LinkedIn().CreateAccount("hana", "")
	author := "urn:li:person:" + g.UserID

	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost(author, "no version", nil)); c.status != http.StatusBadRequest {
		t.Errorf("without Linkedin-Version: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost(author, "old", nil), "Linkedin-Version", "202301", "X-Restli-Protocol-Version", "2.0.0"); c.status != http.StatusUpgradeRequired {
		t.Errorf("sunset version: %d %s", c.status, c.body)
	}
	c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost(author, `Hello \(escaped\) #tag (cut here`, nil), liHeaders...)
	urn := c.header.Get("x-restli-id")
	if c.status != http.StatusCreated || !strings.HasPrefix(urn, "urn:li:share:") {
		t.Fatalf("post: %d %v %s", c.status, c.header, c.body)
	}
	if p := sim.LinkedIn().Posts(); len(p) != 1 || p[0].Text != "Hello (escaped) #tag " || !p[0].Truncated {
		t.Errorf("little text read as %+v", p)
	}
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost(author, `Hello \(escaped\) #tag (cut here`, nil), liHeaders...); c.status != http.StatusUnprocessableEntity || !strings.Contains(string(c.body), "duplicate of "+urn) {
		t.Errorf("duplicate: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost("urn:li:person:someone", "impostor", nil), liHeaders...); c.status != http.StatusForbidden {
		t.Errorf("other author: %d", c.status)
	}

	init := sendJSON(t, "POST", base+"/linkedin/rest/images?action=initializeUpload", g.AccessToken, map[string]any{"initializeUploadRequest": map[string]string{"owner": author}}, liHeaders...)
	var iu struct {
		Value struct {
			UploadURL string `json:"uploadUrl"`
			Image     string `json:"image"`
		} `json:"value"`
	}
	init.decode(t, &iu)
	if init.status != http.StatusOK || !strings.HasPrefix(iu.Value.Image, "urn:li:image:") || iu.Value.UploadURL == "" {
		t.Fatalf("initializeUpload: %d %s", init.status, init.body)
	}
	withImage := liPost(author, "picture", map[string]any{"media": map[string]string{"id": iu.Value.Image, "altText": "alt"}})
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, withImage, liHeaders...); c.status != http.StatusBadRequest {
		t.Errorf("image not uploaded yet: %d %s", c.status, c.body)
	}
	if c := send(t, "PUT", iu.Value.UploadURL, g.AccessToken, "application/octet-stream", bytes.NewReader([]byte("png bytes"))); c.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", c.status, c.body)
	}
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, withImage, liHeaders...); c.status != http.StatusCreated {
		t.Errorf("post with image: %d %s", c.status, c.body)
	}
	sim.LinkedIn().SetDailyPostLimit(0)
	if c := sendJSON(t, "POST", base+"/linkedin/rest/posts", g.AccessToken, liPost(author, "over", nil), liHeaders...); c.status != http.StatusTooManyRequests {
		t.Errorf("over the daily limit: %d", c.status)
	}
	if c := send(t, "DELETE", base+"/linkedin/rest/posts/"+url.PathEscape(urn), g.AccessToken, "", nil, liHeaders...); c.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", c.status, c.body)
	}
	ctl := send(t, "GET", base+"/_simnet/linkedin/posts", "", "", nil)
	var list struct {
		Count int                   `json:"count"`
		Posts []simnet.LinkedInPost `json:"posts"`
	}
	ctl.decode(t, &list)
	if list.Count != 2 || !list.Posts[0].Deleted || list.Posts[1].AltTexts[0] != "alt" {
		t.Errorf("control posts: %s", ctl.body)
	}
}
