package bluesky

import (
	"regexp"
	"strings"
)

// A facet marks a byte range of a post's text (UTF-8 byte offsets, as
// app.bsky.richtext.facet requires, not characters) as a link, a mention
// or a hashtag.
type facet struct {
	Index    byteSlice `json:"index"`
	Features []feature `json:"features"`
}

type byteSlice struct {
	ByteStart int `json:"byteStart"`
	ByteEnd   int `json:"byteEnd"`
}

type feature struct {
	Type string `json:"$type"`
	URI  string `json:"uri,omitempty"`
	DID  string `json:"did,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

const (
	linkFeature    = "app.bsky.richtext.facet#link"
	mentionFeature = "app.bsky.richtext.facet#mention"
	tagFeature     = "app.bsky.richtext.facet#tag"
)

var (
	linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)
	// A handle is a domain name: labels of letters, digits and inner
	// hyphens, the last one starting with a letter.
	mentionRE = regexp.MustCompile(`(?:^|[\s(])(@([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))`)
	tagRE     = regexp.MustCompile(`(?:^|\s)([#＃]([\p{L}\p{M}\p{N}_]{1,64}))`)
)

// mention is an @handle in the text, to be resolved to a DID.
type mention struct {
	span   byteSlice
	handle string
}

// findLinks returns the http(s) links in text, without the punctuation
// that usually follows a link in a sentence.
func findLinks(text string) []facet {
	var out []facet
	for _, m := range linkRE.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		end = start + len(trimLinkTail(text[start:end]))
		if end-start <= len("https://") {
			continue
		}
		out = append(out, facet{Index: byteSlice{start, end}, Features: []feature{{Type: linkFeature, URI: text[start:end]}}})
	}
	return out
}

// trimLinkTail drops trailing sentence punctuation, and a closing
// parenthesis that closes none opened inside the link.
func trimLinkTail(s string) string {
	for s != "" {
		last := s[len(s)-1]
		switch {
		case strings.IndexByte(".,;:!?'\"", last) >= 0:
			s = s[:len(s)-1]
		case last == ')' && strings.Count(s, "(") < strings.Count(s, ")"):
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}

// findMentions returns the @handles in text.
func findMentions(text string) []mention {
	var out []mention
	for _, m := range mentionRE.FindAllStringSubmatchIndex(text, -1) {
		out = append(out, mention{span: byteSlice{m[2], m[3]}, handle: strings.ToLower(text[m[4]:m[5]])})
	}
	return out
}

// findTags returns the #hashtags in text; a tag of digits only ("#1") is
// a number, not a tag.
func findTags(text string) []facet {
	var out []facet
	for _, m := range tagRE.FindAllStringSubmatchIndex(text, -1) {
		tag := strings.TrimRight(text[m[4]:m[5]], "_")
		if strings.Trim(tag, "0123456789") == "" {
			continue
		}
		end := m[4] + len(tag)
		out = append(out, facet{Index: byteSlice{m[2], end}, Features: []feature{{Type: tagFeature, Tag: tag}}})
	}
	return out
}

// overlaps reports whether s shares a byte with any facet in fs.
func overlaps(s byteSlice, fs []facet) bool {
	for _, f := range fs {
		if s.ByteStart < f.Index.ByteEnd && f.Index.ByteStart < s.ByteEnd {
			return true
		}
	}
	return false
}
