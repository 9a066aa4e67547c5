package portal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id, stored as a PHC string
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" so every hash carries the
// parameters it was made with and the defaults can be raised later.

const (
	argonSaltLen = 16
	argonKeyLen  = 32
	// maxPasswordBytes stops a megabyte "password" from costing a megabyte
	// of hashing input; it is far beyond any real passphrase.
	maxPasswordBytes = 1024
	minPasswordRunes = 10
)

type hasher struct {
	time, memory uint32
	threads      uint8
	// sem bounds concurrent hashes: each one takes memory KiB.
	sem chan struct{}
	// dummy is verified against when a login names no user, so the answer
	// takes as long as for a real user and does not reveal which emails exist.
	dummy string
}

func newHasher(c Config) *hasher {
	h := &hasher{time: c.Argon2Time, memory: c.Argon2MemoryKiB, threads: c.Argon2Threads,
		sem: make(chan struct{}, c.MaxConcurrentHashes)}
	h.dummy, _ = h.hash(context.Background(), rand.Text())
	return h
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.sem }()
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, h.time, h.memory, h.threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("portal: malformed password hash")

// verify reports whether password matches the PHC string encoded.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil || time == 0 || threads == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.sem }()
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// checkPassword says what is wrong with a new password, or "".
func checkPassword(pw string) string {
	switch {
	case len([]rune(pw)) < minPasswordRunes:
		return fmt.Sprintf("must be at least %d characters", minPasswordRunes)
	case len(pw) > maxPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes", maxPasswordBytes)
	}
	return ""
}

// Random secrets (session ids, API tokens, invite tokens, OAuth states) are
// 32 random bytes shown to their holder once; only their SHA-256 is stored,
// so a leaked database holds nothing that can be replayed.

func newSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// keys holds the subkeys derived from Config.SecretKey, one per purpose, so
// no key is used for two things.
type keys struct {
	aead cipher.AEAD
	csrf []byte
}

func deriveKeys(secret []byte) (*keys, error) {
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "herald portal: token encryption", 32)
	if err != nil {
		return nil, err
	}
	csrfKey, err := hkdf.Key(sha256.New, secret, nil, "herald portal: csrf tokens", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keys{aead: aead, csrf: csrfKey}, nil
}

// sealVersion prefixes sealed values so the format (or key) can change later.
const sealVersion byte = 1

// seal encrypts plaintext; aad binds the ciphertext to the row it belongs
// to, so a ciphertext copied to another row does not open.
func (k *keys) seal(plaintext, aad string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, []byte(plaintext), []byte(aad))
}

func (k *keys) open(sealed []byte, aad string) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return "", errors.New("portal: sealed value has an unknown format")
	}
	pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("portal: opening sealed value: %w", err)
	}
	return string(pt), nil
}

// csrfToken is the synchronizer token of a session: a MAC of the session's
// stored hash, so it needs no storage, changes with every new session and
// cannot be computed without the key.
func (k *keys) csrfToken(sessionHash string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(sessionHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *keys) checkCSRF(sessionHash, token string) bool {
	want := k.csrfToken(sessionHash)
	return token != "" && hmac.Equal([]byte(want), []byte(token))
}
