package bluesky_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/bluesky"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	img := func(mt string, size int64, alt string) provider.Media {
		return provider.Media{MimeType: mt, Size: size, Description: alt}
	}
	// A family emoji is one grapheme of seven code points and 25 bytes.
	family := "👨‍👩‍👧‍👦"
	cases := []struct {
		name   string
		text   string
		media  []provider.Media
		fields []string
	}{
		{"plain", "hello", nil, nil},
		{"300 graphemes of emoji", strings.Repeat(family, 100) + strings.Repeat("é", 200), nil, nil},
		{"301 graphemes", strings.Repeat("a", 301), nil, []string{"text"}},
		{"121 graphemes but over 3000 bytes", strings.Repeat(family, 121), nil, []string{"text"}},
		{"empty without images", "  ", nil, []string{"text"}},
		{"an image alone", "", []provider.Media{img("image/jpeg", 10, "")}, nil},
		{"five images", "x", []provider.Media{img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, ""), img("image/png", 1, "")}, []string{"media"}},
		{"1,000,000 bytes", "x", []provider.Media{img("image/png", 1_000_000, "")}, nil},
		{"1,000,001 bytes", "x", []provider.Media{img("image/png", 1_000_001, "")}, []string{"media[0]"}},
		{"a video", "x", []provider.Media{img("video/mp4", 10, "")}, []string{"media[0]"}},
		{"type with parameters", "x", []provider.Media{img("Image/JPEG; q=1", 10, "")}, nil},
		{"alt text too long", "x", []provider.Media{img("image/png", 10, strings.Repeat("a", 2001))}, []string{"media[0].description"}},
		{"alt text at the limit", "x", []provider.Media{img("image/png", 10, strings.Repeat(family, 2000))}, nil},
	}
	p := bluesky.New(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, v := range p.Validate(tc.text, tc.media) {
				if v.Message == "" {
					t.Errorf("%s: empty message", v.Field)
				}
				got = append(got, v.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("violations on %v; want %v (%v)", got, tc.fields, p.Validate(tc.text, tc.media))
			}
		})
	}
}

func TestRecordKey(t *testing.T) {
	t.Parallel()
	a, b := bluesky.RecordKey("att_1"), bluesky.RecordKey("att_2")
	if a != bluesky.RecordKey("att_1") {
		t.Error("RecordKey is not deterministic")
	}
	if a == b {
		t.Error("two keys, one record key")
	}
	seen := map[string]bool{}
	for i := range 2000 {
		k := bluesky.RecordKey(strings.Repeat("k", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i/26))
		if len(k) != 13 || !strings.ContainsAny(k[:1], "234567abcdefghij") || strings.Trim(k, "234567abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("RecordKey %q is not a TID", k)
		}
		// Timestamps fall between 2023 and early 2024: the first character
		// of a TID from those years is "3".
		if k[0] != '3' {
			t.Fatalf("RecordKey %q is not dated 2023", k)
		}
		if seen[k] {
			t.Fatalf("RecordKey %q repeats", k)
		}
		seen[k] = true
	}
}
