package bluesky

import (
	"testing"
	"time"
)

func TestFindLinks(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"see https://example.com.":                 {"https://example.com"},
		"(https://example.com/a)":                  {"https://example.com/a"},
		"https://en.wikipedia.org/wiki/Go_(lang)!": {"https://en.wikipedia.org/wiki/Go_(lang)"},
		"ünïcödé first http://x.io/ä?q=1, then":    {"http://x.io/ä?q=1"},
		"not a link: https:// or ftp://x.org":      nil,
		"two: https://a.example https://b.example": {"https://a.example", "https://b.example"},
	}
	for text, want := range cases {
		var got []string
		for _, f := range findLinks(text) {
			if text[f.Index.ByteStart:f.Index.ByteEnd] != f.Features[0].URI {
				t.Errorf("%q: span %q is not the uri %q", text, text[f.Index.ByteStart:f.Index.ByteEnd], f.Features[0].URI)
			}
			got = append(got, f.Features[0].URI)
		}
		if len(got) != len(want) {
			t.Errorf("%q: links %q; want %q", text, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: links %q; want %q", text, got, want)
			}
		}
	}
}

func TestFindMentions(t *testing.T) {
	t.Parallel()
	text := "hi @Alice.Test, (@bob.bsky.social) mail me@example.com @nodot @-bad.test é@x.test 🎉 @carol.example."
	var got []string
	for _, m := range findMentions(text) {
		if text[m.span.ByteStart] != '@' {
			t.Errorf("span %q does not start at the @", text[m.span.ByteStart:m.span.ByteEnd])
		}
		got = append(got, text[m.span.ByteStart:m.span.ByteEnd]+"="+m.handle)
	}
	want := []string{"@Alice.Test=alice.test", "@bob.bsky.social=bob.bsky.social", "@carol.example=carol.example"}
	if len(got) != len(want) {
		t.Fatalf("mentions %q; want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("mentions %q; want %q", got, want)
		}
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	// header {"alg":"HS256"}, claims {"sub":"did:plc:x","exp":1767225600}
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOngiLCJleHAiOjE3NjcyMjU2MDB9.c2ln"
	if got := jwtExpiry(tok); !got.Equal(time.Unix(1767225600, 0)) {
		t.Errorf("exp %v", got)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"} {
		if got := jwtExpiry(bad); !got.IsZero() {
			t.Errorf("jwtExpiry(%q) = %v; want zero", bad, got)
		}
	}
}
