package mastodon_test

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
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

type env struct {
	sim  *simnet.Server
	url  string
	p    *mastodon.Provider
	acct provider.Account
}

// setup starts a simnet instance with one account, alice, and a provider
// allowed to reach loopback addresses.
func setup(t *testing.T, opts simnet.Options, popts ...mastodon.Option) *env {
	t.Helper()
	sim := simnet.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &env{
		sim: sim,
		url: ts.URL,
		p:   newProvider(outbound.Policy{AllowLoopback: true}, popts...),
		acct: provider.Account{
			ID:          "acct_alice",
			Network:     mastodon.Network,
			InstanceURL: ts.URL,
			AccessToken: sim.CreateAccount("alice"),
			Handle:      "@alice",
		},
	}
}

// fixedNow is a clock for simnet where a test needs exact windows.
var fixedNow = time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC)

func newProvider(policy outbound.Policy, opts ...mastodon.Option) *mastodon.Provider {
	return mastodon.New(outbound.NewClient(policy), opts...)
}

func pngMedia(t *testing.T, name, description string) provider.Media {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return bytesMedia(name, "image/png", description, buf.Bytes())
}

func bytesMedia(name, mimeType, description string, b []byte) provider.Media {
	return provider.Media{
		FileName: name, MimeType: mimeType, Size: int64(len(b)), Description: description,
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

func TestPublishText(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Hello from Herald https://example.com/launch", IdempotencyKey: "att_1"})
	if err != nil {
		t.Fatal(err)
	}
	all := e.sim.Statuses()
	if len(all) != 1 {
		t.Fatalf("%d statuses on the server; want 1", len(all))
	}
	st := all[0]
	if res.RemoteID != st.ID || res.RemoteURL != st.URL || st.IdempotencyKey != "att_1" || st.Text != "Hello from Herald https://example.com/launch" {
		t.Errorf("result %+v; server has %+v", res, st)
	}
}

func TestPublishWithMedia(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	post := provider.Post{
		Text:           "Two pictures",
		Media:          []provider.Media{pngMedia(t, "one.png", "first"), pngMedia(t, `C:\photos\two.png`, "second")},
		IdempotencyKey: "att_media",
	}
	res, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	// Read the status back over the API to see what the instance made of
	// the uploads.
	r, err := http.Get(e.url + "/api/v1/statuses/" + res.RemoteID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var st struct {
		MediaAttachments []struct {
			Type        string  `json:"type"`
			URL         *string `json:"url"`
			Description string  `json:"description"`
		} `json:"media_attachments"`
	}
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.MediaAttachments) != 2 || st.MediaAttachments[0].Description != "first" || st.MediaAttachments[1].Description != "second" ||
		st.MediaAttachments[0].Type != "image" || st.MediaAttachments[0].URL == nil {
		t.Errorf("attachments = %+v", st.MediaAttachments)
	}
}

func TestPublishWaitsForMediaProcessing(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{MediaProcessing: 300 * time.Millisecond}, mastodon.WithMediaPolling(20*time.Millisecond, 10*time.Second))
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "processed", Media: []provider.Media{pngMedia(t, "a.png", "")}, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if all := e.sim.Statuses(); len(all) != 1 || all[0].ID != res.RemoteID || len(all[0].MediaIDs) != 1 {
		t.Errorf("server has %+v", all)
	}
}

func TestPublishGivesUpOnSlowProcessing(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{MediaProcessing: time.Hour}, mastodon.WithMediaPolling(10*time.Millisecond, 100*time.Millisecond))
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "never", Media: []provider.Media{pngMedia(t, "a.png", "")}, IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Retry || !strings.Contains(pe.Message, "still processing") {
		t.Errorf("err = %v; want Retry about processing", err)
	}
	if n := len(e.sim.Statuses()); n != 0 {
		t.Errorf("%d statuses; want none", n)
	}
}

func TestPublishIsIdempotent(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	post := provider.Post{Text: "only once", IdempotencyKey: "att_same"}
	first, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || len(e.sim.Statuses()) != 1 || e.sim.DuplicatesAvoided() != 1 {
		t.Errorf("results %+v and %+v; %d statuses, %d duplicates avoided", first, second, len(e.sim.Statuses()), e.sim.DuplicatesAvoided())
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	text := provider.Post{Text: "hello", IdempotencyKey: "k1"}
	tests := []struct {
		name       string
		opts       simnet.Options
		prepare    func(t *testing.T, e *env) // optional
		post       provider.Post
		kind       provider.Kind
		status     int
		message    string // substring of Error.Message
		retryAfter func(e *env) time.Time
	}{
		{
			name:    "revoked token",
			prepare: func(t *testing.T, e *env) { e.sim.RevokeToken(e.acct.AccessToken) },
			post:    text, kind: provider.Disconnected, status: 401, message: "The access token is invalid",
		},
		{
			name: "text too long",
			post: provider.Post{Text: strings.Repeat("a", 501), IdempotencyKey: "k"},
			kind: provider.BadContent, status: 422, message: "Text character limit of 500 exceeded",
		},
		{
			name: "media that is not what it claims",
			post: provider.Post{Text: "x", Media: []provider.Media{bytesMedia("a.png", "image/png", "", []byte("plain text"))}, IdempotencyKey: "k"},
			kind: provider.BadContent, status: 422, message: "media[0]: Validation failed: File content type is invalid",
		},
		{
			name: "rate limited",
			opts: simnet.Options{RateLimit: 1, RateWindow: time.Hour, Now: func() time.Time { return fixedNow }},
			prepare: func(t *testing.T, e *env) {
				if _, err := e.p.VerifyCredentials(t.Context(), e.acct); err != nil {
					t.Fatal(err)
				}
			},
			post: text, kind: provider.RateLimited, status: 429, message: "Too many requests",
			retryAfter: func(*env) time.Time { return time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC) },
		},
		{
			name: "server error",
			opts: simnet.Options{Faults: simnet.Faults{FailNext: 1, ErrorStatus: 503, RetryAfter: 30 * time.Second}},
			post: text, kind: provider.Retry, status: 503,
			retryAfter: func(*env) time.Time { return time.Now().Add(30 * time.Second) },
		},
		{
			name: "server error while uploading",
			opts: simnet.Options{Faults: simnet.Faults{ErrorRate: 1, ErrorStatus: 500, Path: "/api/v2/media"}},
			post: provider.Post{Text: "x", Media: []provider.Media{pngMedia(t, "a.png", "")}, IdempotencyKey: "k"},
			kind: provider.Retry, status: 500, message: "uploading media[0]",
		},
		{
			name: "unreadable attachment",
			post: provider.Post{Text: "x", Media: []provider.Media{{FileName: "a.png", MimeType: "image/png", Size: 1,
				Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("blob gone") }}}, IdempotencyKey: "k"},
			kind: provider.Retry, message: "media[0]: the attachment could not be read",
		},
		{
			name:    "empty token",
			prepare: func(t *testing.T, e *env) { e.acct.AccessToken = "" },
			post:    text, kind: provider.Disconnected, message: "no access token",
		},
		{
			name:    "bad instance address",
			prepare: func(t *testing.T, e *env) { e.acct.InstanceURL = "ftp://example.com" },
			post:    text, kind: provider.Disconnected, message: "instance address",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tt.opts)
			if tt.prepare != nil {
				tt.prepare(t, e)
			}
			_, err := e.p.Publish(t.Context(), e.acct, tt.post)
			pe := asProviderError(t, err)
			if pe.Kind != tt.kind || pe.Status != tt.status || !strings.Contains(pe.Message, tt.message) {
				t.Errorf("err = %+v; want kind %s, status %d, message containing %q", pe, tt.kind, tt.status, tt.message)
			}
			if tt.retryAfter != nil {
				want := tt.retryAfter(e)
				if d := pe.RetryAfter.Sub(want); d < -5*time.Second || d > 5*time.Second {
					t.Errorf("RetryAfter = %v; want about %v", pe.RetryAfter, want)
				}
			}
			if n := len(e.sim.Statuses()); n != 0 {
				t.Errorf("%d statuses posted despite the error", n)
			}
		})
	}
}

func TestPublishConnectionRefused(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.URL
	ts.Close() // nothing listens there now
	p := newProvider(outbound.Policy{AllowLoopback: true})
	_, err := p.Publish(t.Context(), provider.Account{InstanceURL: addr, AccessToken: "t"}, provider.Post{Text: "x", IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Retry {
		t.Errorf("err = %v; want Retry: nothing was sent", err)
	}
}

// TestPublishUnknownOutcome is the case the idempotency key exists for: the
// instance posts the status but its answer is lost.
func TestPublishUnknownOutcome(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{Faults: simnet.Faults{DropNext: 1, Path: "/api/v1/statuses"}})
	post := provider.Post{Text: "did it post?", IdempotencyKey: "att_unknown"}
	_, err := e.p.Publish(t.Context(), e.acct, post)
	if pe := asProviderError(t, err); pe.Kind != provider.Unknown {
		t.Fatalf("err = %v; want Unknown", err)
	}
	if n := len(e.sim.Statuses()); n != 1 {
		t.Fatalf("%d statuses; the dropped request should have posted", n)
	}
	// Settling it: the same key again gets the existing status.
	res, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	if res.RemoteID != e.sim.Statuses()[0].ID || len(e.sim.Statuses()) != 1 || e.sim.DuplicatesAvoided() != 1 {
		t.Errorf("retry gave %+v; server has %+v", res, e.sim.Statuses())
	}
}

func TestPublishTimeoutIsUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{Faults: simnet.Faults{Latency: time.Minute, Path: "/api/v1/statuses"}})
	p := newProvider(outbound.Policy{AllowLoopback: true, Timeout: 200 * time.Millisecond})
	_, err := p.Publish(t.Context(), e.acct, provider.Post{Text: "slow", IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Unknown {
		t.Errorf("err = %v; want Unknown", err)
	}
}

func TestPublishRefusedAddress(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	p := newProvider(outbound.Policy{}) // the safe default: no loopback
	_, err := p.Publish(t.Context(), e.acct, provider.Post{Text: "x", IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || !strings.Contains(pe.Message, "loopback") {
		t.Errorf("err = %v; want Disconnected naming the loopback address", err)
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Errorf("the instance saw %d requests; want 0", n)
	}
}

func TestPublishOddServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kind    provider.Kind
		message string
	}{
		{"not mastodon", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, provider.Disconnected, "no such API"},
		{"moved", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example"+r.URL.Path, http.StatusMovedPermanently)
		}, provider.Disconnected, "redirected"},
		{"garbled success", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>ok</html>") }, provider.Unknown, "could not be read"},
		{"rate limited with a date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "Wed, 21 Oct 2065 07:28:00 GMT")
			w.WriteHeader(http.StatusTooManyRequests)
		}, provider.RateLimited, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(tt.handler)
			t.Cleanup(ts.Close)
			p := newProvider(outbound.Policy{AllowLoopback: true})
			_, err := p.Publish(t.Context(), provider.Account{InstanceURL: ts.URL, AccessToken: "t"}, provider.Post{Text: "x", IdempotencyKey: "k"})
			pe := asProviderError(t, err)
			if pe.Kind != tt.kind || !strings.Contains(pe.Message, tt.message) {
				t.Errorf("err = %v; want %s containing %q", err, tt.kind, tt.message)
			}
			if pe.Kind == provider.RateLimited && pe.RetryAfter.Year() != 2065 {
				t.Errorf("RetryAfter = %v; want the date from Retry-After", pe.RetryAfter)
			}
		})
	}
}

func TestRateLimitState(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	if _, ok := e.p.RateLimit(e.acct); ok {
		t.Error("rate-limit state before any call")
	}
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "x", Media: []provider.Media{pngMedia(t, "a.png", "")}, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	rl, ok := e.p.RateLimit(e.acct)
	// Two requests: the upload and the status.
	if !ok || rl.Limit != 300 || rl.Remaining != 298 || !rl.Reset.After(time.Now()) || rl.Exhausted(time.Now()) {
		t.Errorf("RateLimit = %+v, %v; want 300/298 with a future reset", rl, ok)
	}
	other := e.acct
	other.ID = "acct_other"
	if _, ok := e.p.RateLimit(other); ok {
		t.Error("another account shares the state")
	}
}

func TestVerifyCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	prof, err := e.p.VerifyCredentials(t.Context(), e.acct)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(e.url, "http://")
	if prof.RemoteID == "" || prof.Handle != "@alice@"+host || prof.DisplayName != "alice" || prof.URL != e.url+"/@alice" {
		t.Errorf("profile = %+v", prof)
	}

	e.sim.RevokeToken(e.acct.AccessToken)
	_, err = e.p.VerifyCredentials(t.Context(), e.acct)
	if pe := asProviderError(t, err); pe.Kind != provider.Disconnected || pe.Status != 401 {
		t.Errorf("revoked: %v; want Disconnected 401", err)
	}
}

func TestInstanceLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{MaxChars: 1000, MaxMedia: 6, MaxImageBytes: 8 << 20})
	l, err := e.p.InstanceLimits(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxTextChars != 1000 || l.MaxMedia != 6 || l.MaxImageBytes != 8<<20 || !strings.Contains(strings.Join(l.ImageTypes, ","), "image/avif") {
		t.Errorf("limits = %+v", l)
	}
	// With those limits, 900 characters are fine.
	if v := mastodon.ValidateWith(l, strings.Repeat("a", 900), nil); len(v) != 0 {
		t.Errorf("violations = %+v", v)
	}
}
