package portal

import (
	"bytes"
	"context"
	"net/http"
	"testing"
)

func TestMediaLibrary(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxUploadBytes = 4096 })
	a := b.firstAgency(t)
	img := pngBytes(t)

	res := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, "../../etc/photo.png", img, "a square"))
	m := res.json(t)
	if m["mime_type"] != "image/png" || m["size_bytes"] != float64(len(img)) || m["file_name"] != "photo.png" || m["description"] != "a square" {
		t.Fatalf("media = %v", m)
	}
	content := a.owner.must(http.StatusOK, a.owner.do("GET", m["content_url"].(string), nil))
	if !bytes.Equal(content.Body, img) || content.Header.Get("Content-Type") != "image/png" || content.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("content: %v %d bytes", content.Header, len(content.Body))
	}
	list := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/media", nil)).json(t)["media"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d media listed", len(list))
	}

	refused := []struct {
		name    string
		file    []byte
		status  int
		comment string
	}{
		// An HTML page named .png is still HTML: the type comes from the bytes.
		{"not an image", []byte("<html><script>alert(1)</script></html>"), http.StatusUnprocessableEntity, "sniffed type"},
		{"empty", nil, http.StatusUnprocessableEntity, "empty file"},
		{"too large", append(append([]byte{}, img...), make([]byte, 8192)...), http.StatusRequestEntityTooLarge, "over MaxUploadBytes"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := a.owner.upload(a.workspace, "x.png", tt.file, "")
			if res.Status != tt.status || res.errorFields(t)["file"] == nil {
				t.Fatalf("%s: %d %s", tt.comment, res.Status, res.Body)
			}
			if n := b.count(t, "portal_media"); n != 1 {
				t.Fatalf("%d media rows", n)
			}
			objects := 0
			it := b.blob.List(nil)
			for {
				obj, err := it.Next(context.Background())
				if err != nil {
					break
				}
				_ = obj
				objects++
			}
			if objects != 1 {
				t.Fatalf("%d blobs stored, want only the accepted one", objects)
			}
		})
	}

	// JSON is not an upload.
	a.owner.must(http.StatusUnsupportedMediaType, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/media", map[string]string{"file": "x"}))
}
