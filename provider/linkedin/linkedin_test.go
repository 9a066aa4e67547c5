package linkedin_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/linkedin"
	"github.com/heraldhq/herald/simnet"
)

const (
	clientID     = "herald-li"
	clientSecret = "li-secret"
	callback     = "https://herald.example/connect/linkedin/callback"
)

type env struct {
	sim  *simnet.Server
	url  string
	p    *linkedin.Provider
	acct provider.Account
}

func setup(t *testing.T, opts ...linkedin.Option) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	sim.LinkedIn().AddClient(clientID, clientSecret)
	g := sim.LinkedIn().CreateAccount("alice", clientID)
	cfg := linkedin.OAuthConfig(linkedin.App{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: callback,
		AuthURL: ts.URL + "/linkedin/oauth/v2/authorization", TokenURL: ts.URL + "/linkedin/oauth/v2/accessToken",
	})
	return &env{
		sim: sim,
		url: ts.URL,
		p:   linkedin.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), append([]linkedin.Option{linkedin.WithOAuth(cfg)}, opts...)...),
		acct: provider.Account{
			ID: "acct_alice", Network: linkedin.Network, InstanceURL: ts.URL + "/linkedin",
			AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: g.ExpiresAt,
			Handle: "Alice", RemoteID: "urn:li:person:" + g.UserID,
		},
	}
}

func pngMedia(t *testing.T, description string) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return provider.Media{
		FileName: "a.png", MimeType: "image/png", Size: int64(len(b)), Description: description,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

func wantKind(t *testing.T, err error, kind provider.Kind) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T); want *provider.Error", err, err)
	}
	if pe.Kind != kind {
		t.Fatalf("kind = %s (%v); want %s", pe.Kind, pe, kind)
	}
	return pe
}

func TestPublishText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Hello from Herald"})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.LinkedIn().Posts()
	if len(posts) != 1 || posts[0].URN != res.RemoteID || posts[0].Author != e.acct.RemoteID || posts[0].Text != "Hello from Herald" ||
		posts[0].Version != linkedin.DefaultVersion || posts[0].Visibility != "PUBLIC" {
		t.Fatalf("result %+v; server has %+v", res, posts)
	}
	if !strings.HasPrefix(res.RemoteID, "urn:li:share:") || res.RemoteURL != "https://www.linkedin.com/feed/update/"+res.RemoteID+"/" {
		t.Errorf("result = %+v", res)
	}
}

// LinkedIn cuts a post at its first unescaped reserved character; the
// provider's escaping keeps the whole text, its links and hashtags.
func TestPublishKeepsReservedCharacters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	text := "Launch (finally) [v2] <3 *new* ~50% off_now @team \\o/ #launch https://example.com/a_(b)"
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: text}); err != nil {
		t.Fatal(err)
	}
	posts := e.sim.LinkedIn().Posts()
	if len(posts) != 1 || posts[0].Truncated || posts[0].Text != text {
		t.Fatalf("LinkedIn shows %q (truncated %v); want %q", posts[0].Text, posts[0].Truncated, text)
	}
}

func TestEscapeCommentary(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"(a)", `\(a\)`},
		{"#tag and # alone", `#tag and \# alone`},
		{"@someone", `\@someone`},
		{`back\slash`, `back\\slash`},
		{"see https://x.example/a_b(c) now_", `see https://x.example/a_b(c) now\_`},
		{"nothttps://x.example/_", `nothttps://x.example/\_`},
		{"|{}<>*~[]", `\|\{\}\<\>\*\~\[\]`},
	}
	for _, c := range cases {
		if got := linkedin.EscapeCommentary(c.in); got != c.want {
			t.Errorf("EscapeCommentary(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestPublishWithImages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one", Media: []provider.Media{pngMedia(t, "a square")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "three", Media: []provider.Media{pngMedia(t, "1"), pngMedia(t, "2"), pngMedia(t, "")}}); err != nil {
		t.Fatal(err)
	}
	posts := e.sim.LinkedIn().Posts()
	if len(posts) != 2 || len(posts[0].Images) != 1 || posts[0].AltTexts[0] != "a square" || len(posts[1].Images) != 3 || posts[1].AltTexts[1] != "2" {
		t.Errorf("server has %+v", posts)
	}
	for _, p := range posts {
		for _, img := range p.Images {
			if !strings.HasPrefix(img, "urn:li:image:") {
				t.Errorf("image %q", img)
			}
		}
	}
}

func TestPublishAsOrganization(t *testing.T) {
	t.Parallel()
	e := setup(t)
	memberID := strings.TrimPrefix(e.acct.RemoteID, "urn:li:person:")
	org := e.acct
	org.RemoteID = e.sim.LinkedIn().AddOrganization(memberID)
	if _, err := e.p.Publish(t.Context(), org, provider.Post{Text: "from the page", Media: []provider.Media{pngMedia(t, "")}}); err != nil {
		t.Fatal(err)
	}
	// An organization the member does not administer is refused.
	other := e.acct
	other.RemoteID = "urn:li:organization:999"
	_, err := e.p.Publish(t.Context(), other, provider.Post{Text: "not mine"})
	wantKind(t, err, provider.Disconnected)
}

func TestRefusedContentIsBadContent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "twice"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "twice"})
	pe := wantKind(t, err, provider.BadContent)
	if pe.Status != http.StatusUnprocessableEntity || !strings.Contains(pe.Message, "duplicate of urn:li:share:") {
		t.Errorf("error = %v", pe)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: strings.Repeat("a", 3001)})
	wantKind(t, err, provider.BadContent)
	first := provider.Result{RemoteID: "urn:li:share:1"}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "a thread?", ReplyTo: &first})
	wantKind(t, err, provider.BadContent)
}

func TestRateLimitedUntilMidnightUTC(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.LinkedIn().SetDailyPostLimit(1)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two"})
	pe := wantKind(t, err, provider.RateLimited)
	midnight := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	if !pe.RetryAfter.Equal(midnight) {
		t.Errorf("retry after %v; want %v", pe.RetryAfter, midnight)
	}
}

func TestOldVersionIsRetryWithAMessage(t *testing.T) {
	t.Parallel()
	e := setup(t, linkedin.WithVersion("202401"))
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "old"})
	pe := wantKind(t, err, provider.Retry)
	if pe.Status != http.StatusUpgradeRequired || !strings.Contains(pe.Message, "202401") {
		t.Errorf("error = %v", pe)
	}
}

func TestUnauthorizedIsExpiredOrDisconnected(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.LinkedIn().ExpireAccessTokens()
	expired := e.acct
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	_, err := e.p.Publish(t.Context(), expired, provider.Post{Text: "late"})
	wantKind(t, err, provider.Expired)
	_, err = e.p.VerifyCredentials(t.Context(), e.acct)
	wantKind(t, err, provider.Disconnected)
}

func TestRefreshKeepsTheRefreshToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if e.p.NeedsRefresh(e.acct, time.Now()) {
		t.Error("NeedsRefresh = true for a 60-day token")
	}
	if !e.p.NeedsRefresh(e.acct, e.acct.ExpiresAt.Add(-time.Hour)) {
		t.Error("NeedsRefresh = false an hour before expiry")
	}
	noRefresh := e.acct
	noRefresh.RefreshToken = ""
	if e.p.NeedsRefresh(noRefresh, e.acct.ExpiresAt) {
		t.Error("NeedsRefresh = true without a refresh token")
	}
	e.sim.LinkedIn().ExpireAccessTokens()
	creds, err := e.p.Refresh(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == "" || creds.AccessToken == e.acct.AccessToken || creds.RefreshToken != "" {
		t.Errorf("credentials = %+v; want a new access token and the refresh token kept", creds)
	}
	if d := time.Until(creds.ExpiresAt); d < 59*24*time.Hour {
		t.Errorf("expires in %s", d)
	}
	// The same refresh token serves again.
	if _, err := e.p.Refresh(t.Context(), e.acct); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.LinkedIn().Refreshes(); n != 2 {
		t.Errorf("%d refreshes; want 2", n)
	}
	renewed := e.acct
	renewed.AccessToken = creds.AccessToken
	if _, err := e.p.Publish(t.Context(), renewed, provider.Post{Text: "renewed"}); err != nil {
		t.Fatal(err)
	}
	bad := e.acct
	bad.RefreshToken = "li-rt-unknown"
	_, err = e.p.Refresh(t.Context(), bad)
	wantKind(t, err, provider.Disconnected)
}

func TestConnect(t *testing.T) {
	t.Parallel()
	e := setup(t)
	authURL, err := e.p.AuthorizeURL("st4te")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	if q := u.Query(); q.Get("scope") != "openid profile w_member_social" || q.Get("state") != "st4te" || q.Get("redirect_uri") != callback || q.Get("code_challenge") != "" {
		t.Errorf("authorize URL %s", authURL)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.Get(authURL + "&username=bob")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if back.Query().Get("state") != "st4te" || back.Query().Get("code") == "" {
		t.Fatalf("sent back to %s", back)
	}
	creds, err := e.p.Exchange(t.Context(), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == "" || creds.RefreshToken == "" {
		t.Errorf("credentials = %+v", creds)
	}
	prof, err := e.p.VerifyCredentials(t.Context(), provider.Account{InstanceURL: e.acct.InstanceURL, AccessToken: creds.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(prof.RemoteID, "urn:li:person:") || prof.DisplayName != "Bob" {
		t.Errorf("profile = %+v", prof)
	}
	// A code is single use.
	if _, err := e.p.Exchange(t.Context(), back.Query().Get("code")); !errs.Is(err, errs.Invalid) {
		t.Errorf("second exchange: err = %v; want Invalid", err)
	}
}

func TestServerErrorIsRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 502, Path: "/linkedin/rest/posts"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "later"})
	wantKind(t, err, provider.Retry)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "later"}); err != nil {
		t.Fatal(err)
	}
}

func TestLostAnswerIsUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/linkedin/rest/posts"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "did it?"})
	wantKind(t, err, provider.Unknown)
	if n := len(e.sim.LinkedIn().Posts()); n != 1 {
		t.Fatalf("%d posts; the dropped request should have posted", n)
	}
	// A repeat is refused, naming the post that exists.
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "did it?"})
	pe := wantKind(t, err, provider.BadContent)
	if !strings.Contains(pe.Message, e.sim.LinkedIn().Posts()[0].URN) {
		t.Errorf("error = %v", pe)
	}
}

func TestLostUploadAnswerIsRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/linkedin/upload/"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "pic", Media: []provider.Media{pngMedia(t, "")}})
	wantKind(t, err, provider.Retry)
	if n := len(e.sim.LinkedIn().Posts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "short-lived"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Fatal(err)
	}
	if posts := e.sim.LinkedIn().Posts(); !posts[0].Deleted {
		t.Errorf("server has %+v", posts)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Errorf("deleting again: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := linkedin.New(nil)
	img := func(mt string, size int64) provider.Media { return provider.Media{MimeType: mt, Size: size} }
	cases := []struct {
		name  string
		text  string
		media []provider.Media
		want  string
	}{
		{"fine", "hello (world)", nil, ""},
		{"3000 characters", strings.Repeat("é", 3000), nil, ""},
		{"3001 characters", strings.Repeat("a", 3001), nil, "text"},
		{"empty", "", nil, "text"},
		{"webp", "x", []provider.Media{img("image/webp", 10)}, "media[0]"},
		{"too big", "x", []provider.Media{img("image/png", 11<<20)}, "media[0]"},
		{"21 images", "x", make([]provider.Media, 21), "media"},
	}
	for _, c := range cases {
		got := p.Validate(c.text, c.media)
		first := ""
		if len(got) > 0 {
			first = got[0].Field
		}
		if first != c.want {
			t.Errorf("%s: violations %+v; want first on %q", c.name, got, c.want)
		}
	}
}
