package linkedin_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/linkedin"
)

func videoMedia(n int, junk bool) provider.Media {
	b := make([]byte, n)
	if !junk {
		binary.BigEndian.PutUint32(b, 24)
		copy(b[4:], "ftypisom")
		copy(b[16:], "isommp41")
	}
	return provider.Media{FileName: "clip.mp4", MimeType: "video/mp4", Size: int64(n),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

func TestPublishVideo(t *testing.T) {
	t.Parallel()
	e := setup(t, linkedin.WithVideoPolling(10*time.Millisecond, 5*time.Second))
	e.sim.LinkedIn().SetVideoProcessing(200 * time.Millisecond)
	start := time.Now()
	// 9 MiB: three parts of LinkedIn's 4 MiB.
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "our clip", Media: []provider.Media{videoMedia(9<<20, false)}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("posted after %s; the video was processing for 200 ms", waited)
	}
	posts := e.sim.LinkedIn().Posts()
	if len(posts) != 1 || posts[0].URN != res.RemoteID || len(posts[0].Images) != 1 || !strings.HasPrefix(posts[0].Images[0], "urn:li:video:") {
		t.Fatalf("server has %+v", posts)
	}
}

func TestPublishVideoRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, linkedin.WithVideoPolling(10*time.Millisecond, 5*time.Second))
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "junk", Media: []provider.Media{videoMedia(100_000, true)}})
	wantKind(t, err, provider.BadContent)
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "both", Media: []provider.Media{videoMedia(100_000, false), pngMedia(t, "")}})
	wantKind(t, err, provider.BadContent)

	slow := setup(t, linkedin.WithVideoPolling(10*time.Millisecond, 60*time.Millisecond))
	slow.sim.LinkedIn().SetVideoProcessing(time.Hour)
	_, err = slow.p.Publish(t.Context(), slow.acct, provider.Post{Text: "slow", Media: []provider.Media{videoMedia(100_000, false)}})
	wantKind(t, err, provider.Retry)
	if n := len(e.sim.LinkedIn().Posts()) + len(slow.sim.LinkedIn().Posts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	p := linkedin.New(nil)
	tests := []struct {
		name  string
		media []provider.Media
		want  string
	}{
		{"mp4", []provider.Media{{MimeType: "video/mp4", Size: 400e6}}, ""},
		{"too small", []provider.Media{{MimeType: "video/mp4", Size: 1000}}, "media[0]"},
		{"too large", []provider.Media{{MimeType: "video/mp4", Size: 501e6}}, "media[0]"},
		{"quicktime", []provider.Media{{MimeType: "video/quicktime", Size: 1e6}}, "media[0]"},
		{"with an image", []provider.Media{{MimeType: "video/mp4", Size: 1e6}, {MimeType: "image/png", Size: 10}}, "media"},
	}
	for _, tt := range tests {
		v := p.Validate("x", tt.media)
		got := ""
		if len(v) > 0 {
			got = v[0].Field
		}
		if got != tt.want || len(v) > 1 {
			t.Errorf("%s: violations %+v; want one on %q", tt.name, v, tt.want)
		}
	}
}
