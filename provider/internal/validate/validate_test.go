package validate

import (
	"testing"

	"github.com/heraldhq/herald/provider"
)

func TestUTF16Len(t *testing.T) {
	t.Parallel()
	cases := map[string]int{"": 0, "abc": 3, "é": 1, "😀": 2, "👍🏽": 4, "日本": 2}
	for s, want := range cases {
		if got := UTF16Len(s); got != want {
			t.Errorf("UTF16Len(%q) = %d; want %d", s, got, want)
		}
	}
}

func TestMedia(t *testing.T) {
	t.Parallel()
	l := provider.Limits{MaxMedia: 2, MaxImageBytes: 100, ImageTypes: []string{"image/png"}, MaxAltTextChars: 3}
	media := []provider.Media{
		{MimeType: "image/PNG; x=y", Size: 10, Description: "abc"},
		{MimeType: "image/bmp", Size: 10},
		{MimeType: "image/png", Size: 101},
	}
	got := Media(l, "Net", media, UTF16Len)
	want := []string{"media", "media[1]", "media[2]"}
	if len(got) != len(want) {
		t.Fatalf("violations = %+v; want fields %v", got, want)
	}
	for i, v := range got {
		if v.Field != want[i] {
			t.Errorf("violation %d on %q; want %q", i, v.Field, want[i])
		}
	}
	if got := Media(l, "Net", []provider.Media{{MimeType: "image/png", Size: 1, Description: "abcd"}}, UTF16Len); len(got) != 1 || got[0].Field != "media[0].description" {
		t.Errorf("long description: %+v", got)
	}
	if got := Media(provider.Limits{}, "Net", media[:1], UTF16Len); len(got) != 1 || got[0].Field != "media" {
		t.Errorf("no media allowed: %+v", got)
	}
}
