package xtext_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider/x/xtext"
)

// Cases from twitter-text's conformance suite (validate.yml, the
// WeightedTweetsWithDiscountedEmojiCounterTest and lengths sections, with
// the version 3 configuration) and from X's counting rules.
func TestCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text string
		want       int
	}{
		{"plain ASCII", "This is a test.", 15},
		{"empty", "", 0},
		{"http URL", "http://test.com", 23},
		{"https URL", "https://test.com", 23},
		{"URL without protocol", "test.com", 23},
		{"several URLs", "Test https://test.com test https://test.com test.com test", 86},
		{"text then URL", "Hi http://test.co", 26},
		{"long URL", "Check out https://example.com/some/very/long/path/that/is/way/more/than/23/characters", 33},
		{"ten URLs", strings.Repeat("https://www.twitter.com/aloha ", 10), 240},
		{"ccTLD under a second level", "foo.co.jp", 23},
		{"label over 63 characters is not a domain", "randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68},
		{"URL then full stop", "see https://example.com.", 4 + 23 + 1},
		{"mention is not a domain", "@example.com", 12},
		{"CJK weighs 2", "のの", 4},
		{"Hangul weighs 2", "저찀쯿쿿", 8},
		{"accents weigh 1", "A lié géts", 10},
		{"NFC: combining accent is one code point", "A\u0301B", 2},
		{"cat, smiley and ZWJ family", "H🐱☺👨‍👩‍👧‍👦", 7},
		{"five emoji", "😷👾😡🔥💩", 10},
		{"skin tone and ZWJ profession", "🙋🏽👨‍🎤", 4},
		{"keycap", "1\u20e3", 2},
		{"flag", "🇫🇷", 2},
		{"Unicode 10 emoji and a tag flag", "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 34},
		{"Unicode 9 emoji", "Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29},
		{"en dash and curly quotes weigh 1", "a–b “c”", 7},
		{"supplementary non-emoji code points weigh 2 each", "\U00010000\U0010ffff", 4},
		{"heart with variation selector is one emoji", "\u2764\ufe0f", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := xtext.Count(c.text); got != c.want {
				t.Errorf("Count(%q) = %d; want %d", c.text, got, c.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	// Documented edge: 280 is allowed, 281 is not; 140 CJK characters fill
	// a post.
	if n := xtext.Count(strings.Repeat("a", 280)); n != xtext.MaxWeightedLength {
		t.Errorf("280 ASCII letters weigh %d", n)
	}
	if n := xtext.Count(strings.Repeat("の", 140)); n != 280 {
		t.Errorf("140 CJK characters weigh %d", n)
	}
	if n := xtext.Count(strings.Repeat("🐱", 140)); n != 280 {
		t.Errorf("140 cats weigh %d", n)
	}
}
