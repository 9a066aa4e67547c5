package mastodon_test

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

// mp4Bytes is a file the size of n that starts like an MP4 video (an ftyp
// box naming the mp41 brand), which is all a type sniffer reads.
func mp4Bytes(n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b, 24)
	copy(b[4:], "ftypisom")
	copy(b[16:], "isommp41")
	return b
}

func TestPublishVideoAwaitsTranscoding(t *testing.T) {
	t.Parallel()
	// Images are ready at once, the video only after 400 ms: the status
	// must wait for it, as Mastodon refuses media still processing.
	e := setup(t, simnet.Options{VideoProcessing: 400 * time.Millisecond}, mastodon.WithMediaPolling(20*time.Millisecond, 10*time.Second))
	post := provider.Post{
		Text:           "a clip and a picture",
		Media:          []provider.Media{bytesMedia("clip.mp4", "video/mp4", "a clip", mp4Bytes(64<<10)), pngMedia(t, "a.png", "")},
		IdempotencyKey: "att_video",
	}
	start := time.Now()
	res, err := e.p.Publish(t.Context(), e.acct, post)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Errorf("published after %s; the video was processing for 400 ms", waited)
	}
	r, err := http.Get(e.url + "/api/v1/statuses/" + res.RemoteID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var st struct {
		MediaAttachments []struct {
			Type string  `json:"type"`
			URL  *string `json:"url"`
		} `json:"media_attachments"`
	}
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.MediaAttachments) != 2 || st.MediaAttachments[0].Type != "video" || st.MediaAttachments[0].URL == nil || st.MediaAttachments[1].Type != "image" {
		t.Errorf("attachments = %+v", st.MediaAttachments)
	}
}

func TestPublishVideoGivesUp(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{VideoProcessing: time.Hour}, mastodon.WithMediaPolling(5*time.Millisecond, 150*time.Millisecond))
	_, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "never", Media: []provider.Media{bytesMedia("c.mp4", "video/mp4", "", mp4Bytes(4096))}, IdempotencyKey: "k"})
	if pe := asProviderError(t, err); pe.Kind != provider.Retry {
		t.Errorf("err = %v; want Retry", err)
	}
	if n := len(e.sim.Statuses()); n != 0 {
		t.Errorf("%d statuses; want none", n)
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	p := mastodon.New(nil)
	tests := []struct {
		name  string
		media provider.Media
		bad   bool
	}{
		{"mp4", provider.Media{MimeType: "video/mp4", Size: 50 << 20}, false},
		{"quicktime", provider.Media{MimeType: "video/quicktime", Size: 1 << 20}, false},
		// Over the image limit but within the video one.
		{"large video", provider.Media{MimeType: "video/mp4", Size: 90 << 20}, false},
		{"too large", provider.Media{MimeType: "video/mp4", Size: 100 << 20}, true},
		{"not a type Herald sends", provider.Media{MimeType: "video/x-msvideo", Size: 1 << 20}, true},
		{"image over the image limit", provider.Media{MimeType: "image/png", Size: 17 << 20}, true},
	}
	for _, tt := range tests {
		v := p.Validate("x", []provider.Media{tt.media})
		if (len(v) > 0) != tt.bad || (tt.bad && v[0].Field != "media[0]") {
			t.Errorf("%s: violations %+v", tt.name, v)
		}
	}
}
