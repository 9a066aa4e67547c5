package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	// HeaderID is the event's id, the same on every try of one publish
	// attempt: receivers dedupe on it.
	HeaderID = "Herald-Webhook-Id"
	// HeaderTimestamp is when the delivery was signed, in Unix seconds.
	HeaderTimestamp = "Herald-Webhook-Timestamp"
	// HeaderSignature holds one or more "v1=<hex>" signatures, separated
	// by commas: one per signing secret in force while secrets rotate.
	HeaderSignature = "Herald-Signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Verify's errors.
var (
	ErrNoSignature = errors.New("webhook: no v1 signature")
	ErrTimestamp   = errors.New("webhook: timestamp missing, malformed or outside the tolerance")
	ErrSignature   = errors.New("webhook: no signature matches")
)

// Sign returns the v1 signature of a delivery: "v1=" and the hex
// HMAC-SHA256, keyed with secret, of the timestamp (Unix seconds, in
// decimal), a full stop, and the body exactly as sent.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader is the Herald-Signature value for a delivery signed with
// each of secrets (the new one and the old one while they rotate).
func SignatureHeader(secrets []string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sigs = append(sigs, Sign(s, timestamp, body))
	}
	return strings.Join(sigs, ",")
}

// Verify checks a delivery's headers against its body, as a receiver
// should before acting on it: the timestamp must be within tolerance of now
// (0 means DefaultTolerance), and one of the header's v1 signatures must be
// that of one of secrets. It compares in constant time.
func Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration, secrets ...string) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(h.Get(HeaderTimestamp)), 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	var given [][]byte
	for _, part := range strings.Split(h.Get(HeaderSignature), ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue // other schemes, for receivers that know them
		}
		if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
			given = append(given, b)
		}
	}
	if len(given) == 0 {
		return ErrNoSignature
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		want, _ := hex.DecodeString(strings.TrimPrefix(Sign(s, ts, body), "v1="))
		for _, g := range given {
			if hmac.Equal(g, want) {
				return nil
			}
		}
	}
	return ErrSignature
}

// NewSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64url.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// secrets splits an Account.Secret that holds several secrets while they
// rotate ("new,old", or separated by spaces).
func secrets(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}
