package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider/webhook"
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	// HMAC-SHA256("secret", "1700000000.{}"), computed independently:
	//   printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
	got := webhook.Sign("secret", 1700000000, []byte("{}"))
	if !strings.HasPrefix(got, "v1=") || len(got) != 3+64 {
		t.Fatalf("Sign = %q", got)
	}
	if got != "v1="+opensslVector {
		t.Errorf("Sign = %s; want v1=%s", got, opensslVector)
	}
}

func headers(sig string, ts int64) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"att_1"}`)
	ts := now.Unix()
	rotating := webhook.SignatureHeader([]string{"new-secret-000000", "old-secret-000000"}, ts, body)
	cases := []struct {
		name    string
		h       http.Header
		body    []byte
		secrets []string
		want    error
	}{
		{"one secret", headers(webhook.Sign("s3cret-s3cret-s3", ts, body), ts), body, []string{"s3cret-s3cret-s3"}, nil},
		{"receiver still on the old secret", headers(rotating, ts), body, []string{"old-secret-000000"}, nil},
		{"receiver already on the new secret", headers(rotating, ts), body, []string{"new-secret-000000"}, nil},
		{"other schemes ignored", headers("v0=abc, "+webhook.Sign("k-k-k-k-k-k-k-k-k", ts, body), ts), body, []string{"k-k-k-k-k-k-k-k-k"}, nil},
		{"wrong secret", headers(webhook.Sign("a-a-a-a-a-a-a-a-a", ts, body), ts), body, []string{"b-b-b-b-b-b-b-b-b"}, webhook.ErrSignature},
		{"body changed", headers(webhook.Sign("k-k-k-k-k-k-k-k-k", ts, body), ts), []byte(`{"id":"att_2"}`), []string{"k-k-k-k-k-k-k-k-k"}, webhook.ErrSignature},
		{"timestamp changed", headers(webhook.Sign("k-k-k-k-k-k-k-k-k", ts, body), ts+1), body, []string{"k-k-k-k-k-k-k-k-k"}, webhook.ErrSignature},
		{"too old", headers(webhook.Sign("k-k-k-k-k-k-k-k-k", ts-301, body), ts-301), body, []string{"k-k-k-k-k-k-k-k-k"}, webhook.ErrTimestamp},
		{"no signature", headers("", ts), body, []string{"k"}, webhook.ErrNoSignature},
		{"no timestamp", http.Header{webhook.HeaderSignature: {webhook.Sign("k", ts, body)}}, body, []string{"k"}, webhook.ErrTimestamp},
	}
	for _, c := range cases {
		if err := webhook.Verify(c.h, c.body, now, 0, c.secrets...); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: Verify = %v; want %v", c.name, err, c.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") || len(a) < 40 {
		t.Errorf("NewSecret = %q, %q", a, b)
	}
}

const opensslVector = "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
