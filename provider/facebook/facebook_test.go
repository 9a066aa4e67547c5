package facebook_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim  *simnet.Server
	url  string
	page simnet.FacebookPage
	acct provider.Account
	p    *facebook.Provider
}

func setup(t *testing.T, opts ...facebook.Option) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	page := sim.CreateFacebookPage("Acme Bakery")
	return &env{
		sim: sim, url: ts.URL, page: page,
		acct: provider.Account{ID: "acct_acme", Network: facebook.Network, InstanceURL: ts.URL + "/graph", AccessToken: page.AccessToken, RemoteID: page.ID},
		p:    facebook.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), opts...),
	}
}

func jpegMedia(t *testing.T, name string) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return provider.Media{FileName: name, MimeType: "image/jpeg", Size: int64(len(b)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

func kindOf(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T); want *provider.Error", err, err)
	}
	return pe
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := facebook.New(nil)
	img := provider.Media{MimeType: "image/jpeg", Size: 1000}
	tests := []struct {
		name  string
		text  string
		media []provider.Media
		want  []string
	}{
		{"text", "Hello", nil, nil},
		{"empty", "  ", nil, []string{"text"}},
		{"image only", "", []provider.Media{img}, nil},
		{"too long", strings.Repeat("é", facebook.MaxChars+1), nil, []string{"text"}},
		{"emoji count as one", strings.Repeat("👍🏽", facebook.MaxChars), nil, nil},
		{"too many", "x", make([]provider.Media, 11), []string{"media", "media[0]", "media[1]", "media[2]", "media[3]", "media[4]", "media[5]", "media[6]", "media[7]", "media[8]", "media[9]", "media[10]"}},
		{"wrong type", "x", []provider.Media{{MimeType: "video/webm", Size: 10}}, []string{"media[0]"}},
		{"too big", "x", []provider.Media{{MimeType: "image/png", Size: facebook.MaxImageBytes + 1}}, []string{"media[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range p.Validate(tt.text, tt.media) {
				got = append(got, v.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("fields = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestPublishTextAndFirstComment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Fresh bread at 7 https://acme.example/bread.", IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.RemoteID, e.page.ID+"_") || res.RemoteURL != "https://www.facebook.com/"+res.RemoteID {
		t.Errorf("result = %+v", res)
	}
	c, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Order ahead: 555-0100", ReplyTo: &res, AsComment: true})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.FacebookPosts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || posts[0].Message != "Fresh bread at 7 https://acme.example/bread." || posts[0].Link != "https://acme.example/bread" {
		t.Fatalf("posts = %+v", posts)
	}
	if cs := posts[0].Comments; len(cs) != 1 || cs[0].ID != c.RemoteID || cs[0].Message != "Order ahead: 555-0100" || cs[0].FromID != e.page.ID {
		t.Errorf("comments = %+v; result %+v", cs, c)
	}
	// A thread part is not something a page can post.
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "part 2", ReplyTo: &res})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Errorf("thread part: %v", pe)
	}
}

func TestPublishImages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	one, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "One loaf", Media: []provider.Media{jpegMedia(t, "loaf.jpg")}})
	if err != nil {
		t.Fatal(err)
	}
	three, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Three loaves", Media: []provider.Media{jpegMedia(t, "a.jpg"), jpegMedia(t, "b.jpg"), jpegMedia(t, "c.jpg")}})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.FacebookPosts()
	if len(posts) != 2 {
		t.Fatalf("posts = %+v", posts)
	}
	if posts[0].ID != one.RemoteID || len(posts[0].PhotoIDs) != 1 || posts[0].Message != "One loaf" {
		t.Errorf("single photo post = %+v; result %+v", posts[0], one)
	}
	if posts[1].ID != three.RemoteID || len(posts[1].PhotoIDs) != 3 || posts[1].Message != "Three loaves" {
		t.Errorf("multi-photo post = %+v; result %+v", posts[1], three)
	}
}

func TestPublishImageByURL(t *testing.T) {
	t.Parallel()
	media := jpegMedia(t, "loaf.jpg")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.NotFound(w, r)
			return
		}
		rc, _ := media.Open(r.Context())
		defer rc.Close()
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = io.Copy(w, rc)
	}))
	t.Cleanup(files.Close)
	var asked int
	e := setup(t, facebook.WithMediaURL(func(_ context.Context, m provider.Media) (string, error) {
		asked++
		return files.URL + "/signed/" + m.FileName, nil
	}))
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "By URL", Media: []provider.Media{media}}); err != nil {
		t.Fatal(err)
	}
	if asked != 1 || len(e.sim.FacebookPosts()) != 1 {
		t.Errorf("asked %d times for a URL; posts %+v", asked, e.sim.FacebookPosts())
	}
	// A URL Facebook cannot fetch is the content's problem.
	bad := setup(t, facebook.WithMediaURL(func(context.Context, provider.Media) (string, error) { return files.URL + "/gone", nil }))
	_, err := bad.p.Publish(t.Context(), bad.acct, provider.Post{Text: "Gone", Media: []provider.Media{media}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Errorf("unfetchable image: %v", pe)
	}
}

func TestDuplicateIsBadContent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Same again"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Same again"})
	pe := kindOf(t, err)
	if pe.Kind != provider.BadContent || !strings.Contains(pe.Message, "Duplicate") {
		t.Errorf("duplicate: %v", pe)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(*simnet.Server, string)
		want  provider.Kind
	}{
		{"expired", (*simnet.Server).ExpireMetaToken, provider.Disconnected},    // no way to renew: reconnect
		{"authorized", (*simnet.Server).RevokeMetaToken, provider.Disconnected}, // "has not authorized application"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			tt.spoil(e.sim, e.acct.AccessToken)
			_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "hi"})
			if pe := kindOf(t, err); pe.Kind != tt.want || strings.Contains(pe.Error(), e.acct.AccessToken) || !strings.Contains(pe.Message, tt.name) {
				t.Errorf("publish: %v; want %s, saying %s, without the token", pe, tt.want, tt.name)
			}
			_, err = e.p.VerifyCredentials(t.Context(), e.acct)
			if pe := kindOf(t, err); pe.Kind != tt.want {
				t.Errorf("verify: %v; want %s", pe, tt.want)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.acct.AccessToken = "not-a-token"
		_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "hi"})
		if pe := kindOf(t, err); pe.Kind != provider.Disconnected {
			t.Errorf("%v", pe)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 10, 20, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sim := simnet.New(simnet.Options{Now: clock})
	sim.SetMeta(simnet.MetaOptions{CallLimit: 2})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	page := sim.CreateFacebookPage("Busy")
	acct := provider.Account{ID: "busy", InstanceURL: ts.URL + "/graph", AccessToken: page.AccessToken, RemoteID: page.ID}
	p := facebook.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), facebook.WithClock(clock))
	if _, err := p.Publish(t.Context(), acct, provider.Post{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	if rl, ok := p.RateLimit(acct); !ok || rl.Limit != 100 || rl.Remaining != 50 {
		t.Errorf("after one of two calls: %+v %v", rl, ok)
	}
	if _, err := p.Publish(t.Context(), acct, provider.Post{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	// The second answer said 100 %: the budget is spent until the hour
	// turns (11:00, 40 minutes on), and Herald does not even ask.
	rl, _ := p.RateLimit(acct)
	if !rl.Exhausted(now) || !rl.Reset.Equal(now.Add(40*time.Minute)) {
		t.Errorf("budget = %+v", rl)
	}
	before := sim.Stats().Requests
	_, err := p.Publish(t.Context(), acct, provider.Post{Text: "three"})
	pe := kindOf(t, err)
	if pe.Kind != provider.RateLimited || !pe.RetryAfter.Equal(now.Add(40*time.Minute)) || sim.Stats().Requests != before {
		t.Errorf("third: %v, retry after %s; %d requests made", pe, pe.RetryAfter, sim.Stats().Requests-before)
	}
	// A provider that has not seen the headers asks, and is refused with
	// code 32 and the BUC header's estimate.
	fresh := facebook.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), facebook.WithClock(clock))
	_, err = fresh.Publish(t.Context(), acct, provider.Post{Text: "three"})
	pe = kindOf(t, err)
	if pe.Kind != provider.RateLimited || !pe.RetryAfter.Equal(now.Add(40*time.Minute)) || !strings.Contains(pe.Message, "limit") {
		t.Errorf("fresh provider: %v, retry after %s", pe, pe.RetryAfter)
	}
	if n := len(sim.FacebookPosts()); n != 2 {
		t.Errorf("%d posts; want 2", n)
	}
}

func TestLostAndFailedAnswers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/graph/"})
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Lost in the mail"})
	if pe := kindOf(t, err); pe.Kind != provider.Unknown {
		t.Errorf("dropped post: %v; want unknown", pe)
	}
	if n := len(e.sim.FacebookPosts()); n != 1 {
		t.Errorf("the dropped post should exist: %d posts", n)
	}
	// A lost unpublished-photo upload shows nothing: retry.
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/graph/"})
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two", Media: []provider.Media{jpegMedia(t, "a.jpg"), jpegMedia(t, "b.jpg")}})
	if pe := kindOf(t, err); pe.Kind != provider.Retry {
		t.Errorf("dropped upload: %v; want retry", pe)
	}
	_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 30 * time.Second})
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "busy"})
	if pe := kindOf(t, err); pe.Kind != provider.Retry || pe.RetryAfter.IsZero() {
		t.Errorf("503: %v", pe)
	}
}

func TestDeleteAndVerify(t *testing.T) {
	t.Parallel()
	e := setup(t)
	prof, err := e.p.VerifyCredentials(t.Context(), e.acct)
	if err != nil || prof.RemoteID != e.page.ID || prof.DisplayName != "Acme Bakery" {
		t.Fatalf("profile %+v, %v", prof, err)
	}
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.FacebookPosts()); n != 0 {
		t.Errorf("%d posts after delete", n)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	other := e.sim.CreateFacebookPage("Other")
	e.acct.AccessToken = other.AccessToken
	_, err = e.p.VerifyCredentials(t.Context(), e.acct)
	if pe := kindOf(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("another page's token: %v", pe)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consent plays the browser on the simulated dialog and returns where it
// is sent back to.
func consent(t *testing.T, authorizeURL, login string) *url.URL {
	t.Helper()
	page, err := http.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("dialog: %d %s", page.StatusCode, body)
	}
	form := url.Values{"login": {login}, "decision": {"authorize"}}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(authorizeURL)
	res, err := browser.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("consent: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc
}

func TestConnectPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id, secret := e.sim.CreateMetaApp()
	e.sim.CreateFacebookUser("dana", "Dana's Bakery", "Dana's Cafe")
	app := facebook.App{ClientID: id, ClientSecret: secret, RedirectURL: "https://herald.example/connect/facebook/callback", GraphURL: e.url + "/graph", DialogURL: e.url + "/facebook"}
	if _, err := e.p.AuthorizeURL(app, ""); !errs.Is(err, errs.Invalid) {
		t.Errorf("no state: %v", err)
	}
	authURL, err := e.p.AuthorizeURL(app, "st4te")
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := url.Parse(authURL); q.Query().Get("scope") != "pages_manage_posts,pages_read_engagement,pages_show_list" {
		t.Errorf("scope = %q", q.Query().Get("scope"))
	}
	back := consent(t, authURL, "dana")
	if back.Query().Get("state") != "st4te" {
		t.Fatalf("state came back as %q", back.Query().Get("state"))
	}
	code := back.Query().Get("code")
	tok, err := e.p.ExchangeCode(t.Context(), app, code)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.ExpiresAt); d < 59*24*time.Hour {
		t.Errorf("token lives %s; want a long-lived one", d)
	}
	if _, err := e.p.ExchangeCode(t.Context(), app, code); !errs.Is(err, errs.Invalid) {
		t.Errorf("reused code: %v", err)
	}
	pages, err := e.p.Pages(t.Context(), app, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 || pages[0].Name != "Dana's Bakery" || pages[1].Name != "Dana's Cafe" || !pages[1].CanPublish() || pages[1].AccessToken == "" {
		t.Fatalf("pages = %+v", pages)
	}
	acct := provider.Account{InstanceURL: app.GraphURL, RemoteID: pages[1].ID, AccessToken: pages[1].AccessToken}
	if prof, err := e.p.VerifyCredentials(t.Context(), acct); err != nil || prof.DisplayName != "Dana's Cafe" {
		t.Errorf("verify the connected page: %+v, %v", prof, err)
	}
	if _, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "Hello from the cafe"}); err != nil {
		t.Errorf("publish as the connected page: %v", err)
	}
	bad := app
	bad.ClientSecret = "wrong"
	back = consent(t, authURL, "dana")
	if _, err := e.p.ExchangeCode(t.Context(), bad, back.Query().Get("code")); err == nil || errs.KindOf(err) == errs.Internal {
		t.Errorf("wrong secret: %v", err)
	}
}
