// Package mediaurl signs short-lived public URLs to media in Herald's blob
// store, for networks that fetch a post's media from a URL instead of
// taking an upload (Instagram and Threads containers, signed-webhook
// receivers). Portal serves the URLs (GET /media/public/{key}); every node
// derives the same signing key from the installation's secret key, so a
// URL signed by a Publisher node is served by any Portal node.
//
// A URL names one blob and an expiry and carries an HMAC-SHA256 of both;
// nothing else can be fetched with it, and not after it expires.
package mediaurl

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Path is where Portal serves signed media, below the base URL.
const Path = "/media/public/"

// DefaultTTL is how long a signed URL works: long enough for a network to
// fetch the media while it processes a post (Instagram keeps a container
// for a day but fetches at once), short enough to be useless later.
const DefaultTTL = time.Hour

// ErrInvalid is a URL whose signature does not match; ErrExpired one past
// its expiry.
var (
	ErrInvalid = errors.New("mediaurl: the signature does not match")
	ErrExpired = errors.New("mediaurl: the link has expired")
)

// Signer signs and checks media URLs.
type Signer struct {
	base string
	key  []byte
	now  func() time.Time
}

// New returns a Signer for URLs under baseURL (Herald's public address),
// with a key derived from secret (the installation's secret key).
func New(baseURL string, secret []byte) (*Signer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "herald media url v1", 32)
	if err != nil {
		return nil, err
	}
	return &Signer{base: strings.TrimSuffix(baseURL, "/"), key: key, now: time.Now}, nil
}

// WithClock sets the signer's clock (tests).
func (s *Signer) WithClock(now func() time.Time) *Signer {
	c := *s
	c.now = now
	return &c
}

func (s *Signer) mac(blobKey string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(blobKey))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// URL is a public URL to blobKey that works for ttl.
func (s *Signer) URL(blobKey string, ttl time.Duration) string {
	exp := s.now().Add(ttl).Unix()
	q := url.Values{"exp": {strconv.FormatInt(exp, 10)}, "sig": {s.mac(blobKey, exp)}}
	return s.base + Path + escapeKey(blobKey) + "?" + q.Encode()
}

// Verify checks a request for blobKey with the query's exp and sig.
func (s *Signer) Verify(blobKey, exp, sig string) error {
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.mac(blobKey, e))) {
		return ErrInvalid
	}
	if s.now().Unix() > e {
		return ErrExpired
	}
	return nil
}

// escapeKey escapes each segment of a blob key ("media/ws_1/abc.jpg").
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
