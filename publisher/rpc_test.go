package publisher

import (
	"context"
	"strings"
	"testing"

	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/provider/slack"
)

// TestValidateVideo checks videos against real providers' limits: a
// network without video refuses one, a network with video refuses one over
// its size, each on the attachment's own field.
func TestValidateVideo(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{noRun: true, providers: map[string]provider.Provider{
		"mastodon": mastodon.New(nil), "slack": slack.New(nil),
	}})
	video := func(size int64) *publisherv1.Media { return &publisherv1.Media{MimeType: "video/mp4", SizeBytes: size} }
	image := &publisherv1.Media{MimeType: "image/png", SizeBytes: 1 << 10}
	tests := []struct {
		name    string
		network string
		media   []*publisherv1.Media
		want    map[string]string // field: message fragment
	}{
		{"mastodon takes a video", "mastodon", []*publisherv1.Media{video(40 << 20), image}, nil},
		{"mastodon refuses a large one", "mastodon", []*publisherv1.Media{image, video(100 << 20)}, map[string]string{"media[1]": "videos up to 99.0 MB"}},
		{"slack takes none", "slack", []*publisherv1.Media{video(1 << 20)}, map[string]string{"media": ""}},
	}
	for _, tt := range tests {
		res, err := tb.svc.Validate(context.Background(), &publisherv1.ValidateRequest{Network: tt.network, Text: "a clip", Media: tt.media})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, v := range res.GetViolations() {
			got[v.GetField()] = v.GetMessage()
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: violations %v; want %v", tt.name, got, tt.want)
		}
		for f, frag := range tt.want {
			if msg, ok := got[f]; !ok || !strings.Contains(msg, frag) {
				t.Errorf("%s: violations %v; want %s: %q", tt.name, got, f, frag)
			}
		}
	}
}
