package graph_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

func TestCheckImage(t *testing.T) {
	t.Parallel()
	r := graph.ImageRules{Network: "Net", Types: []string{"image/jpeg"}, Takes: "takes JPEG only", MaxBytes: 8 << 20, MaxAltText: 5}
	tests := []struct {
		name string
		m    provider.Media
		r    graph.ImageRules
		want string // "": no violation
	}{
		{"fine", provider.Media{MimeType: "Image/JPEG; q=1", Size: 10, Description: "short"}, r, ""},
		{"type", provider.Media{MimeType: "image/png", Size: 10}, r, `is of type "image/png"; Net takes JPEG only`},
		{"empty", provider.Media{MimeType: "image/jpeg"}, r, "is empty"},
		{"too large", provider.Media{MimeType: "image/jpeg", Size: 9 << 20}, r, "is 9.0 MB; Net allows images up to 8 MB"},
		{"description", provider.Media{MimeType: "image/jpeg", Size: 10, Description: "ééééé!"}, r, "has a description longer than 5 characters"},
		{"no description limit", provider.Media{MimeType: "image/jpeg", Size: 10, Description: strings.Repeat("x", 100)}, graph.ImageRules{Network: "Net", Types: r.Types, MaxBytes: r.MaxBytes}, ""},
	}
	for _, tt := range tests {
		got := graph.CheckImage(3, tt.m, tt.r)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: %+v; want none", tt.name, got)
		case tt.want != "" && (len(got) != 1 || got[0].Field != "media[3]" || got[0].Message != tt.want):
			t.Errorf("%s: %+v; want media[3] %q", tt.name, got, tt.want)
		}
	}
}
