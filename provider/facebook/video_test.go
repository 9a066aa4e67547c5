package facebook_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/facebook"
	"github.com/heraldhq/herald/simnet"
)

func videoBytes(n int, junk bool) []byte {
	b := make([]byte, n)
	if !junk {
		binary.BigEndian.PutUint32(b, 24)
		copy(b[4:], "ftypisom")
		copy(b[16:], "isommp41")
	}
	return b
}

func videoMedia(b []byte) provider.Media {
	return provider.Media{FileName: "clip.mp4", MimeType: "video/mp4", Size: int64(len(b)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// videoSetup is setup with videos processed for processing.
func videoSetup(t *testing.T, processing time.Duration, opts ...facebook.Option) *env {
	t.Helper()
	e := setup(t, opts...)
	e.sim.SetMeta(simnet.MetaOptions{VideoProcessing: processing})
	return e
}

func TestPublishVideo(t *testing.T) {
	t.Parallel()
	clip := videoBytes(48<<10, false)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(clip) }))
	t.Cleanup(files.Close)
	byURL := facebook.WithVideoURL(func(context.Context, provider.Media) (string, error) { return files.URL + "/clip.mp4", nil })
	for name, opts := range map[string][]facebook.Option{"uploaded": nil, "by file_url": {byURL}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := videoSetup(t, 200*time.Millisecond, append(opts, facebook.WithPolling(10*time.Millisecond, 5*time.Second))...)
			start := time.Now()
			res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "our clip", Media: []provider.Media{videoMedia(clip)}})
			if err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < 200*time.Millisecond {
				t.Errorf("done after %s; the video was processing for 200 ms", waited)
			}
			posts := e.sim.FacebookPosts()
			if len(posts) != 1 || posts[0].VideoID != res.RemoteID || posts[0].Message != "our clip" {
				t.Fatalf("server has %+v; result %+v", posts, res)
			}
			// The first comment goes on the processed video.
			if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "more below", ReplyTo: &res, AsComment: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPublishVideoRefused(t *testing.T) {
	t.Parallel()
	e := videoSetup(t, 0, facebook.WithPolling(10*time.Millisecond, 5*time.Second))
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "junk", Media: []provider.Media{videoMedia(videoBytes(4<<10, true))}})
	if pe := kindOf(t, err); pe.Kind != provider.BadContent {
		t.Fatalf("err = %v; want BadContent", err)
	}
	if n := len(e.sim.FacebookPosts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	p := facebook.New(outbound.NewClient(outbound.Policy{}))
	video := provider.Media{MimeType: "video/quicktime", Size: 900 << 20}
	if v := p.Validate("x", []provider.Media{video}); len(v) != 0 {
		t.Errorf("one video: %+v", v)
	}
	if v := p.Validate("x", []provider.Media{{MimeType: "video/mp4", Size: 1<<30 + 1}}); len(v) != 1 || v[0].Field != "media[0]" {
		t.Errorf("over 1 GB: %+v", v)
	}
	if v := p.Validate("x", []provider.Media{video, {MimeType: "image/png", Size: 10}}); len(v) != 1 || v[0].Field != "media" {
		t.Errorf("a video and an image: %+v", v)
	}
}
