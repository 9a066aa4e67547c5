package threads_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image"
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

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim   *simnet.Server
	url   string
	th    simnet.ThreadsAccount
	acct  provider.Account
	p     *threads.Provider
	files *httptest.Server
	img   provider.Media
}

func setup(t *testing.T, meta simnet.MetaOptions, clock func() time.Time) *env {
	t.Helper()
	sim := simnet.New(simnet.Options{Now: clock})
	sim.SetMeta(meta)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 3, 3)))
	data := buf.Bytes()
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/signed/") {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(files.Close)
	th := sim.CreateThreadsAccount("acme")
	opts := []threads.Option{
		threads.WithPolling(5*time.Millisecond, 5*time.Second),
		threads.WithMediaURL(func(_ context.Context, m provider.Media) (string, error) { return files.URL + "/" + m.FileName, nil }),
	}
	if clock != nil {
		opts = append(opts, threads.WithClock(clock))
	}
	return &env{
		sim: sim, url: ts.URL, th: th, files: files,
		acct: provider.Account{ID: "acct_th", Network: threads.Network, InstanceURL: ts.URL + "/threads", AccessToken: th.AccessToken, RemoteID: th.ID, ExpiresAt: th.ExpiresAt},
		p:    threads.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), opts...),
		img: provider.Media{FileName: "signed/pic.png", MimeType: "image/png", Size: int64(len(data)), Description: "a pixel",
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }},
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
	p := threads.New(nil)
	img := provider.Media{MimeType: "image/png", Size: 10}
	for _, tt := range []struct {
		name  string
		text  string
		media []provider.Media
		want  string
	}{
		{"text", "hi", nil, ""},
		{"empty", "", nil, "text"},
		{"500 characters", strings.Repeat("é", 500), nil, ""},
		{"501", strings.Repeat("a", 501), nil, "text"},
		{"125 emoji of 4 bytes", strings.Repeat("👍", 125), nil, ""},
		{"126 emoji", strings.Repeat("👍", 126), nil, "text"},
		{"image only", "", []provider.Media{img}, ""},
		{"gif", "x", []provider.Media{{MimeType: "image/gif", Size: 10}}, "media[0]"},
		{"21 images", "x", make([]provider.Media, 21), "media"},
	} {
		var got []string
		for _, v := range p.Validate(tt.text, tt.media) {
			got = append(got, v.Field)
		}
		if first := strings.Join(got, ","); (tt.want == "" && first != "") || (tt.want != "" && !strings.HasPrefix(first, tt.want)) {
			t.Errorf("%s: fields %v; want %q first", tt.name, got, tt.want)
		}
	}
}

func TestPublishThreadAndImages(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{Processing: 20 * time.Millisecond}, nil)
	first, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "1/ Launch day"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "2/ With a picture", Media: []provider.Media{e.img}, ReplyTo: &first, Root: &first})
	if err != nil {
		t.Fatal(err)
	}
	img2 := e.img
	img2.FileName = "signed/two.png"
	carousel, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Gallery", Media: []provider.Media{e.img, img2}})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.ThreadsPosts()
	if len(posts) != 3 {
		t.Fatalf("posts = %+v", posts)
	}
	if p := posts[0]; p.ID != first.RemoteID || p.MediaType != "TEXT_POST" || p.Text != "1/ Launch day" || p.ReplyToID != "" || p.Permalink != first.RemoteURL || first.RemoteURL == "" {
		t.Errorf("first = %+v; result %+v", p, first)
	}
	if p := posts[1]; p.ID != second.RemoteID || p.MediaType != "IMAGE" || p.ReplyToID != first.RemoteID || p.ImageURLs[0] != e.files.URL+"/signed/pic.png" {
		t.Errorf("second = %+v", p)
	}
	if p := posts[2]; p.ID != carousel.RemoteID || p.MediaType != "CAROUSEL_ALBUM" || len(p.ImageURLs) != 2 {
		t.Errorf("carousel = %+v", p)
	}
	c, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Sign up at acme.example", ReplyTo: &carousel, AsComment: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.sim.ThreadsPosts()[3]; p.ID != c.RemoteID || p.ReplyToID != carousel.RemoteID {
		t.Errorf("first comment = %+v", p)
	}
}

func TestContainerErrorAndLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{ThreadsQuota: 1}, nil)
	missing := e.img
	missing.FileName = "gone.png"
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{missing}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent || !strings.Contains(pe.Message, "download") {
		t.Errorf("unfetchable image: %v", pe)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: strings.Repeat("a", 501)})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Errorf("too long: %v", pe)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "the one allowed"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one too many"})
	if pe := kindOf(t, err); pe.Kind != provider.RateLimited || pe.RetryAfter.IsZero() {
		t.Errorf("over quota: %v", pe)
	}
	if n := len(e.sim.ThreadsPosts()); n != 1 {
		t.Errorf("%d posts; want 1", n)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"é", 1},
		{"e\u0301", 1}, // decomposed: one character
		{"日本語", 3},
		{"👍", 4},
		{"👍🏽", 8},
		{"🇫🇷", 8},
		{"❤️", 6},
		{"a 👍", 6},
	} {
		if got := threads.Count(tt.text); got != tt.want {
			t.Errorf("Count(%q) = %d; want %d", tt.text, got, tt.want)
		}
	}
}

func TestReplyQuota(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{ThreadsReplyQuota: 1}, nil)
	root, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "reply one", ReplyTo: &root}); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "reply two", ReplyTo: &root})
	if pe := kindOf(t, err); pe.Kind != provider.RateLimited || !strings.Contains(pe.Message, "1 of the 1 replies") {
		t.Errorf("second reply: %v", pe)
	}
	// Posts have their own quota.
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "another root"}); err != nil {
		t.Errorf("a post after the replies ran out: %v", err)
	}
}

func TestCallRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC)
	e := setup(t, simnet.MetaOptions{CallLimit: 2}, func() time.Time { return now })
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x"})
	pe := kindOf(t, err)
	// Threads reports X-App-Usage, which says how much but not until when:
	// the second answer said 100 %, so the poll is not even sent, and the
	// pause is the default ten minutes.
	if pe.Kind != provider.RateLimited || !pe.RetryAfter.Equal(now.Add(10*time.Minute)) {
		t.Errorf("%v (retry after %s)", pe, pe.RetryAfter)
	}
	if rl, ok := e.p.RateLimit(e.acct); !ok || rl.Remaining != 0 {
		t.Errorf("budget = %+v, %v", rl, ok)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	e.sim.ExpireMetaToken(e.acct.AccessToken)
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x"})
	if pe := kindOf(t, err); pe.Kind != provider.Expired {
		t.Errorf("expired: %v", pe)
	}
	// An expired token cannot be renewed.
	_, err = e.p.Refresh(t.Context(), e.acct)
	if pe := kindOf(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("refreshing an expired token: %v", pe)
	}
	other := e.sim.CreateThreadsAccount("other")
	e.sim.RevokeMetaToken(other.AccessToken)
	_, err = e.p.VerifyCredentials(t.Context(), provider.Account{InstanceURL: e.acct.InstanceURL, RemoteID: other.ID, AccessToken: other.AccessToken})
	if pe := kindOf(t, err); pe.Kind != provider.Disconnected {
		t.Errorf("revoked: %v", pe)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	exp := e.acct.ExpiresAt
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{exp.Add(-30 * 24 * time.Hour), false},
		{exp.Add(-threads.RefreshBefore - time.Minute), false},
		{exp.Add(-threads.RefreshBefore), true},
		{exp.Add(time.Hour), true},
	} {
		if got := e.p.NeedsRefresh(e.acct, tt.at); got != tt.want {
			t.Errorf("NeedsRefresh at %s before expiry = %v", exp.Sub(tt.at), got)
		}
	}
	if e.p.NeedsRefresh(provider.Account{}, time.Now()) {
		t.Error("a token without expiry needs no refresh")
	}
	cred, err := e.p.Refresh(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	if cred.AccessToken == "" || cred.AccessToken == e.acct.AccessToken || cred.RefreshToken != "" || time.Until(cred.ExpiresAt) < 59*24*time.Hour {
		t.Errorf("credentials = %+v", cred)
	}
	e.acct.AccessToken, e.acct.ExpiresAt = cred.AccessToken, cred.ExpiresAt
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "with the renewed token"}); err != nil {
		t.Errorf("publish with the renewed token: %v", err)
	}
}

func TestLostAnswers(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	// Faults match path prefixes, and threads_publish is a prefix of
	// threads_publishing_limit (as threads is of both): the drop is armed
	// when the request with exactly that path arrives.
	var armed atomic.Value
	armed.Store("")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == armed.Load().(string) {
			armed.Store("")
			_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	e.acct.InstanceURL = ts.URL + "/threads"
	user := "/threads/v1.0/" + e.th.ID

	// A lost threads_publish answer is settled in the same call, for a
	// post and for a reply.
	armed.Store(user + "/threads_publish")
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "lost"})
	if err != nil {
		t.Fatalf("lost publish: %v; want it settled", err)
	}
	armed.Store(user + "/threads_publish")
	reply, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "lost reply", ReplyTo: &res})
	if err != nil {
		t.Fatalf("lost reply: %v; want it settled", err)
	}
	posts := e.sim.ThreadsPosts()
	if len(posts) != 2 || posts[0].ID != res.RemoteID || posts[1].ID != reply.RemoteID || posts[1].ReplyToID != res.RemoteID {
		t.Errorf("results %+v %+v; posts %+v", res, reply, posts)
	}
	// Unsettled when Threads cannot be asked afterwards.
	var breakAfter atomic.Bool
	ts2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if breakAfter.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if r.URL.Path == user+"/threads_publish" {
			_ = e.sim.SetFaults(simnet.Faults{DropNext: 1})
			breakAfter.Store(true)
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts2.Close)
	broken := e.acct
	broken.InstanceURL = ts2.URL + "/threads"
	_, err = e.p.Publish(t.Context(), broken, provider.Post{Text: "unsettled"})
	if pe := kindOf(t, err); pe.Kind != provider.Unknown {
		t.Errorf("lost publish, unreachable after: %v; want unknown", pe)
	}
	armed.Store(user + "/threads")
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "lost container"})
	if pe := kindOf(t, err); pe.Kind != provider.Retry || !strings.Contains(pe.Message, "preparing") {
		t.Errorf("lost container: %v; want retry", pe)
	}
	_ = e.sim.SetFaults(simnet.Faults{FailNext: 1, ErrorStatus: 500})
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "500"})
	if pe := kindOf(t, err); pe.Kind != provider.Retry {
		t.Errorf("500: %v", pe)
	}
	if n := len(e.sim.ThreadsPosts()); n != 3 {
		t.Errorf("%d posts; want the three whose answers were lost", n)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func TestConnect(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	id, secret := e.sim.CreateMetaApp()
	app := threads.App{ClientID: id, ClientSecret: secret, RedirectURL: "https://herald.example/connect/threads/callback", GraphURL: e.url + "/threads", DialogURL: e.url + "/threads"}
	authURL, err := e.p.AuthorizeURL(app, "xyz")
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := url.Parse(authURL); q.Query().Get("scope") != "threads_basic,threads_content_publish,threads_manage_replies" || q.Query().Get("state") != "xyz" {
		t.Errorf("authorize URL %s", authURL)
	}
	page, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
	form := url.Values{"login": {"newbie"}, "decision": {"authorize"}}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.PostForm(e.url+"/threads/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if back.Query().Get("state") != "xyz" {
		t.Fatalf("redirected to %s", back)
	}
	conn, err := e.p.Connect(t.Context(), app, back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if conn.Profile.Handle != "@newbie" || time.Until(conn.Credentials.ExpiresAt) < 59*24*time.Hour {
		t.Errorf("connection = %+v", conn)
	}
	acct := provider.Account{InstanceURL: app.GraphURL, RemoteID: conn.Profile.RemoteID, AccessToken: conn.Credentials.AccessToken}
	if _, err := e.p.Publish(t.Context(), acct, provider.Post{Text: "hello threads"}); err != nil {
		t.Errorf("publish after connecting: %v", err)
	}
	if _, err := e.p.Connect(t.Context(), app, back.Query().Get("code")); !errs.Is(err, errs.Invalid) {
		t.Errorf("code used twice: %v", err)
	}
}
