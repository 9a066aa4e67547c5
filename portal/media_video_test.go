package portal

import (
	"encoding/binary"
	"net/http"
	"testing"
)

// isoVideo is the start of an ISO base media file: an ftyp box with the
// given major brand and compatible brands, then padding standing in for
// the movie's boxes.
func isoVideo(major string, compatible []string, size int) []byte {
	box := make([]byte, 16+4*len(compatible))
	binary.BigEndian.PutUint32(box, uint32(len(box)))
	copy(box[4:], "ftyp")
	copy(box[8:], major)
	for i, c := range compatible {
		copy(box[16+4*i:], c)
	}
	out := append(box, make([]byte, 8)...)
	binary.BigEndian.PutUint32(out[len(box):], uint32(size-len(box)))
	copy(out[len(box)+4:], "mdat")
	return append(out, make([]byte, size-len(out))...)
}

func TestMediaLibraryVideo(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxUploadBytes = 64 << 10 })
	a := b.firstAgency(t)

	accepted := []struct {
		name, file, mime string
		content          []byte
	}{
		// The standard sniffer knows this one: "mp4" among the brands.
		{"mp4 with an mp4 brand", "clip.mp4", "video/mp4", isoVideo("isom", []string{"isom", "mp41"}, 40<<10)},
		// It misses an MP4 whose brands are all iso*/avc1.
		{"mp4 without", "clip.m4v", "video/mp4", isoVideo("iso5", []string{"iso5", "avc1"}, 2<<10)},
		{"quicktime", "clip.mov", "video/quicktime", isoVideo("qt  ", []string{"qt  "}, 3<<10)},
	}
	for _, tt := range accepted {
		m := a.owner.must(http.StatusCreated, a.owner.upload(a.workspace, tt.file, tt.content, "a clip")).json(t)
		if m["mime_type"] != tt.mime || m["size_bytes"] != float64(len(tt.content)) {
			t.Errorf("%s: media = %v", tt.name, m)
		}
	}

	refused := []struct {
		name    string
		content []byte
		status  int
	}{
		{"over the cap", isoVideo("isom", []string{"mp41"}, 80<<10), http.StatusRequestEntityTooLarge},
		// An ftyp box of a brand that is not a video Herald takes (HEIC).
		{"heic", isoVideo("heic", []string{"mif1", "heic"}, 1<<10), http.StatusUnprocessableEntity},
	}
	for _, tt := range refused {
		res := a.owner.upload(a.workspace, "x.mp4", tt.content, "")
		if res.Status != tt.status || res.errorFields(t)["file"] == nil {
			t.Errorf("%s: %d %s", tt.name, res.Status, res.Body)
		}
	}
	if n := b.count(t, "portal_media"); n != len(accepted) {
		t.Fatalf("%d media rows, want %d", n, len(accepted))
	}
}
