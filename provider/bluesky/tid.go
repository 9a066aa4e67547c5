package bluesky

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// tidAlphabet is the base32-sortable alphabet of AT Protocol TIDs.
const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// tidEpoch and tidSpan bound the timestamps of derived record keys: a TID
// is microseconds since 1970 in its top 53 bits, and a derived one takes
// 45 bits of a hash (about 13 months) after 2023-01-01, so it is always a
// plausible time in the past, never one in the future that a relay might
// distrust. With the 10-bit clock id that leaves 55 bits of hash per key.
var tidEpoch = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

const tidSpan = 45

// RecordKey is the record key Publish uses for a post with the idempotency
// key key: a TID (13 base32-sortable characters, as app.bsky.feed.post
// requires) that depends only on key, so each try of one attempt writes
// the same record and Lookup finds it again.
func RecordKey(key string) string {
	sum := sha256.Sum256([]byte("herald bluesky rkey\n" + key))
	h := binary.BigEndian.Uint64(sum[:8])
	micros := uint64(tidEpoch) + h>>(64-tidSpan)
	clock := h & 0x3ff
	return encodeTID(micros<<10 | clock)
}

// encodeTID writes a 63-bit TID value as 13 characters, most significant
// first, so keys sort as their values do.
func encodeTID(v uint64) string {
	v &^= 1 << 63
	var b [13]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = tidAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// validTID reports whether s has the syntax of a TID.
func validTID(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := (c >= '2' && c <= '7') || (c >= 'a' && c <= 'z')
		if i == 0 {
			ok = (c >= '2' && c <= '7') || (c >= 'a' && c <= 'j') // top bit zero
		}
		if !ok {
			return false
		}
	}
	return true
}
