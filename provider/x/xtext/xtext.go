package xtext

import (
	"regexp"
	"strings"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// The version 3 configuration's numbers.
const (
	// MaxWeightedLength is the heaviest post X accepts.
	MaxWeightedLength = 280
	// URLLength is what any URL weighs.
	URLLength = 23
	// EmojiWeight is what an emoji weighs, and DefaultWeight a code point
	// outside the light ranges.
	EmojiWeight   = 2
	DefaultWeight = 2
)

// lightRanges are the code points that weigh 1.
var lightRanges = [][2]rune{{0, 4351}, {8192, 8205}, {8208, 8223}, {8242, 8247}}

// Count returns text's weighted length.
func Count(text string) int {
	text = norm.NFC.String(text)
	n := 0
	rest := text
	for _, loc := range findURLs(text) {
		n += weigh(text[len(text)-len(rest) : loc[0]])
		n += URLLength
		rest = text[loc[1]:]
	}
	return n + weigh(rest)
}

// weigh counts a stretch of text with no URLs in it.
func weigh(s string) int {
	n := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		rs := g.Runes()
		if isEmoji(rs) {
			n += EmojiWeight
			continue
		}
		for _, r := range rs {
			n += runeWeight(r)
		}
	}
	return n
}

func runeWeight(r rune) int {
	for _, lr := range lightRanges {
		if r >= lr[0] && r <= lr[1] {
			return 1
		}
	}
	return DefaultWeight
}

// isEmoji reports whether a grapheme cluster is an emoji: a pictograph
// from the emoji blocks of the supplementary plane (which covers flags,
// skin-tone and ZWJ sequences, and tag sequences, since the cluster starts
// with one), or any symbol asked to show as emoji (U+FE0F) or as a keycap
// (U+20E3).
func isEmoji(rs []rune) bool {
	if len(rs) == 0 {
		return false
	}
	if r := rs[0]; r >= 0x1F000 && r <= 0x1FAFF {
		return true
	}
	for _, r := range rs[1:] {
		if r == 0xFE0F || r == 0x20E3 {
			return true
		}
	}
	// Symbols that show as emoji by default without U+FE0F.
	switch r := rs[0]; {
	case r >= 0x231A && r <= 0x231B, r >= 0x23E9 && r <= 0x23EC, r == 0x23F0, r == 0x23F3,
		r >= 0x25FD && r <= 0x25FE, r >= 0x2614 && r <= 0x2615, r >= 0x2648 && r <= 0x2653,
		r == 0x267F, r == 0x2693, r == 0x26A1, r >= 0x26AA && r <= 0x26AB, r >= 0x26BD && r <= 0x26BE,
		r >= 0x26C4 && r <= 0x26C5, r == 0x26CE, r == 0x26D4, r == 0x26EA, r >= 0x26F2 && r <= 0x26F3,
		r == 0x26F5, r == 0x26FA, r == 0x26FD, r == 0x2705, r >= 0x270A && r <= 0x270B, r == 0x2728,
		r == 0x274C, r == 0x274E, r >= 0x2753 && r <= 0x2755, r == 0x2757, r >= 0x2795 && r <= 0x2797,
		r == 0x27B0, r == 0x27BF, r >= 0x2B1B && r <= 0x2B1C, r == 0x2B50, r == 0x2B55,
		r == 0x263A, r == 0x2764:
		return true
	}
	return false
}

// tlds are the top-level domains a bare domain is recognised with, besides
// every two-letter country code.
var tlds = []string{
	"com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "mobi", "aero", "coop", "museum", "jobs", "travel",
	"app", "dev", "io", "ai", "xyz", "blog", "news", "shop", "store", "online", "site", "tech", "cloud", "live", "media", "world",
	"agency", "email", "link", "club", "design", "studio", "space", "website", "page", "art", "top", "fun", "group", "social",
}

var (
	schemeURL = regexp.MustCompile(`(?i)https?://[^\s<>"]+`)
	bareURL   = regexp.MustCompile(`(?i)(?:^|[^\p{L}\p{N}@._/\-])((?:www\.)?(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(` + strings.Join(tlds, "|") + `|[a-z]{2})(?:[/?#][^\s<>"]*)?)(?:$|[^\p{L}\p{N}@_\-])`)
	// trailing punctuation is not part of a URL ("see https://x.com.").
	trailing = ".,;:!?'\")]}*"
)

// findURLs returns the byte ranges of the URLs in s, in order.
func findURLs(s string) [][2]int {
	var out [][2]int
	for _, m := range schemeURL.FindAllStringIndex(s, -1) {
		end := trimEnd(s, m[0], m[1])
		if validHost(s[m[0]:end]) {
			out = append(out, [2]int{m[0], end})
		}
	}
	// Bare domains elsewhere: search what the scheme URLs leave.
	var all [][2]int
	last := 0
	for _, u := range append(out, [2]int{len(s), len(s)}) {
		gap := s[last:u[0]]
		off := last
		for {
			m := bareURL.FindStringSubmatchIndex(gap)
			if m == nil {
				break
			}
			start, end := m[2], trimEnd(gap, m[2], m[3])
			if labelsOK(gap[start:end]) {
				all = append(all, [2]int{off + start, off + end})
			}
			// Continue after the domain, keeping its last character
			// available as the next match's leading boundary.
			next := m[3]
			if next > m[2] {
				next--
			}
			if next <= 0 || next >= len(gap) {
				break
			}
			off += next
			gap = gap[next:]
		}
		if u[0] < len(s) {
			all = append(all, u)
		}
		last = u[1]
	}
	return all
}

func trimEnd(s string, start, end int) int {
	for end > start && strings.IndexByte(trailing, s[end-1]) >= 0 {
		// Keep a closing parenthesis that closes one opened in the URL
		// (Wikipedia links).
		if s[end-1] == ')' && strings.Count(s[start:end], "(") >= strings.Count(s[start:end], ")") {
			break
		}
		end--
	}
	return end
}

// validHost checks the host of a scheme URL: labels of letters, digits and
// hyphens, none longer than 63 or starting or ending with a hyphen.
func validHost(u string) bool {
	_, rest, _ := strings.Cut(u, "://")
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if strings.HasPrefix(host, "[") {
		return true // IPv6 literal
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host != "" && labelsOK(host)
}

func labelsOK(domain string) bool {
	if i := strings.IndexAny(domain, "/?#"); i >= 0 {
		domain = domain[:i]
	}
	for _, l := range strings.Split(domain, ".") {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
	}
	return true
}
