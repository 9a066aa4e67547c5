package x_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/x"
)

// videoMedia is n bytes that start like an MP4 file.
func videoMedia(n int, description string) provider.Media {
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b, 24)
	copy(b[4:], "ftypisom")
	copy(b[16:], "isommp41")
	return provider.Media{FileName: "clip.mp4", MimeType: "video/mp4", Size: int64(n), Description: description,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

func TestPublishVideo(t *testing.T) {
	t.Parallel()
	e := setup(t, x.WithChunkSize(64<<10), x.WithMediaPolling(20*time.Millisecond, 10*time.Second))
	e.sim.X().SetVideoProcessing(300 * time.Millisecond)
	// Four segments; the description is not sent (X takes alt text for
	// images and GIFs only, and simnet refuses it for a video).
	clip := videoMedia(200<<10, "a clip")
	start := time.Now()
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "a clip", Media: []provider.Media{clip}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("posted after %s; the video was processing for 300 ms", waited)
	}
	if p := e.sim.X().Posts(); len(p) != 1 || p[0].ID != res.RemoteID || len(p[0].MediaIDs) != 1 || p[0].AltTexts[0] != "" {
		t.Errorf("server has %+v", p)
	}

	// Past the bound, a video still processing is a Retry and no post.
	e.sim.X().SetVideoProcessing(time.Hour)
	slow := setup(t, x.WithMediaPolling(10*time.Millisecond, 80*time.Millisecond))
	slow.sim.X().SetVideoProcessing(time.Hour)
	_, err = slow.p.Publish(t.Context(), slow.acct, provider.Post{Text: "never", Media: []provider.Media{videoMedia(1<<10, "")}})
	wantKind(t, err, provider.Retry)
	if n := len(slow.sim.X().Posts()); n != 0 {
		t.Errorf("%d posts with a video still processing", n)
	}
}

// TestXRefusesUnprocessedVideo: simnet, like X, refuses a post naming a
// video that was finalized but not yet reported processed, and a video
// uploaded without media_category tweet_video.
func TestXRefusesUnprocessedVideo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	call := func(method, path, ct string, body io.Reader) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(t.Context(), method, e.acct.InstanceURL+path, body)
		req.Header.Set("Authorization", "Bearer "+e.acct.AccessToken)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if code, _ := call("POST", "/2/media/upload/initialize", "application/json", strings.NewReader(`{"media_type":"video/mp4","total_bytes":10,"media_category":"tweet_image"}`)); code != http.StatusBadRequest {
		t.Errorf("video as tweet_image: %d", code)
	}
	code, out := call("POST", "/2/media/upload/initialize", "application/json", strings.NewReader(`{"media_type":"video/mp4","total_bytes":10,"media_category":"tweet_video"}`))
	if code != http.StatusOK {
		t.Fatalf("initialize: %d %v", code, out)
	}
	id := out["data"].(map[string]any)["id"].(string)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("segment_index", "0")
	part, _ := mw.CreateFormFile("media", "chunk")
	_, _ = part.Write(make([]byte, 10))
	_ = mw.Close()
	if code, out := call("POST", "/2/media/upload/"+id+"/append", mw.FormDataContentType(), &body); code != http.StatusOK {
		t.Fatalf("append: %d %v", code, out)
	}
	code, out = call("POST", "/2/media/upload/"+id+"/finalize", "", nil)
	if info, _ := out["data"].(map[string]any)["processing_info"].(map[string]any); code != http.StatusOK || info["state"] != "pending" {
		t.Fatalf("finalize: %d %v", code, out)
	}
	if code, out := call("POST", "/2/tweets", "application/json", strings.NewReader(`{"text":"too soon","media":{"media_ids":["`+id+`"]}}`)); code != http.StatusBadRequest {
		t.Errorf("post with a pending video: %d %v", code, out)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	p := x.New(nil)
	img := provider.Media{MimeType: "image/png", Size: 1 << 10}
	tests := []struct {
		name  string
		media []provider.Media
		want  []string
	}{
		{"one video", []provider.Media{{MimeType: "video/mp4", Size: 500 << 20}}, nil},
		{"quicktime", []provider.Media{{MimeType: "video/quicktime", Size: 1 << 20}}, nil},
		{"too large", []provider.Media{{MimeType: "video/mp4", Size: 513 << 20}}, []string{"media[0]"}},
		{"with an image", []provider.Media{{MimeType: "video/mp4", Size: 1 << 20}, img}, []string{"media"}},
		{"webm", []provider.Media{{MimeType: "video/webm", Size: 1 << 20}}, []string{"media[0]"}},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range p.Validate("x", tt.media) {
			got = append(got, v.Field)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: violations on %v; want %v", tt.name, got, tt.want)
		}
	}
}
