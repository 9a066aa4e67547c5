// Package validate holds the content checks the chat and webhook providers
// share: text length in the unit a network counts, and attachments against
// a provider.Limits. Each provider decides which unit and limits apply and
// adds its own rules.
package validate

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/provider"
)

// UTF16Len is s's length in UTF-16 code units, the unit of JavaScript
// strings, of Telegram's message entities and of Discord's content limit:
// an emoji outside the Basic Multilingual Plane counts 2.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		// Ranging over a string turns invalid bytes into U+FFFD, one unit.
		n += utf16.RuneLen(r)
	}
	return n
}

// Graphemes is s's length in user-perceived characters.
func Graphemes(s string) int { return uniseg.GraphemeClusterCount(s) }

// MediaType is m's MIME type without parameters, lower-cased.
func MediaType(m provider.Media) string {
	return strings.ToLower(strings.TrimSpace(strings.Split(m.MimeType, ";")[0]))
}

// Media checks attachments against l for network ("Telegram"): how many,
// which types, how large, how long a description (counted with count;
// a network that takes none, MaxAltTextChars 0, just leaves it out).
// Violations name "media" or "media[i]".
func Media(l provider.Limits, network string, media []provider.Media, count func(string) int) []provider.Violation {
	var out []provider.Violation
	if len(media) == 0 {
		return nil
	}
	if l.MaxMedia == 0 {
		return []provider.Violation{{Field: "media", Message: network + " takes no attachments from Herald"}}
	}
	if len(media) > l.MaxMedia {
		out = append(out, provider.Violation{Field: "media", Message: fmt.Sprintf("has %d attachments; %s allows %d", len(media), network, l.MaxMedia)})
	}
	for i, m := range media {
		field := fmt.Sprintf("media[%d]", i)
		mt := MediaType(m)
		image, video := slices.Contains(l.ImageTypes, mt), slices.Contains(l.VideoTypes, mt)
		limit := l.MaxImageBytes
		if video {
			limit = l.MaxVideoBytes
		}
		switch {
		case !image && !video:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is of type %q; %s accepts %s", m.MimeType, network, strings.Join(slices.Concat(l.ImageTypes, l.VideoTypes), ", "))})
		case m.Size <= 0:
			out = append(out, provider.Violation{Field: field, Message: "is empty"})
		case limit > 0 && m.Size > limit:
			out = append(out, provider.Violation{Field: field, Message: fmt.Sprintf("is %s; %s allows up to %s", Megabytes(m.Size), network, Megabytes(limit))})
		case l.MaxAltTextChars > 0 && count(m.Description) > l.MaxAltTextChars:
			out = append(out, provider.Violation{Field: field + ".description", Message: fmt.Sprintf("is longer than %d characters", l.MaxAltTextChars)})
		}
	}
	return out
}

// Megabytes writes n bytes as "1.5 MB" (mebibytes, as the networks count).
func Megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
