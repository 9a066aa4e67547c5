package instagram_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/simnet"
)

// addVideo serves n bytes that start like an MP4 file (or, with junk, a
// file that is no video at all) and returns them as an attachment.
func (b *blobs) addVideo(name string, n int, junk bool) provider.Media {
	data := make([]byte, n)
	if !junk {
		binary.BigEndian.PutUint32(data, 24)
		copy(data[4:], "ftypisom")
		copy(data[16:], "isommp41")
	}
	b.files[name] = data
	return provider.Media{FileName: name, MimeType: "video/mp4", Size: int64(n), Description: "not sent",
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func TestPublishReel(t *testing.T) {
	t.Parallel()
	// Images are ready at once, videos after 200 ms: publishing before
	// would be refused (simnet answers "the media is not ready").
	e := setup(t, simnet.MetaOptions{VideoProcessing: 200 * time.Millisecond}, nil)
	start := time.Now()
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "our reel", Media: []provider.Media{e.blobs.addVideo("reel.mp4", 64<<10, false)}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("published after %s; the reel was processing for 200 ms", waited)
	}
	posts := e.sim.InstagramPosts()
	if len(posts) != 1 || posts[0].ID != res.RemoteID || posts[0].MediaType != "VIDEO" || len(posts[0].VideoURLs) != 1 || len(posts[0].ImageURLs) != 0 {
		t.Fatalf("server has %+v", posts)
	}

	// A carousel of an image and a video.
	post := provider.Post{Text: "both", Media: []provider.Media{e.blobs.add(t, "a.jpg", false), e.blobs.addVideo("b.mp4", 4<<10, false)}}
	if _, err := e.p.Publish(t.Context(), e.acct, post); err != nil {
		t.Fatal(err)
	}
	posts = e.sim.InstagramPosts()
	if len(posts) != 2 || posts[1].MediaType != "CAROUSEL_ALBUM" || len(posts[1].ImageURLs) != 1 || len(posts[1].VideoURLs) != 1 {
		t.Fatalf("server has %+v", posts[1:])
	}
}

func TestPublishReelRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "junk", Media: []provider.Media{e.blobs.addVideo("junk.mp4", 4<<10, true)}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Fatalf("err = %v; want BadContent", err)
	}
	if n := len(e.sim.InstagramPosts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{}, nil)
	img := provider.Media{MimeType: "image/jpeg", Size: 1 << 10}
	tests := []struct {
		name  string
		media []provider.Media
		bad   []string
	}{
		{"a reel", []provider.Media{{MimeType: "video/mp4", Size: 250 << 20}}, nil},
		{"a reel too large", []provider.Media{{MimeType: "video/quicktime", Size: 301 << 20}}, []string{"media[0]"}},
		// In a carousel, a video may be 100 MB.
		{"a carousel video too large", []provider.Media{img, {MimeType: "video/mp4", Size: 101 << 20}}, []string{"media[1]"}},
		{"webm", []provider.Media{{MimeType: "video/webm", Size: 1 << 20}}, []string{"media[0]"}},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range e.p.Validate("x", tt.media) {
			got = append(got, v.Field)
		}
		if len(got) != len(tt.bad) || (len(got) > 0 && got[0] != tt.bad[0]) {
			t.Errorf("%s: violations on %v; want %v", tt.name, got, tt.bad)
		}
	}
}
