package simnet_test

import (
	"bytes"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/simnet"
)

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type mediaOut struct {
	ID          string  `json:"id"`
	Type        string  `json:"type"`
	URL         *string `json:"url"`
	PreviewURL  string  `json:"preview_url"`
	Description *string `json:"description"`
	Meta        *struct {
		Original struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"original"`
	} `json:"meta"`
}

// upload posts a multipart media upload; a nil file leaves the part out.
func (b *bundle) upload(t *testing.T, path, token string, file []byte, contentType, description string) (response, mediaOut) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if file != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="upload"`)
		h.Set("Content-Type", contentType)
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(file)
	}
	if description != "" {
		_ = mw.WriteField("description", description)
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", b.url+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	out := response{status: res.StatusCode, header: res.Header, body: buf.Bytes()}
	var m mediaOut
	if out.status == http.StatusOK || out.status == http.StatusAccepted {
		out.decode(t, &m)
	}
	return out, m
}

func TestMediaUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{})
	res, m := b.upload(t, "/api/v2/media", b.token, pngBytes(t, 3, 2), "image/png", "a tiny square")
	if res.status != http.StatusOK {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	if m.ID == "" || m.Type != "image" || m.URL == nil || m.Description == nil || *m.Description != "a tiny square" ||
		m.Meta == nil || m.Meta.Original.Width != 3 || m.Meta.Original.Height != 2 {
		t.Errorf("media = %s", res.body)
	}

	posted := b.do(t, request{method: "POST", path: "/api/v1/statuses", token: b.token,
		form: url.Values{"status": {"with a picture"}, "media_ids[]": {m.ID}}})
	var st statusOut
	posted.decode(t, &st)
	if posted.status != http.StatusOK || len(st.MediaAttachments) != 1 || st.MediaAttachments[0].ID != m.ID {
		t.Fatalf("post with media: %d %s", posted.status, posted.body)
	}
	if got := b.srv.Statuses()[0].MediaIDs; len(got) != 1 || got[0] != m.ID {
		t.Errorf("stored media ids = %v", got)
	}

	// Media belongs to one status.
	again := b.do(t, request{method: "POST", path: "/api/v1/statuses", token: b.token,
		form: url.Values{"status": {"reuse"}, "media_ids[]": {m.ID}}})
	if again.status != http.StatusUnprocessableEntity {
		t.Errorf("reusing attached media: %d; want 422", again.status)
	}
	// And to one account.
	bob := b.srv.CreateAccount("bob")
	if res := b.do(t, request{method: "GET", path: "/api/v1/media/" + m.ID, token: bob}); res.status != http.StatusNotFound {
		t.Errorf("another account's media: %d; want 404", res.status)
	}
	// A media-only status needs no text.
	_, m2 := b.upload(t, "/api/v2/media", b.token, pngBytes(t, 1, 1), "image/png", "")
	if res := b.do(t, request{method: "POST", path: "/api/v1/statuses", token: b.token,
		form: url.Values{"media_ids[]": {m2.ID}}}); res.status != http.StatusOK {
		t.Errorf("media-only status: %d %s", res.status, res.body)
	}
}

func TestMediaProcessing(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{MediaProcessing: 2 * time.Second})
	res, m := b.upload(t, "/api/v2/media", b.token, pngBytes(t, 4, 4), "image/png", "")
	if res.status != http.StatusAccepted || m.URL != nil || m.PreviewURL == "" {
		t.Fatalf("upload: %d %s; want 202 with a null url", res.status, res.body)
	}
	get := request{method: "GET", path: "/api/v1/media/" + m.ID, token: b.token}
	if res := b.do(t, get); res.status != http.StatusPartialContent {
		t.Errorf("while processing: %d; want 206", res.status)
	}
	post := request{method: "POST", path: "/api/v1/statuses", token: b.token,
		form: url.Values{"status": {"too soon"}, "media_ids[]": {m.ID}}}
	if res := b.do(t, post); res.status != http.StatusUnprocessableEntity ||
		!strings.Contains(res.errorMessage(t), "not finished processing") {
		t.Errorf("attaching unprocessed media: %d %s; want 422", res.status, res.body)
	}

	b.clock.Advance(2 * time.Second)
	res = b.do(t, get)
	var ready mediaOut
	res.decode(t, &ready)
	if res.status != http.StatusOK || ready.URL == nil {
		t.Errorf("after processing: %d %s; want 200 with a url", res.status, res.body)
	}
	if res := b.do(t, post); res.status != http.StatusOK {
		t.Errorf("attaching processed media: %d %s", res.status, res.body)
	}

	// The deprecated v1 endpoint answers when the media is ready.
	if res, m := b.upload(t, "/api/v1/media", b.token, pngBytes(t, 1, 1), "image/png", ""); res.status != http.StatusOK || m.URL == nil {
		t.Errorf("v1 upload: %d %s", res.status, res.body)
	}
}

func TestMediaValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		file        []byte
		contentType string
		description string
		wantStatus  int
		want        string
	}{
		{"text pretending to be png", []byte("just some text, honestly"), "image/png", "", 422, "Validation failed: File content type is invalid"},
		{"bmp", append([]byte("BM"), make([]byte, 64)...), "image/bmp", "", 422, "Validation failed: File content type is invalid"},
		{"too large", make([]byte, 0), "image/png", "", 422, "Validation failed: File file size must be less than 1 MB"},
		{"empty", []byte{}, "image/png", "", 422, "Validation failed: File can't be blank"},
		{"no file", nil, "", "just a description", 422, "Validation failed: File can't be blank"},
		{"long description", nil, "image/png", strings.Repeat("d", 1501), 422, "Validation failed: Description is too long (maximum is 1500 characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, simnet.Options{MaxImageBytes: 1 << 20})
			file := tt.file
			switch tt.name {
			case "too large":
				file = append(pngBytes(t, 1, 1), make([]byte, 1<<20)...)
			case "long description":
				file = pngBytes(t, 1, 1)
			}
			res, _ := b.upload(t, "/api/v2/media", b.token, file, tt.contentType, tt.description)
			if res.status != tt.wantStatus || res.errorMessage(t) != tt.want {
				t.Errorf("got %d %s; want %d %q", res.status, res.body, tt.wantStatus, tt.want)
			}
		})
	}
}

func TestMediaBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, simnet.Options{MaxImageBytes: 1 << 10, MaxVideoBytes: 1 << 10})
	// Past the largest allowed file plus slack, the upload is cut off.
	res, _ := b.upload(t, "/api/v2/media", b.token, append(pngBytes(t, 1, 1), make([]byte, 2<<20)...), "image/png", "")
	if res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("got %d %s; want 413", res.status, res.body)
	}
}
