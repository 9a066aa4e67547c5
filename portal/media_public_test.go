package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/mediaurl"
)

// TestSignedMediaLinks: a signed link serves its one blob, without sign-in,
// until it expires; a tampered or expired link, or one to another blob,
// serves nothing.
func TestSignedMediaLinks(t *testing.T) {
	t.Parallel()
	signer, err := mediaurl.New("https://herald.example", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	b := setupWith(t, func(d *Deps) { d.MediaURLs = signer })
	ctx := context.Background()
	png := []byte("\x89PNG\r\n\x1a\nnot really an image")
	if err := b.blob.WriteAll(ctx, "media/ws_1/photo.png", png, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.blob.WriteAll(ctx, "media/ws_2/private.png", png, nil); err != nil {
		t.Fatal(err)
	}
	get := func(raw string) *httptest.ResponseRecorder {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		b.svc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
		return rec
	}
	link := signer.URL("media/ws_1/photo.png", time.Hour)
	if res := get(link); res.Code != http.StatusOK || res.Body.String() != string(png) || res.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("signed link: %d %q %q", res.Code, res.Header().Get("Content-Type"), res.Body.String())
	}
	other := strings.Replace(link, "ws_1/photo.png", "ws_2/private.png", 1)
	tampered := strings.Replace(link, "sig=", "sig=0", 1)
	expired := signer.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).URL("media/ws_1/photo.png", time.Hour)
	for name, tc := range map[string]struct {
		link string
		want int
	}{
		"another blob with the same signature": {other, http.StatusForbidden},
		"a tampered signature":                 {tampered, http.StatusForbidden},
		"no signature":                         {strings.Split(link, "?")[0], http.StatusForbidden},
		"expired":                              {expired, http.StatusGone},
		"a blob that is gone":                  {signer.URL("media/ws_1/gone.png", time.Hour), http.StatusNotFound},
	} {
		if res := get(tc.link); res.Code != tc.want || strings.Contains(res.Body.String(), "not really") {
			t.Errorf("%s: %d, want %d and no content", name, res.Code, tc.want)
		}
	}
}
