package charcount

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// URLLength is what every link counts for, however long or short it is:
// Mastodon replaces each link with a placeholder of this many characters
// before counting, because it shortens long links when displaying them.
const URLLength = 23

// Count returns the length of text as Mastodon's status length validator
// sees it:
//
//   - user-perceived characters (extended grapheme clusters), so an emoji
//     made of several code points, or a letter with a combining accent,
//     counts once;
//   - every http or https link counts URLLength characters;
//   - a mention of a remote account counts only its local part:
//     "@alice@example.social" counts as "@alice".
//
// Link detection approximates the twitter-text extractor Mastodon uses: a
// scheme, then a host with at least one dot (or an IP literal), then the
// rest up to white space, less trailing punctuation and unbalanced closing
// brackets. A content warning, when there is one, counts too: add
// Count(spoiler) to the result.
func Count(text string) int {
	return uniseg.GraphemeClusterCount(countable(text))
}

var (
	urlRE = regexp.MustCompile(`(?i)https?://(?:\[[0-9a-f:.]+\]|[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+)(?::\d{1,5})?(?:[/?#]\S*)?`)
	// mentionRE matches @user@domain; the character before the @ is checked
	// separately (Go's regexp has no look-behind).
	mentionRE = regexp.MustCompile(`(?i)@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_])?)@[\p{L}\p{N}_.-]+[\p{L}\p{N}_]`)
)

func countable(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	rest := text
	for {
		loc := urlRE.FindStringIndex(rest)
		if loc == nil {
			b.WriteString(shortenMentions(rest))
			return b.String()
		}
		start, end := loc[0], trimURL(rest[loc[0]:loc[1]])+loc[0]
		// A link glued to a word ("seehttp://...") is not a link.
		if start > 0 && isWordBefore(rest[:start]) {
			b.WriteString(shortenMentions(rest[:end]))
			rest = rest[end:]
			continue
		}
		b.WriteString(shortenMentions(rest[:start]))
		b.WriteString(strings.Repeat("x", URLLength))
		rest = rest[end:]
	}
}

// trimURL returns the length of u without the trailing characters that end
// a sentence rather than the link.
func trimURL(u string) int {
	for len(u) > 0 {
		r, size := utf8.DecodeLastRuneInString(u)
		switch {
		case strings.ContainsRune(".,:;!?'\"…", r):
			u = u[:len(u)-size]
		case r == ')' && strings.Count(u, "(") < strings.Count(u, ")"),
			r == ']' && strings.Count(u, "[") < strings.Count(u, "]"):
			u = u[:len(u)-size]
		default:
			return len(u)
		}
	}
	return 0
}

func shortenMentions(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range mentionRE.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > 0 && isMentionBlocker(s[:m[0]]) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString("@")
		b.WriteString(s[m[2]:m[3]])
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordBefore(before string) bool {
	r, _ := utf8.DecodeLastRuneInString(before)
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
}

// isMentionBlocker reports whether the character before an @ makes it not a
// mention: part of a word (an e-mail address), a URL path or a parameter.
func isMentionBlocker(before string) bool {
	r, _ := utf8.DecodeLastRuneInString(before)
	return r == '=' || r == '/' || isWordBefore(before)
}
