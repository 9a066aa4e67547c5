package telegram_test

import (
	"testing"

	"github.com/heraldhq/herald/provider"
)

func TestPublishVideo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "A clip", Media: []provider.Media{image("clip.mp4", "video/mp4", 4096)}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.sim.TelegramMessages()
	if len(msgs) != 1 || msgs[0].Caption != "A clip" || msgs[0].Video == nil || msgs[0].Photo != nil || msgs[0].Video.Size != 4096 || res.RemoteID != "1" {
		t.Fatalf("messages = %+v", msgs)
	}

	// A media group mixes photos and videos.
	if _, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Both", Media: []provider.Media{image("a.jpg", "image/jpeg", 10), image("b.mp4", "video/mp4", 20)}}); err != nil {
		t.Fatal(err)
	}
	msgs = e.sim.TelegramMessages()
	if len(msgs) != 3 || msgs[1].Photo == nil || msgs[2].Video == nil || msgs[2].MediaGroupID == "" {
		t.Fatalf("messages = %+v", msgs[1:])
	}
}

func TestValidateVideo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name string
		m    provider.Media
		bad  bool
	}{
		{"mp4", provider.Media{MimeType: "video/mp4", Size: 50 << 20}, false},
		{"over 50 MB", provider.Media{MimeType: "video/mp4", Size: 50<<20 + 1}, true},
		// QuickTime would arrive as a file, not a playable video.
		{"quicktime", provider.Media{MimeType: "video/quicktime", Size: 1 << 20}, true},
	}
	for _, tt := range tests {
		v := e.p.Validate("x", []provider.Media{tt.m})
		if (len(v) > 0) != tt.bad || (tt.bad && v[0].Field != "media[0]") {
			t.Errorf("%s: violations %+v", tt.name, v)
		}
	}
}
