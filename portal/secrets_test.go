package portal

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	h := newHasher(DefaultConfig())
	ctx := context.Background()
	enc, err := h.hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the configured parameters", enc)
	}
	again, _ := h.hash(ctx, "correct horse battery")
	if again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		name, encoded, password string
		ok                      bool
		bad                     bool
	}{
		{"right", enc, "correct horse battery", true, false},
		{"wrong", enc, "correct horse batterY", false, false},
		{"other params still verify", mustHash(t, &hasher{time: 1, memory: 64, threads: 1, sem: make(chan struct{}, 1)}, "pw-1234567"), "pw-1234567", true, false},
		{"not argon2id", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "x", false, true},
		{"garbage", "plaintext", "plaintext", false, true},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA", "x", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.verify(ctx, tt.encoded, tt.password)
			if ok != tt.ok || (err != nil) != tt.bad {
				t.Fatalf("verify = %v, %v; want %v, error %v", ok, err, tt.ok, tt.bad)
			}
		})
	}
}

func mustHash(t *testing.T, h *hasher, pw string) string {
	t.Helper()
	s, err := h.hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for pw, ok := range map[string]bool{
		"":                        false,
		"123456789":               false,
		"1234567890":              true,
		"ééééééééé":               false, // 9 runes, 18 bytes
		"éééééééééé":              true,
		strings.Repeat("a", 1025): false,
		strings.Repeat("a", 1024): true,
	} {
		if got := checkPassword(pw) == ""; got != ok {
			t.Errorf("checkPassword(%.12q...) ok = %v, want %v", pw, got, ok)
		}
	}
}

func TestSealing(t *testing.T) {
	t.Parallel()
	k, err := deriveKeys(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := k.seal("token", "row-1")
	if bytes.Contains(sealed, []byte("token")) {
		t.Fatal("sealed value holds the plaintext")
	}
	if got, err := k.open(sealed, "row-1"); err != nil || got != "token" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := k.open(sealed, "row-2"); err == nil {
		t.Fatal("a ciphertext opened for another row")
	}
	other, _ := deriveKeys(bytes.Repeat([]byte{2}, 32))
	if _, err := other.open(sealed, "row-1"); err == nil {
		t.Fatal("a ciphertext opened with another key")
	}
	tampered := append([]byte{}, sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.open(tampered, "row-1"); err == nil {
		t.Fatal("a tampered ciphertext opened")
	}
	if bytes.Equal(k.seal("token", "row-1"), sealed) {
		t.Fatal("sealing twice gave the same bytes: nonce reused")
	}

	if k.csrfToken("a") == k.csrfToken("b") || !k.checkCSRF("a", k.csrfToken("a")) || k.checkCSRF("a", "") || k.checkCSRF("b", k.csrfToken("a")) {
		t.Fatal("CSRF tokens are not bound to their session")
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(0.001, 2)
	for i := range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, after := l.allow("a")
	if ok || after <= 0 {
		t.Fatalf("third request: ok=%v after=%v", ok, after)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key was limited")
	}
	// Idle keys are swept once the map is large; busy ones stay.
	fast := newLimiter(1e6, 1)
	for i := range minSweep + 10 {
		fast.allow(strings.Repeat("k", 1+i%50) + time.Duration(i).String())
	}
	if n := len(fast.buckets); n > minSweep {
		t.Fatalf("%d buckets kept, want idle ones swept", n)
	}
}

func TestConfigChecks(t *testing.T) {
	t.Parallel()
	good := testConfig()
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"short key", func(c *Config) { c.SecretKey = []byte("short") }},
		{"no base URL", func(c *Config) { c.BaseURL = "" }},
		{"base URL with path", func(c *Config) { c.BaseURL = "https://x.test/app?x=1" }},
		{"base URL without scheme", func(c *Config) { c.BaseURL = "x.test" }},
		{"no session TTL", func(c *Config) { c.SessionTTL = 0 }},
		{"no upload size", func(c *Config) { c.MaxUploadBytes = 0 }},
		{"no login rate", func(c *Config) { c.LoginRate = 0 }},
		{"tiny argon2", func(c *Config) { c.Argon2MemoryKiB = 1 }},
	}
	if err := good.check(); err != nil {
		t.Fatalf("test config refused: %v", err)
	}
	for _, tt := range tests {
		c := testConfig()
		tt.mutate(&c)
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
