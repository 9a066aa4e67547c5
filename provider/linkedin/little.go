package linkedin

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// reserved are the little text format's markup characters.
const reserved = `\|{}@[]()<>#*_~`

var linkRE = regexp.MustCompile(`(?i)^https?://\S+`)

// EscapeCommentary writes text in LinkedIn's little format so that it
// shows as written: every reserved character gets a backslash, except in
// links (http:// or https:// up to the next space), which must stay as
// they are to link, and a # directly followed by a letter or digit, which
// starts a hashtag.
func EscapeCommentary(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 16)
	for i := 0; i < len(text); {
		c := text[i]
		if (c == 'h' || c == 'H') && (i == 0 || !wordBefore(text[:i])) {
			if m := linkRE.FindString(text[i:]); m != "" {
				b.WriteString(m)
				i += len(m)
				continue
			}
		}
		if c == '#' && i+1 < len(text) && wordAt(text[i+1:]) {
			b.WriteByte(c)
			i++
			continue
		}
		if strings.IndexByte(reserved, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func wordAt(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func wordBefore(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
