package instagram_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/instagram"
	"github.com/heraldhq/herald/simnet"
)

// blobs plays Herald's blob store handing out signed URLs: it serves each
// media's bytes at /signed/<file name>.
type blobs struct {
	srv   *httptest.Server
	files map[string][]byte
	asked atomic.Int64
}

func newBlobs(t *testing.T) *blobs {
	b := &blobs{files: map[string][]byte{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := b.files[strings.TrimPrefix(r.URL.Path, "/signed/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *blobs) mediaURL(_ context.Context, m provider.Media) (string, error) {
	b.asked.Add(1)
	return b.srv.URL + "/signed/" + url.PathEscape(m.FileName), nil
}

func (b *blobs) add(t *testing.T, name string, asPNG bool) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	mt := "image/jpeg"
	if asPNG {
		mt = "image/png"
		_ = png.Encode(&buf, img)
	} else if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	b.files[name] = data
	return provider.Media{FileName: name, MimeType: mt, Size: int64(len(data)), Description: "alt for " + name,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

type env struct {
	sim   *simnet.Server
	url   string
	ig    simnet.InstagramAccount
	acct  provider.Account
	p     *instagram.Provider
	blobs *blobs
}

func setup(t *testing.T, meta simnet.MetaOptions, clock func() time.Time) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: clock})
	sim.SetMeta(meta)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	b := newBlobs(t)
	ig := sim.CreateInstagramAccount("acme")
	opts := []instagram.Option{instagram.WithMediaURL(b.mediaURL), instagram.WithPolling(5*time.Millisecond, 5*time.Second)}
	if clock != nil {
		opts = append(opts, instagram.WithClock(clock))
	}
	return &env{
		sim: sim, url: ts.URL, ig: ig, blobs: b,
		acct: provider.Account{ID: "acct_ig", Network: instagram.Network, InstanceURL: ts.URL + "/graph", AccessToken: ig.AccessToken, RemoteID: ig.ID},
		p:    instagram.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), opts...),
	}
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
	p := instagram.New(nil)
	img := provider.Media{MimeType: "image/jpeg", Size: 1000}
	tags := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" #tag" + strings.Repeat("x", i))
		}
		return b.String()
	}
	mentions := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" @user" + strings.Repeat("x", i))
		}
		return b.String()
	}
	tests := []struct {
		name  string
		text  string
		media []provider.Media
		want  []string
	}{
		{"one image", "Hi", []provider.Media{img}, nil},
		{"no image", "Hi", nil, []string{"media"}},
		{"caption 2200", strings.Repeat("ü", 2200), []provider.Media{img}, nil},
		{"caption 2201", strings.Repeat("ü", 2201), []provider.Media{img}, []string{"text"}},
		{"30 hashtags", tags(30), []provider.Media{img}, nil},
		{"31 hashtags", tags(31), []provider.Media{img}, []string{"text"}},
		{"anchors are not hashtags", "see page.html#top and a&#39;s" + tags(30), []provider.Media{img}, nil},
		{"20 mentions", mentions(20), []provider.Media{img}, nil},
		{"21 mentions", mentions(21), []provider.Media{img}, []string{"text"}},
		{"email is not a mention", "mail me@example.com" + mentions(20), []provider.Media{img}, nil},
		{"png", "x", []provider.Media{{MimeType: "image/png", Size: 10}}, []string{"media[0]"}},
		{"11 images", "x", []provider.Media{img, img, img, img, img, img, img, img, img, img, img}, []string{"media"}},
		{"too big", "x", []provider.Media{{MimeType: "image/jpeg", Size: instagram.MaxImageBytes + 1}}, []string{"media[0]"}},
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
	if l := p.Limits(); !l.MediaRequired || !l.FirstComment || l.MaxTextChars != 2200 {
		t.Errorf("limits = %+v", l)
	}
}

func TestPublishImageAndFirstComment(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{Processing: 30 * time.Millisecond}, nil)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "New season #bread", Media: []provider.Media{e.blobs.add(t, "loaf.jpg", false)}})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.InstagramPosts()
	if len(posts) != 1 {
		t.Fatalf("posts = %+v", posts)
	}
	md := posts[0]
	if md.ID != res.RemoteID || md.Permalink != res.RemoteURL || md.MediaType != "IMAGE" || md.Caption != "New season #bread" ||
		md.ImageURLs[0] != e.blobs.srv.URL+"/signed/loaf.jpg" || md.AltTexts[0] != "alt for loaf.jpg" {
		t.Errorf("media %+v; result %+v", md, res)
	}
	c, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Link in bio", ReplyTo: &res, AsComment: true})
	if err != nil {
		t.Fatal(err)
	}
	if cs := e.sim.InstagramPosts()[0].Comments; len(cs) != 1 || cs[0].ID != c.RemoteID || cs[0].Text != "Link in bio" {
		t.Errorf("comments = %+v", cs)
	}
}

func TestPublishCarousel(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{Processing: 10 * time.Millisecond}, nil)
	media := []provider.Media{e.blobs.add(t, "a.jpg", false), e.blobs.add(t, "b.jpg", false), e.blobs.add(t, "c.jpg", false)}
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Three ways", Media: media})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.InstagramPosts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || posts[0].MediaType != "CAROUSEL_ALBUM" || len(posts[0].ImageURLs) != 3 || posts[0].Caption != "Three ways" {
		t.Errorf("posts = %+v", posts)
	}
	if e.blobs.asked.Load() != 3 {
		t.Errorf("asked for %d URLs; want 3", e.blobs.asked.Load())
	}
}

func TestContainerError(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	tests := []struct {
		name  string
		media []provider.Media
		want  string
	}{
		{"not a jpeg", []provider.Media{e.blobs.add(t, "pic.png", true)}, "JPEG"},
		{"not downloadable", []provider.Media{{FileName: "missing.jpg", MimeType: "image/jpeg", Size: 10}}, "download"},
		{"carousel item", []provider.Media{e.blobs.add(t, "ok.jpg", false), {FileName: "missing.jpg", MimeType: "image/jpeg", Size: 10}}, "download"},
	}
	for _, tt := range tests {
		_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: tt.name, Media: tt.media})
		pe := kindOf(t, err)
		if pe.Kind != provider.BadContent || !strings.Contains(pe.Message, tt.want) {
			t.Errorf("%s: %v; want bad content about %q", tt.name, pe, tt.want)
		}
	}
	if n := len(e.sim.InstagramPosts()); n != 0 {
		t.Errorf("%d posts published", n)
	}
	noURLs := instagram.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}))
	_, err := noURLs.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{e.blobs.add(t, "x.jpg", false)}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent || !strings.Contains(pe.Message, "public media") {
		t.Errorf("without WithMediaURL: %v", pe)
	}
}

func TestPublishingQuota(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	e := setup(t, simnet.MetaOptions{InstagramQuota: 2}, func() time.Time { return now })
	post := func() error {
		_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{e.blobs.add(t, "q.jpg", false)}})
		return err
	}
	for range 2 {
		if err := post(); err != nil {
			t.Fatal(err)
		}
	}
	pe := kindOf(t, post())
	if pe.Kind != provider.RateLimited || !pe.RetryAfter.Equal(now.Add(time.Hour)) || !strings.Contains(pe.Message, "2 of the 2") {
		t.Errorf("third post: %v (retry after %s)", pe, pe.RetryAfter)
	}
	if n := len(e.sim.InstagramPosts()); n != 2 {
		t.Errorf("%d posts; want 2", n)
	}
}

func TestCallRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 9, 45, 0, 0, time.UTC)
	// Checking the quota, making, polling and publishing: four calls.
	e := setup(t, simnet.MetaOptions{CallLimit: 3}, func() time.Time { return now })
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{e.blobs.add(t, "r.jpg", false)}})
	pe := kindOf(t, err)
	if pe.Kind != provider.RateLimited || !pe.RetryAfter.Equal(now.Add(15*time.Minute)) {
		t.Errorf("%v (retry after %s); want rate limited until 10:00", pe, pe.RetryAfter)
	}
	if rl, ok := e.p.RateLimit(e.acct); !ok || !rl.Exhausted(now) {
		t.Errorf("budget = %+v, %v", rl, ok)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		spoil func(*simnet.Server, string)
		want  provider.Kind
	}{
		{"expired", (*simnet.Server).ExpireMetaToken, provider.Disconnected}, // no way to renew: reconnect
		{"revoked", (*simnet.Server).RevokeMetaToken, provider.Disconnected},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, simnet.MetaOptions{}, nil)
			tt.spoil(e.sim, e.acct.AccessToken)
			_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{e.blobs.add(t, "t.jpg", false)}})
			if pe := kindOf(t, err); pe.Kind != tt.want {
				t.Errorf("publish: %v; want %s", pe, tt.want)
			}
			_, err = e.p.VerifyCredentials(t.Context(), e.acct)
			if pe := kindOf(t, err); pe.Kind != tt.want {
				t.Errorf("verify: %v; want %s", pe, tt.want)
			}
		})
	}
}

func TestLostAnswers(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	media := []provider.Media{e.blobs.add(t, "l.jpg", false)}
	// A lost container answer leaves nothing public: retry.
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/graph/v24.0/" + e.ig.ID + "/media"})
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: media})
	if pe := kindOf(t, err); pe.Kind != provider.Retry {
		t.Errorf("lost container: %v; want retry", pe)
	}
	// A lost media_publish answer is settled in the same call: the
	// container says PUBLISHED, and the media is the newest with the
	// caption.
	_ = e.sim.SetFaults(simnet.Faults{DropNext: 1, Path: "/graph/v24.0/" + e.ig.ID + "/media_publish"})
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "settled", Media: media})
	if err != nil {
		t.Fatalf("lost publish: %v; want it settled", err)
	}
	posts := e.sim.InstagramPosts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || posts[0].Permalink != res.RemoteURL {
		t.Errorf("result %+v; posts %+v", res, posts)
	}
	// When Instagram cannot be asked, the outcome stays unknown.
	publish := "/graph/v24.0/" + e.ig.ID + "/media_publish"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != publish {
			e.sim.ServeHTTP(w, r)
			return
		}
		// Instagram publishes, becomes unreachable, and only then is the
		// answer lost: the provider's look-up can never reach it first.
		e.sim.ServeHTTP(httptest.NewRecorder(), r)
		_ = e.sim.SetFaults(simnet.Faults{ErrorRate: 1})
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(ts.Close)
	e.acct.InstanceURL = ts.URL + "/graph"
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "unsettled", Media: media})
	if pe := kindOf(t, err); pe.Kind != provider.Unknown {
		t.Errorf("lost publish, unreachable after: %v; want unknown", pe)
	}
	if n := len(e.sim.InstagramPosts()); n != 2 {
		t.Errorf("%d posts; want 2", n)
	}
}

func TestVerifyAndConnect(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	prof, err := e.p.VerifyCredentials(t.Context(), e.acct)
	if err != nil || prof.Handle != "@acme" || prof.RemoteID != e.ig.ID {
		t.Fatalf("profile %+v, %v", prof, err)
	}
	id, secret := e.sim.CreateMetaApp()
	app := instagram.App{ClientID: id, ClientSecret: secret, RedirectURL: "https://herald.example/connect/instagram/callback", GraphURL: e.url + "/graph", DialogURL: e.url + "/facebook"}
	authURL, err := e.p.AuthorizeURL(app, "s")
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := url.Parse(authURL); !strings.Contains(q.Query().Get("scope"), "instagram_content_publish") {
		t.Errorf("scope = %q", q.Query().Get("scope"))
	}
	code := consent(t, authURL, e.ig.UserLogin).Query().Get("code")
	tok, err := e.p.ExchangeCode(t.Context(), app, code)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := e.p.Accounts(t.Context(), app, tok.AccessToken)
	if err != nil || len(accts) != 1 || accts[0].ID != e.ig.ID || accts[0].Username != "acme" {
		t.Fatalf("accounts %+v, %v", accts, err)
	}
	// Publishing with the page token the connect flow gives.
	acct := provider.Account{InstanceURL: app.GraphURL, RemoteID: accts[0].ID, AccessToken: accts[0].AccessToken}
	if _, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "via page token", Media: []provider.Media{e.blobs.add(t, "p.jpg", false)}}); err != nil {
		t.Errorf("publish with the page token: %v", err)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func consent(t *testing.T, authorizeURL, login string) *url.URL {
	t.Helper()
	page, err := http.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
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
