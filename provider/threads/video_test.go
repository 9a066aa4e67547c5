package threads_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/simnet"
)

// withVideos gives e a provider whose media links serve an MP4-looking
// file for names ending in .mp4 (junk for .bin) and the env's image for
// the rest.
func withVideos(t *testing.T, e *env) (*threads.Provider, func(name string, n int) provider.Media) {
	t.Helper()
	clip := func(n int, junk bool) []byte {
		b := make([]byte, n)
		if !junk {
			binary.BigEndian.PutUint32(b, 24)
			copy(b[4:], "ftypisom")
			copy(b[16:], "isommp41")
		}
		return b
	}
	sizes := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		_, _ = w.Write(clip(sizes[name], strings.HasSuffix(name, ".bin")))
	}))
	t.Cleanup(srv.Close)
	p := threads.New(outbound.NewClient(outbound.Policy{AllowLoopback: true}),
		threads.WithPolling(5*time.Millisecond, 5*time.Second),
		threads.WithMediaURL(func(_ context.Context, m provider.Media) (string, error) {
			if strings.HasPrefix(m.MimeType, "video/") {
				return srv.URL + "/" + m.FileName, nil
			}
			return e.files.URL + "/" + m.FileName, nil
		}))
	return p, func(name string, n int) provider.Media {
		sizes[name] = n
		b := clip(n, strings.HasSuffix(name, ".bin"))
		return provider.Media{FileName: name, MimeType: "video/mp4", Size: int64(n), Description: "a clip",
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
	}
}

func TestPublishVideo(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.MetaOptions{VideoProcessing: 200 * time.Millisecond}, nil)
	p, video := withVideos(t, e)
	start := time.Now()
	res, err := p.Publish(t.Context(), e.acct, provider.Post{Text: "a clip", Media: []provider.Media{video("clip.mp4", 32<<10)}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("published after %s; the video was processing for 200 ms", waited)
	}
	// A carousel of an image and a video.
	if _, err := p.Publish(t.Context(), e.acct, provider.Post{Text: "both", Media: []provider.Media{e.img, video("two.mp4", 4<<10)}}); err != nil {
		t.Fatal(err)
	}
	posts := e.sim.ThreadsPosts()
	if len(posts) != 2 || posts[0].ID != res.RemoteID || posts[0].MediaType != "VIDEO" || len(posts[0].VideoURLs) != 1 ||
		posts[1].MediaType != "CAROUSEL_ALBUM" || len(posts[1].ImageURLs) != 1 || len(posts[1].VideoURLs) != 1 {
		t.Fatalf("server has %+v", posts)
	}

	// A file that is no video ends in the container's ERROR: BadContent.
	_, err = p.Publish(t.Context(), e.acct, provider.Post{Text: "junk", Media: []provider.Media{video("junk.bin", 1<<10)}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Errorf("err = %v; want BadContent", err)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	p := threads.New(nil)
	if v := p.Validate("x", []provider.Media{{MimeType: "video/quicktime", Size: 900 << 20}}); len(v) != 0 {
		t.Errorf("a 900 MB video: %+v", v)
	}
	if v := p.Validate("x", []provider.Media{{MimeType: "video/mp4", Size: 1<<30 + 1}}); len(v) != 1 || v[0].Field != "media[0]" {
		t.Errorf("a video over 1 GB: %+v", v)
	}
}
