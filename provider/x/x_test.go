package x_test

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

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/x"
	"github.com/heraldhq/herald/simnet"
)

const (
	clientID     = "herald-app"
	clientSecret = "herald-secret"
	callback     = "https://herald.example/connect/x/callback"
)

type env struct {
	sim  *simnet.Server
	url  string
	p    *x.Provider
	acct provider.Account
}

func setup(t *testing.T, opts ...x.Option) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	sim.X().AddClient(clientID, clientSecret)
	g := sim.X().CreateAccount("alice", clientID)
	cfg := x.OAuthConfig(x.App{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: callback,
		AuthURL: ts.URL + "/x/i/oauth2/authorize", TokenURL: ts.URL + "/x/2/oauth2/token",
	})
	opts = append([]x.Option{x.WithOAuth(cfg), x.WithChunkSize(50)}, opts...)
	return &env{
		sim: sim,
		url: ts.URL,
		p:   x.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), opts...),
		acct: provider.Account{
			ID: "acct_alice", Network: x.Network, InstanceURL: ts.URL + "/x",
			AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: g.ExpiresAt,
			Handle: "@alice", RemoteID: g.UserID,
		},
	}
}

func pngMedia(t *testing.T, name, description string, side int) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, side, side))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return provider.Media{
		FileName: name, MimeType: "image/png", Size: int64(len(b)), Description: description,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

func asProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T); want *provider.Error", err, err)
	}
	return pe
}

func wantKind(t *testing.T, err error, kind provider.Kind) *provider.Error {
	t.Helper()
	pe := asProviderError(t, err)
	if pe.Kind != kind {
		t.Fatalf("kind = %s (%v); want %s", pe.Kind, pe, kind)
	}
	return pe
}

func TestPublishText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Hello from Herald https://example.com/launch", IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.X().Posts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || posts[0].Text != "Hello from Herald https://example.com/launch" || posts[0].AuthorID != e.acct.RemoteID {
		t.Fatalf("result %+v; server has %+v", res, posts)
	}
	if res.RemoteURL != "https://x.com/alice/status/"+res.RemoteID || res.Ref != res.RemoteID {
		t.Errorf("result = %+v", res)
	}
	rl, ok := e.p.RateLimit(e.acct)
	if !ok || rl.Limit != simnet.XDefaultPostLimit || rl.Remaining != simnet.XDefaultPostLimit-1 || rl.Reset.IsZero() {
		t.Errorf("rate limit = %+v, %v", rl, ok)
	}
}

func TestPublishThreadAndFirstComment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "1/ a thread"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "2/ goes on", ReplyTo: &first, Root: &first})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "first comment", ReplyTo: &first, AsComment: true}); err != nil {
		t.Fatal(err)
	}
	posts := e.sim.X().Posts()
	if len(posts) != 3 || posts[1].ID != second.RemoteID || posts[1].ReplyTo != first.RemoteID || posts[2].ReplyTo != first.RemoteID {
		t.Errorf("server has %+v", posts)
	}
	// A reply to a post that is gone is the content's problem.
	gone := provider.Result{RemoteID: "12345"}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "orphan", ReplyTo: &gone})
	wantKind(t, err, provider.BadContent)
}

func TestPublishWithMedia(t *testing.T) {
	t.Parallel()
	e := setup(t) // 50-byte chunks: every image takes several segments
	post := provider.Post{Text: "Two pictures", Media: []provider.Media{pngMedia(t, "one.png", "a red square", 40), pngMedia(t, "two.png", "", 3)}}
	res, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.X().Posts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || len(posts[0].MediaIDs) != 2 || posts[0].AltTexts[0] != "a red square" || posts[0].AltTexts[1] != "" {
		t.Errorf("server has %+v", posts)
	}
}

func TestPublishWaitsForMediaProcessing(t *testing.T) {
	t.Parallel()
	e := setup(t, x.WithMediaPolling(20*time.Millisecond, 10*time.Second))
	e.sim.X().SetMediaProcessing(200 * time.Millisecond)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "processed", Media: []provider.Media{pngMedia(t, "a.png", "", 2)}}); err != nil {
		t.Fatal(err)
	}
	// Without waiting, X refuses the media id as not ready.
	e2 := setup(t, x.WithMediaPolling(20*time.Millisecond, 50*time.Millisecond))
	e2.sim.X().SetMediaProcessing(time.Hour)
	_, err := e2.p.Publish(t.Context(), e2.acct, provider.Post{Text: "never", Media: []provider.Media{pngMedia(t, "a.png", "", 2)}})
	wantKind(t, err, provider.Retry)
	if n := len(e2.sim.X().Posts()); n != 0 {
		t.Errorf("%d posts made with unprocessed media", n)
	}
}

func TestDuplicateIsBadContent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "same words"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "same words"})
	pe := wantKind(t, err, provider.BadContent)
	if pe.Status != http.StatusForbidden || !strings.Contains(pe.Message, "identical") {
		t.Errorf("error = %v", pe)
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.X().SetPostLimit(1, time.Hour)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two"})
	pe := wantKind(t, err, provider.RateLimited)
	rl, ok := e.p.RateLimit(e.acct)
	if !ok || !rl.Exhausted(time.Now()) || !pe.RetryAfter.Equal(rl.Reset) || !pe.RetryAfter.After(time.Now()) {
		t.Errorf("retry after %v; rate limit %+v", pe.RetryAfter, rl)
	}
}

func TestUnauthorizedIsExpiredOrDisconnected(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.X().ExpireAccessTokens()
	// Herald recorded a validity that has run out: a refresh can help.
	expired := e.acct
	expired.ExpiresAt = time.Now().Add(-time.Minute)
	_, err := e.p.Publish(t.Context(), expired, provider.Post{Text: "late"})
	wantKind(t, err, provider.Expired)
	if !e.p.NeedsRefresh(expired, time.Now()) {
		t.Error("NeedsRefresh = false for an expired token")
	}
	// A token refused before its time was revoked.
	_, err = e.p.VerifyCredentials(t.Context(), e.acct)
	wantKind(t, err, provider.Disconnected)
	if e.p.NeedsRefresh(e.acct, time.Now()) {
		t.Error("NeedsRefresh = true for a token good for two hours")
	}
	if !e.p.NeedsRefresh(e.acct, e.acct.ExpiresAt.Add(-4*time.Minute)) {
		t.Error("NeedsRefresh = false four minutes before expiry")
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sim.X().ExpireAccessTokens()
	creds, err := e.p.Refresh(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == "" || creds.AccessToken == e.acct.AccessToken || creds.RefreshToken == "" || creds.RefreshToken == e.acct.RefreshToken {
		t.Fatalf("credentials not renewed: %+v", creds)
	}
	if d := time.Until(creds.ExpiresAt); d < 110*time.Minute || d > 2*time.Hour {
		t.Errorf("expires in %s; want two hours", d)
	}
	if n := e.sim.X().Refreshes(); n != 1 {
		t.Errorf("%d refreshes; want 1", n)
	}
	renewed := e.acct
	renewed.AccessToken, renewed.RefreshToken, renewed.ExpiresAt = creds.AccessToken, creds.RefreshToken, creds.ExpiresAt
	if _, err := e.p.Publish(t.Context(), renewed, provider.Post{Text: "after the refresh"}); err != nil {
		t.Fatal(err)
	}
	// The old refresh token was rotated away.
	_, err = e.p.Refresh(t.Context(), e.acct)
	wantKind(t, err, provider.Disconnected)
	// And a revoked app loses them all.
	e.sim.X().RevokeRefreshTokens()
	_, err = e.p.Refresh(t.Context(), renewed)
	wantKind(t, err, provider.Disconnected)
}

func TestConnectWithPKCE(t *testing.T) {
	t.Parallel()
	e := setup(t)
	verifier := oauth2.GenerateVerifier()
	authURL, err := e.p.AuthorizeURL("st4te", verifier)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
		q.Get("scope") != "tweet.read tweet.write users.read media.write offline.access" || q.Get("redirect_uri") != callback {
		t.Errorf("authorize URL %s", authURL)
	}
	code := authorize(t, authURL, "bob")
	// A wrong verifier is refused: the code is bound to the challenge.
	_, err = e.p.Exchange(t.Context(), code, oauth2.GenerateVerifier())
	if !errs.Is(err, errs.Invalid) {
		t.Errorf("wrong verifier: err = %v; want Invalid", err)
	}
	code = authorize(t, authURL, "bob")
	creds, err := e.p.Exchange(t.Context(), code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == "" || creds.RefreshToken == "" || creds.ExpiresAt.IsZero() {
		t.Fatalf("credentials = %+v", creds)
	}
	prof, err := e.p.VerifyCredentials(t.Context(), provider.Account{InstanceURL: e.acct.InstanceURL, AccessToken: creds.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if prof.Handle != "@bob" || prof.RemoteID == "" || prof.URL != "https://x.com/bob" {
		t.Errorf("profile = %+v", prof)
	}
	if _, err := e.p.AuthorizeURL("st4te", "short"); !errs.Is(err, errs.Invalid) {
		t.Errorf("short verifier: err = %v", err)
	}
}

// authorize plays the browser: simnet consents at once as username and
// sends it back with a code.
func authorize(t *testing.T, authURL, username string) string {
	t.Helper()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.Get(authURL + "&username=" + username)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callback+"?") || loc.Query().Get("state") != "st4te" {
		t.Fatalf("authorize: %d, location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestServerErrorIsRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 30 * time.Second, Path: "/x/"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "try later"})
	pe := wantKind(t, err, provider.Retry)
	if pe.RetryAfter.IsZero() {
		t.Error("Retry-After not read")
	}
	if n := len(e.sim.X().Posts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestLostAnswerIsUnknownAndFoundByText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	text := "Did this go out? Q&A <3 https://example.com/a_b"
	start := time.Now().Add(-time.Second)
	if err := e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/x/2/tweets"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: text})
	wantKind(t, err, provider.Unknown)
	posts := e.sim.X().Posts()
	if len(posts) != 1 {
		t.Fatalf("%d posts; the dropped request should have posted", len(posts))
	}
	res, found, err := e.p.FindByText(t.Context(), e.acct, text, start)
	if err != nil || !found || res.RemoteID != posts[0].ID {
		t.Errorf("FindByText = %+v, %v, %v; want %s", res, found, err, posts[0].ID)
	}
	if _, found, err := e.p.FindByText(t.Context(), e.acct, "something else", start); err != nil || found {
		t.Errorf("FindByText(other) = %v, %v", found, err)
	}
	// A blind repeat would be refused as a duplicate anyway.
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: text})
	wantKind(t, err, provider.BadContent)
}

func TestLostMediaAnswerIsRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/x/2/media/upload/initialize"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "pic", Media: []provider.Media{pngMedia(t, "a.png", "", 2)}})
	wantKind(t, err, provider.Retry)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "pic", Media: []provider.Media{pngMedia(t, "a.png", "", 2)}}); err != nil {
		t.Fatal(err)
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
	if posts := e.sim.X().Posts(); len(posts) != 1 || !posts[0].Deleted {
		t.Errorf("server has %+v", posts)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Errorf("deleting again: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := x.New(nil)
	img := func(mt string, size int64, alt string) provider.Media {
		return provider.Media{MimeType: mt, Size: size, Description: alt}
	}
	cases := []struct {
		name  string
		text  string
		media []provider.Media
		want  []string // fields
	}{
		{"fine", "hello", nil, nil},
		{"280 is allowed", strings.Repeat("a", 280), nil, nil},
		{"281 is not", strings.Repeat("a", 281), nil, []string{"text"}},
		{"141 CJK characters weigh 282", strings.Repeat("の", 141), nil, []string{"text"}},
		{"links count 23", strings.Repeat("https://example.com/x ", 11) + strings.Repeat("a", 30), nil, []string{"text"}},
		{"empty", " ", nil, []string{"text"}},
		{"media only", "", []provider.Media{img("image/png", 10, "")}, nil},
		{"five images", "x", []provider.Media{img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, "")}, []string{"media"}},
		{"a video Herald does not store", "x", []provider.Media{img("video/webm", 10, "")}, []string{"media[0]"}},
		{"too big", "x", []provider.Media{img("image/jpeg", 6<<20, "")}, []string{"media[0]"}},
		{"long alt text", "x", []provider.Media{img("image/jpeg", 10, strings.Repeat("a", 1001))}, []string{"media[0]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := p.Validate(c.text, c.media)
			var fields []string
			for _, v := range got {
				fields = append(fields, v.Field)
			}
			if strings.Join(fields, ",") != strings.Join(c.want, ",") {
				t.Errorf("violations %+v; want fields %v", got, c.want)
			}
		})
	}
}

func TestPublishLargeGIF(t *testing.T) {
	t.Parallel()
	e := setup(t, x.WithChunkSize(1<<20))
	b := append([]byte("GIF89a"), make([]byte, 6<<20)...)
	gif := provider.Media{FileName: "big.gif", MimeType: "image/gif", Size: int64(len(b)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
	if v := e.p.Validate("gif", []provider.Media{gif}); len(v) != 0 {
		t.Fatalf("violations %+v", v)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "gif", Media: []provider.Media{gif}}); err != nil {
		t.Fatal(err)
	}
	if p := e.sim.X().Posts(); len(p) != 1 || len(p[0].MediaIDs) != 1 {
		t.Errorf("server has %+v", p)
	}
}

func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 503, Path: "/x/2/oauth2/token"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Refresh(t.Context(), e.acct)
	wantKind(t, err, provider.Retry)
	if err := e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 429, RetryAfter: time.Minute, Path: "/x/2/oauth2/token"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Refresh(t.Context(), e.acct)
	if pe := wantKind(t, err, provider.RateLimited); pe.RetryAfter.IsZero() {
		t.Error("no RetryAfter")
	}
	// The refresh token survived both refusals.
	if _, err := e.p.Refresh(t.Context(), e.acct); err != nil {
		t.Fatal(err)
	}
	// A lost answer to a refresh is Retry, but X has rotated the token
	// meanwhile: the next try learns it must reconnect (see the package
	// doc).
	e2 := setup(t)
	if err := e2.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/x/2/oauth2/token"}); err != nil {
		t.Fatal(err)
	}
	_, err = e2.p.Refresh(t.Context(), e2.acct)
	wantKind(t, err, provider.Retry)
	_, err = e2.p.Refresh(t.Context(), e2.acct)
	wantKind(t, err, provider.Disconnected)
}
