package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/provider/webhook"
)

// A receiver checks the signature before anything else, then dedupes on
// Herald-Webhook-Id, since a delivery whose answer was lost comes again.
func ExampleVerify() {
	secret := "whsec_example-secret-of-the-receiver"
	var mu sync.Mutex
	seen := map[string]bool{}
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(r.Header, body, time.Now(), 0, secret); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		repeat := seen[r.Header.Get(webhook.HeaderID)]
		seen[r.Header.Get(webhook.HeaderID)] = true
		mu.Unlock()
		if !repeat {
			fmt.Println("new event", r.Header.Get(webhook.HeaderID))
		}
		w.WriteHeader(http.StatusNoContent)
	})

	send := func(id, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		ts := time.Now().Unix()
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, []byte(body)))
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		return rec.Code
	}
	fmt.Println(send("att_1", `{"id":"att_1"}`))
	fmt.Println(send("att_1", `{"id":"att_1"}`))
	// Output:
	// new event att_1
	// 204
	// 204
}
