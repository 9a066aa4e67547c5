// Package xtext counts a post's length the way X does: twitter-text's
// "weighted length" with its version 3 configuration, the one X applies to
// every post.
//
// The text is first normalised to NFC. Each URL counts 23 whatever its
// length (X shortens them all to t.co links). Each emoji, however many
// code points it is made of (skin tones, ZWJ families, flags, keycaps),
// counts 2. Every other code point counts 1 when it lies in the "light"
// ranges (U+0000–U+10FF: Latin, Greek, Cyrillic, Hebrew, Arabic, Indic
// scripts...; U+2000–U+200D, U+2010–U+201F, U+2032–U+2037: spaces, dashes,
// quotes, primes) and 2 otherwise (CJK, most symbols, supplementary
// planes). A post may weigh up to 280.
//
// URL detection follows twitter-text's rules closely but not exactly: an
// http(s) URL is recognised anywhere; a bare domain ("example.com",
// "foo.co.jp") only when its top-level domain is a common generic one or a
// country code, and no label is longer than 63 characters. Emoji are
// recognised by Unicode block and emoji presentation rather than by
// twitter-text's generated emoji table, which can differ on the rarest
// symbols.
package xtext
