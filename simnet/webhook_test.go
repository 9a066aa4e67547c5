package simnet

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/provider/webhook"
)

func TestWebhookReceiver(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	r, err := http.Post(ts.URL+"/_simnet/webhook/accounts", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var acct struct{ ID, Secret, URL string }
	if err := json.NewDecoder(r.Body).Decode(&acct); err != nil || acct.Secret == "" {
		t.Fatalf("account %+v, %v", acct, err)
	}
	r.Body.Close()

	deliver := func(id, secret string) int {
		body, _ := json.Marshal(webhook.Event{ID: id, Type: webhook.TypePublished, Text: "hi"})
		req, _ := http.NewRequest(http.MethodPost, acct.URL, bytes.NewReader(body))
		ts := now.Unix()
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := deliver("e1", acct.Secret); code != 200 {
		t.Errorf("signed: %d", code)
	}
	if code := deliver("e1", acct.Secret); code != 200 {
		t.Errorf("repeat: %d", code)
	}
	if code := deliver("e2", "not-the-secret-at-all"); code != 401 {
		t.Errorf("wrong secret: %d; want 401", code)
	}
	if all := s.WebhookDeliveries(); len(all) != 1 || all[0].Repeats != 1 {
		t.Errorf("deliveries = %+v; want one, repeated once", all)
	}
	s.RemoveWebhookReceiver(acct.ID)
	if code := deliver("e3", acct.Secret); code != 410 {
		t.Errorf("removed: %d; want 410", code)
	}
}
