package threads

import "github.com/rivo/uniseg"

// Count is a text's length as Threads measures it against its 500
// limit: one per character (grapheme cluster), except that an emoji counts
// as many as its UTF-8 bytes, as Threads documents ("emojis are counted as
// the number of UTF-8 bytes"): 👍 is 4, 🇫🇷 is 8.
func Count(text string) int {
	n := 0
	g := uniseg.NewGraphemes(text)
	for g.Next() {
		cluster := g.Str()
		if isEmoji(cluster) {
			n += len(cluster)
		} else {
			n++
		}
	}
	return n
}

// isEmoji tells an emoji cluster by its code points: the pictographic
// blocks, the symbol blocks that hold emoji, keycaps, and anything asking
// for emoji presentation (U+FE0F). Go's unicode tables lack the
// Extended_Pictographic property, so this is by block, which covers every
// emoji in current use.
func isEmoji(cluster string) bool {
	for _, r := range cluster {
		switch {
		case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, flags, transport, supplemental
			r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
			r >= 0x2300 && r <= 0x23FF, // technical (⌚, ⏰)
			r >= 0x2B00 && r <= 0x2BFF, // arrows and stars (⭐, ⬛)
			r == 0xFE0F, r == 0x20E3,   // emoji presentation, keycap
			r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
			return true
		}
	}
	return false
}
