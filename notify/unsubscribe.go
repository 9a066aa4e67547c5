package notify

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	"github.com/heraldhq/herald/store"
)

// categoryAll, in an unsubscribe token, stops every kind of email; a
// digest, which mixes kinds, carries it.
const categoryAll = "all"

// unsubscribePath is Portal's public page an unsubscribe link lands on. It
// also takes the RFC 8058 one-click POST.
const unsubscribePath = "/unsubscribe"

// unsubKey derives the key that signs unsubscribe tokens from the
// deployment's secret, so it is never the secret itself and never the key
// of another purpose.
func unsubKey(secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, nil
	}
	return hkdf.Key(sha256.New, secret, nil, "herald notify: unsubscribe tokens", 32)
}

var b64 = base64.RawURLEncoding

// unsubToken signs (tenant, user, category). It does not expire: a link in
// an old email must still work, and all it can do is stop emails.
func (s *Service) unsubToken(tenantID, userID, category string) string {
	if s.unsubKey == nil {
		return ""
	}
	payload := strings.Join([]string{"v1", tenantID, userID, category}, "\x00")
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(s.sign(payload))
}

func (s *Service) sign(payload string) []byte {
	m := hmac.New(sha256.New, s.unsubKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// unsubURL is the link for a recipient's emails of one category; empty
// when tokens cannot be signed.
func (s *Service) unsubURL(tenantID, userID, category string) string {
	t := s.unsubToken(tenantID, userID, category)
	if t == "" {
		return ""
	}
	return s.cfg.BaseURL + unsubscribePath + "?token=" + url.QueryEscape(t)
}

// openToken checks a token's signature and returns what it names.
func (s *Service) openToken(token string) (tenantID, userID, category string, ok bool) {
	if s.unsubKey == nil || len(token) > 2048 {
		return "", "", "", false
	}
	p, sig, found := strings.Cut(token, ".")
	if !found {
		return "", "", "", false
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.sign(string(payload))) {
		return "", "", "", false
	}
	parts := strings.Split(string(payload), "\x00")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	if _, known := defaultChannels[parts[3]]; !known && parts[3] != categoryAll {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[3], true
}

// Unsubscribe turns email off for the token's user and category, keeping
// in-app notifications as they were. It is idempotent: a token used again,
// or a one-click client and a person both following the link, leave the
// same state.
func (s *Service) Unsubscribe(ctx context.Context, req *notificationv1.UnsubscribeRequest) (*notificationv1.UnsubscribeResponse, error) {
	if req.GetToken() == "" {
		return nil, errs.Fields{"token": "is required"}.Err()
	}
	tenantID, userID, category, ok := s.openToken(req.GetToken())
	if !ok {
		return nil, errs.Fields{"token": "is not a valid unsubscribe link"}.Err()
	}
	kinds := []string{category}
	if category == categoryAll {
		kinds = prefKinds
	}
	now := store.ToMicros(s.now())
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, k := range kinds {
			c, err := channelOf(ctx, tx, tenantID, userID, k)
			if err != nil {
				return err
			}
			if err := setChannel(ctx, tx, tenantID, userID, k, withoutEmail(c), now); err != nil {
				return err
			}
		}
		// What waits for a digest of these kinds is not sent either.
		q := `UPDATE notify_emails SET status = ? WHERE tenant_id = ? AND user_id = ? AND status = ?`
		args := []any{statusUnsubscribed, tenantID, userID, statusHeld}
		if category != categoryAll {
			q += ` AND category = ?`
			args = append(args, category)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("notify: dropping held emails: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("notify: unsubscribed", "tenant_id", tenantID, "user_id", userID, "category", category)
	return &notificationv1.UnsubscribeResponse{TenantId: tenantID, UserId: userID, Category: category}, nil
}
