package bluesky_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/bluesky"
	"github.com/heraldhq/herald/simnet"
)

// clock is a settable time shared by simnet and the provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	sim   *simnet.Server
	url   string
	p     *bluesky.Provider
	clock *clock
	acct  provider.Account
}

const password = "abcd-efgh-ijkl-mnop"

// setup starts a simnet with two Bluesky accounts, alice.test and
// bob.test, and connects alice through the provider.
func setup(t *testing.T, opts simnet.Options) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts.Now = c.Now
	sim := simnet.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	sim.CreateBlueskyAccount("alice.test", password)
	sim.CreateBlueskyAccount("bob.test", "bobs-password")
	p := bluesky.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}), bluesky.WithClock(c.Now))
	conn, err := p.Connect(t.Context(), ts.URL, "@alice.test", password)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	acct := conn.Account()
	acct.ID = "acct_alice"
	return &env{sim: sim, url: ts.URL, p: p, clock: c, acct: acct}
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
		t.Fatalf("kind %q (%v); want %q", pe.Kind, pe, kind)
	}
	return pe
}

func pngMedia(t *testing.T, w, h int, alt string) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return provider.Media{
		FileName: "pic.png", MimeType: "image/png", Size: int64(len(b)), Description: alt,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

// record is the subset of a stored post the tests read back.
type record struct {
	Text   string `json:"text"`
	Facets []struct {
		Index struct {
			ByteStart int `json:"byteStart"`
			ByteEnd   int `json:"byteEnd"`
		} `json:"index"`
		Features []struct {
			Type string `json:"$type"`
			URI  string `json:"uri"`
			DID  string `json:"did"`
			Tag  string `json:"tag"`
		} `json:"features"`
	} `json:"facets"`
	Embed *struct {
		Type   string `json:"$type"`
		Images []struct {
			Alt   string `json:"alt"`
			Image struct {
				Ref      map[string]string `json:"ref"`
				MimeType string            `json:"mimeType"`
			} `json:"image"`
			AspectRatio struct{ Width, Height int } `json:"aspectRatio"`
		} `json:"images"`
	} `json:"embed"`
	Reply *struct {
		Root, Parent struct{ URI, CID string }
	} `json:"reply"`
	CreatedAt string `json:"createdAt"`
}

func (e *env) posts(t *testing.T) []simnet.BlueskyPost {
	t.Helper()
	var live []simnet.BlueskyPost
	for _, p := range e.sim.BlueskyPosts() {
		if !p.Deleted {
			live = append(live, p)
		}
	}
	return live
}

func decode(t *testing.T, p simnet.BlueskyPost) record {
	t.Helper()
	var r record
	if err := json.Unmarshal(p.Record, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConnect(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	if e.acct.InstanceURL != e.url || !strings.HasPrefix(e.acct.RemoteID, "did:plc:") || e.acct.Handle != "alice.test" {
		t.Errorf("account %+v", e.acct)
	}
	if e.acct.AccessToken == "" || e.acct.RefreshToken == "" || e.acct.AccessToken == e.acct.RefreshToken {
		t.Error("want distinct access and refresh tokens")
	}
	// ExpiresAt comes from the access JWT's exp: two hours on the PDS.
	if want := e.clock.Now().Add(2 * time.Hour); !e.acct.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v; want %v", e.acct.ExpiresAt, want)
	}
	prof, err := e.p.VerifyCredentials(t.Context(), e.acct)
	if err != nil || prof.RemoteID != e.acct.RemoteID || prof.Handle != "alice.test" || prof.URL != "https://bsky.app/profile/alice.test" {
		t.Errorf("VerifyCredentials = %+v, %v", prof, err)
	}

	_, err = e.p.Connect(t.Context(), e.url, "alice.test", "wrong")
	if pe := wantKind(t, err, provider.Disconnected); !strings.Contains(pe.Message, "password is wrong") || strings.Contains(pe.Error(), "wrong\"") {
		t.Errorf("wrong password: %v", pe)
	}
	if _, err := e.p.Connect(t.Context(), "ftp://example.com", "alice.test", password); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("ftp address: %v", err)
	}
}

func TestPublishTextWithFacets(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	text := "Café ☕ launch with @bob.test and @nobody.test: see https://example.com/a?b=1. (https://example.org/x_(y)) #launch #2026"
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: text, IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.posts(t)
	if len(posts) != 1 {
		t.Fatalf("%d posts; want 1", len(posts))
	}
	p := posts[0]
	rkey := bluesky.RecordKey("att_1")
	if p.RKey != rkey || res.RemoteID != p.URI || res.Ref != p.URI+" "+p.CID ||
		res.RemoteURL != "https://bsky.app/profile/alice.test/post/"+rkey {
		t.Errorf("result %+v; server has %+v", res, p)
	}
	r := decode(t, p)
	if r.Text != text || r.CreatedAt != "2026-03-01T12:00:00.000Z" {
		t.Errorf("record text %q createdAt %q", r.Text, r.CreatedAt)
	}
	// Each facet's byte range, cut from the UTF-8 text, is what it marks.
	var got []string
	for _, f := range r.Facets {
		span := text[f.Index.ByteStart:f.Index.ByteEnd]
		ft := f.Features[0]
		switch ft.Type {
		case "app.bsky.richtext.facet#link":
			got = append(got, "link "+span+" "+ft.URI)
		case "app.bsky.richtext.facet#mention":
			got = append(got, "mention "+span+" "+ft.DID)
		case "app.bsky.richtext.facet#tag":
			got = append(got, "tag "+span+" "+ft.Tag)
		}
	}
	bob := e.sim.CreateBlueskyAccount("bob.test", "bobs-password")
	want := []string{
		"mention @bob.test " + bob,
		"link https://example.com/a?b=1 https://example.com/a?b=1",
		"link https://example.org/x_(y) https://example.org/x_(y)",
		"tag #launch launch",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("facets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPublishImages(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	post := provider.Post{
		Text:           "Two pictures",
		Media:          []provider.Media{pngMedia(t, 4, 3, "a wide one"), pngMedia(t, 2, 5, "")},
		IdempotencyKey: "att_media",
	}
	if _, err := e.p.Publish(t.Context(), e.acct, post); err != nil {
		t.Fatal(err)
	}
	r := decode(t, e.posts(t)[0])
	if r.Embed == nil || r.Embed.Type != "app.bsky.embed.images" || len(r.Embed.Images) != 2 {
		t.Fatalf("embed %+v", r.Embed)
	}
	one, two := r.Embed.Images[0], r.Embed.Images[1]
	if one.Alt != "a wide one" || one.AspectRatio.Width != 4 || one.AspectRatio.Height != 3 || one.Image.MimeType != "image/png" || one.Image.Ref["$link"] == "" {
		t.Errorf("first image %+v", one)
	}
	if two.Alt != "" || two.AspectRatio.Height != 5 {
		t.Errorf("second image %+v", two)
	}
}

func TestPublishRefusesTooLargeImage(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	big := make([]byte, bluesky.MaxImageBytes+1)
	m := provider.Media{MimeType: "image/png", Size: 10, Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(big)), nil }}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{m}, IdempotencyKey: "att_big"})
	wantKind(t, err, provider.BadContent)
	if n := len(e.posts(t)); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestThread(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	root, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "1/3", IdempotencyKey: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "2/3", IdempotencyKey: "t2", ReplyTo: &root})
	if err != nil {
		t.Fatal(err)
	}
	// A Result without a cid (only the at-uri) is completed from the PDS.
	third, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "3/3", IdempotencyKey: "t3", ReplyTo: &second, Root: &provider.Result{RemoteID: root.RemoteID}})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.posts(t)
	if len(posts) != 3 {
		t.Fatalf("%d posts", len(posts))
	}
	r2, r3 := decode(t, posts[1]), decode(t, posts[2])
	rootRef := strings.Fields(root.Ref)
	secondRef := strings.Fields(second.Ref)
	if r2.Reply == nil || r2.Reply.Root.URI != rootRef[0] || r2.Reply.Root.CID != rootRef[1] || r2.Reply.Parent != r2.Reply.Root {
		t.Errorf("second's reply %+v; root %v", r2.Reply, rootRef)
	}
	if r3.Reply == nil || r3.Reply.Root.URI != rootRef[0] || r3.Reply.Root.CID != rootRef[1] || r3.Reply.Parent.URI != secondRef[0] || r3.Reply.Parent.CID != secondRef[1] {
		t.Errorf("third's reply %+v", r3.Reply)
	}
	if third.RemoteID == second.RemoteID {
		t.Error("third and second are one post")
	}
}

func TestRepeatedAttemptSettlesAsTheSamePost(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	post := provider.Post{Text: "once only", IdempotencyKey: "att_once"}
	first, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	// The PDS answers the repeat's createRecord with a 500; the provider
	// reads the record and recognises its own post.
	again, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if again != first {
		t.Errorf("repeat %+v; first %+v", again, first)
	}
	if n := len(e.posts(t)); n != 1 {
		t.Errorf("%d posts; want 1", n)
	}
	if e.sim.Stats().DuplicatesAvoided != 1 {
		t.Errorf("stats %+v", e.sim.Stats())
	}
	// The same key with other content is not this post.
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "something else", IdempotencyKey: "att_once"})
	wantKind(t, err, provider.BadContent)
}

func TestAnswerLostAfterCreate(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{Faults: simnet.Faults{DropNext: 1, Path: "/xrpc/com.atproto.repo.createRecord"}})
	post := provider.Post{Text: "did it go out?", IdempotencyKey: "att_lost"}
	_, err := e.p.Publish(t.Context(), e.acct, post)
	wantKind(t, err, provider.Unknown)

	got, found, err := e.p.Lookup(t.Context(), e.acct, "att_lost")
	if err != nil || !found {
		t.Fatalf("Lookup = %v, %v", found, err)
	}
	res, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil || res != got {
		t.Errorf("retry = %+v, %v; Lookup found %+v", res, err, got)
	}
	if n := len(e.posts(t)); n != 1 {
		t.Errorf("%d posts; want 1", n)
	}
	if _, found, err := e.p.Lookup(t.Context(), e.acct, "att_never"); found || err != nil {
		t.Errorf("Lookup of an unused key = %v, %v", found, err)
	}
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults simnet.Faults
		kind   provider.Kind
	}{
		{"503 on createRecord", simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 30 * time.Second, Path: "/xrpc/com.atproto.repo.createRecord"}, provider.Retry},
		// A 500 with no record under the key is an ordinary failure.
		{"500 on createRecord, nothing written", simnet.Faults{FailNext: 1, ErrorStatus: 500, Path: "/xrpc/com.atproto.repo.createRecord"}, provider.Retry},
		{"502 on uploadBlob", simnet.Faults{FailNext: 1, ErrorStatus: 502, Path: "/xrpc/com.atproto.repo.uploadBlob"}, provider.Retry},
		{"lost answer to uploadBlob", simnet.Faults{DropNext: 1, Path: "/xrpc/com.atproto.repo.uploadBlob"}, provider.Retry},
		{"429 on createRecord", simnet.Faults{FailNext: 1, ErrorStatus: 429, RetryAfter: time.Minute, Path: "/xrpc/com.atproto.repo.createRecord"}, provider.RateLimited},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, simnet.Options{Faults: tc.faults})
			post := provider.Post{Text: "hello", Media: []provider.Media{pngMedia(t, 1, 1, "dot")}, IdempotencyKey: "att_" + tc.name}
			_, err := e.p.Publish(t.Context(), e.acct, post)
			pe := wantKind(t, err, tc.kind)
			if tc.faults.RetryAfter > 0 && !pe.RetryAfter.Equal(e.clock.Now().Add(tc.faults.RetryAfter)) {
				t.Errorf("RetryAfter %v; want %v", pe.RetryAfter, e.clock.Now().Add(tc.faults.RetryAfter))
			}
			if n := len(e.posts(t)); n != 0 {
				t.Errorf("%d posts after the failure", n)
			}
			if _, err := e.p.Publish(t.Context(), e.acct, post); err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// 5 points: one create (3) fits, the second does not.
	e := setup(t, simnet.Options{Bluesky: simnet.BlueskyOptions{WritePoints: 5, WriteWindow: time.Hour}})
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "one", IdempotencyKey: "r1"}); err != nil {
		t.Fatal(err)
	}
	reset := e.clock.Now().Truncate(time.Hour).Add(time.Hour)
	rl, ok := e.p.RateLimit(e.acct)
	if !ok || rl.Limit != 5 || rl.Remaining != 2 || !rl.Reset.Equal(reset) {
		t.Errorf("RateLimit = %+v, %v", rl, ok)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two", IdempotencyKey: "r2"})
	if pe := wantKind(t, err, provider.RateLimited); !pe.RetryAfter.Equal(reset) {
		t.Errorf("RetryAfter %v; want the window's reset %v", pe.RetryAfter, reset)
	}
	e.clock.Add(time.Hour)
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "two", IdempotencyKey: "r2"}); err != nil {
		t.Errorf("after the reset: %v", err)
	}
}

func TestSessionExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	if e.p.NeedsRefresh(e.acct, e.clock.Now()) {
		t.Error("a fresh session needs no refresh")
	}
	e.clock.Add(2*time.Hour - time.Minute)
	if !e.p.NeedsRefresh(e.acct, e.clock.Now()) {
		t.Error("a session a minute from its end needs a refresh")
	}
	e.clock.Add(2 * time.Minute)
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "late", IdempotencyKey: "late"})
	wantKind(t, err, provider.Expired)

	creds, err := e.p.Refresh(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == e.acct.AccessToken || creds.RefreshToken == "" || creds.RefreshToken == e.acct.RefreshToken ||
		!creds.ExpiresAt.Equal(e.clock.Now().Add(2*time.Hour)) {
		t.Errorf("refreshed credentials %+v", creds)
	}
	// The old refresh token was used up by the refresh.
	_, err = e.p.Refresh(t.Context(), e.acct)
	wantKind(t, err, provider.Disconnected)

	renewed := e.acct
	renewed.AccessToken, renewed.RefreshToken, renewed.ExpiresAt = creds.AccessToken, creds.RefreshToken, creds.ExpiresAt
	if _, err := e.p.Publish(t.Context(), renewed, provider.Post{Text: "late", IdempotencyKey: "late"}); err != nil {
		t.Errorf("after the refresh: %v", err)
	}
	// A refresh token past its own end means signing in again.
	e.clock.Add(91 * 24 * time.Hour)
	_, err = e.p.Refresh(t.Context(), renewed)
	wantKind(t, err, provider.Disconnected)
}

func TestRefusedSessions(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	bad := e.acct
	bad.AccessToken = "not-a-token"
	// The PDS answers a bearer it cannot verify with 400 InvalidToken.
	_, err := e.p.Publish(t.Context(), bad, provider.Post{Text: "x", IdempotencyKey: "b1"})
	if pe := wantKind(t, err, provider.Disconnected); pe.Status != 400 || strings.Contains(pe.Error(), "not-a-token") {
		t.Errorf("bad token: %v", pe)
	}
	noSession := e.acct
	noSession.AccessToken = ""
	_, err = e.p.Publish(t.Context(), noSession, provider.Post{Text: "x", IdempotencyKey: "b2"})
	wantKind(t, err, provider.Disconnected)

	e.sim.TakedownBlueskyAccount(e.acct.RemoteID)
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", IdempotencyKey: "b3"})
	if pe := wantKind(t, err, provider.Disconnected); !strings.Contains(pe.Message, "taken down") {
		t.Errorf("takedown: %v", pe)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "short-lived", IdempotencyKey: "del"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Delete(t.Context(), e.acct, res); err != nil {
		t.Fatal(err)
	}
	if n := len(e.posts(t)); n != 0 {
		t.Errorf("%d posts after Delete", n)
	}
	if _, found, err := e.p.Lookup(t.Context(), e.acct, "del"); found || err != nil {
		t.Errorf("Lookup after Delete = %v, %v", found, err)
	}
	// Deleting again, by Ref alone, succeeds: the post is gone either way.
	if err := e.p.Delete(t.Context(), e.acct, provider.Result{Ref: res.Ref}); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	err = e.p.Delete(t.Context(), e.acct, provider.Result{RemoteID: "at://did:plc:someoneelse/app.bsky.feed.post/3abc"})
	wantKind(t, err, provider.BadContent)
}

func TestUnreachablePDS(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	gone := e.acct
	ts := httptest.NewServer(e.sim)
	gone.InstanceURL = ts.URL
	ts.Close()
	_, err := e.p.Publish(t.Context(), gone, provider.Post{Text: "x", IdempotencyKey: "u"})
	wantKind(t, err, provider.Retry)
	// The production client refuses loopback addresses outright.
	strict := bluesky.New(nil)
	_, err = strict.Publish(t.Context(), e.acct, provider.Post{Text: "x", IdempotencyKey: "u"})
	wantKind(t, err, provider.Disconnected)
}

func TestTimeoutAfterSending(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{Faults: simnet.Faults{Latency: 2 * time.Second, Path: "/xrpc/com.atproto.repo.createRecord"}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := e.p.Publish(ctx, e.acct, provider.Post{Text: "slow", IdempotencyKey: "slow"})
	wantKind(t, err, provider.Unknown)
}

func TestFailureThatCannotBeSettled(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	// createRecord fails with a 500 and so does the getRecord that would
	// tell whether the post exists: the outcome is unknown, not a retry.
	if err := e.sim.SetFaults(simnet.Faults{FailNext: 2, ErrorStatus: 500, Path: "/xrpc/com.atproto.repo."}); err != nil {
		t.Fatal(err)
	}
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "hm", IdempotencyKey: "hm"})
	if pe := wantKind(t, err, provider.Unknown); pe.Status != 500 {
		t.Errorf("status %d", pe.Status)
	}
	if f := e.sim.Faults(); f.FailNext != 0 {
		t.Errorf("%d injected failures left; the provider made other calls than createRecord and getRecord", f.FailNext)
	}
}

func TestConnectToSomethingElse(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	p := bluesky.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}))
	_, err := p.Connect(t.Context(), ts.URL, "alice.test", password)
	if pe := wantKind(t, err, provider.Disconnected); !strings.Contains(pe.Message, "is the address a Bluesky PDS?") {
		t.Errorf("message %q", pe.Message)
	}
	_, err = p.Connect(t.Context(), ts.URL, " ", password)
	wantKind(t, err, provider.Disconnected)
}
