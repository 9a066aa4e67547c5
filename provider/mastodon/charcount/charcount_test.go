package charcount_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider/mastodon/charcount"
)

func TestCount(t *testing.T) {
	t.Parallel()
	long := "https://example.com/" + strings.Repeat("a", 200)
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "Hello, world", 12},
		{"runes not bytes", "héllo wörld", 11},
		{"cjk", "日本語のテキスト", 8},
		{"emoji with skin tone counts once", "👍🏽", 1},
		{"family emoji counts once", "👨‍👩‍👧‍👦", 1},
		{"flag counts once", "🇫🇷", 1},
		{"combining accent counts once", "e\u0301", 1},
		{"crlf counts once", "a\r\nb", 3},
		{"short url counts 23", "https://t.co", 23},
		{"long url counts 23", long, 23},
		{"url in a sentence", "Read " + long + " now", 5 + 23 + 4},
		{"trailing full stop is not the url", "See https://example.com/page.", 4 + 23 + 1},
		{"balanced parentheses stay", "https://en.wikipedia.org/wiki/Go_(language)", 23},
		{"unbalanced parenthesis is prose", "(https://example.com/x)", 1 + 23 + 1},
		{"two urls", "http://a.example https://b.example/x?y=1#z", 23 + 1 + 23},
		{"url without scheme counts in full", "example.com/page", 16},
		{"url glued to a word counts in full", "xhttps://example.com", 20},
		{"host without a dot is not a link", "http://localhost", 16},
		{"ipv6 literal link", "http://[2001:db8::1]/", 23},
		{"remote mention counts local part", "hi @alice@example.social!", 3 + 6 + 1},
		{"local mention counts in full", "hi @alice", 9},
		{"email is not a mention", "mail bob@example.com", 20},
		{"mention after slash is not shortened", "x/@alice@example.social", 23},
		{"mention and url", "@bob@mastodon.example.org see https://example.org", 4 + 5 + 23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := charcount.Count(tt.text); got != tt.want {
				t.Errorf("Count(%q) = %d; want %d", tt.text, got, tt.want)
			}
		})
	}
}

func BenchmarkCount(b *testing.B) {
	text := strings.Repeat("Launch day 🚀 https://example.com/launch?utm=x @team@example.social ", 6)
	for b.Loop() {
		charcount.Count(text)
	}
}
