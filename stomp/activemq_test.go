package stomp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/stomp"
)

// brokerAddr is the real ActiveMQ's STOMP address; the test is skipped (or
// fails in CI) when nothing answers there.
func brokerAddr(t *testing.T) string {
	return brokertest.Server(t, "HERALD_TEST_STOMP_ADDR", "127.0.0.1:61613")
}

// testQueue returns a queue name unique to this run, under a prefix that
// tells what left it on a shared broker.
func testQueue() string {
	return "/queue/herald_test.stomp." + strings.ToLower(rand.Text()[:12])
}

// The client against the real ActiveMQ: a persistent SEND confirmed by its
// receipt, headers and a binary body carried exactly, client-individual
// acknowledgement with prefetch, a transaction that moves a message, and
// Ping.
func TestActiveMQ(t *testing.T) {
	t.Parallel()
	addr := brokerAddr(t)
	c := connect(t, addr, stomp.Options{})
	if s := c.Server(); !strings.HasPrefix(s, "ActiveMQ/") {
		t.Errorf("Server() = %q, want ActiveMQ/...", s)
	}
	q := testQueue()
	sub := subscribe(t, c, q, stomp.AckClientIndividual, "activemq.prefetchSize", "1")

	body := []byte("a\x00b\x00\xff\n:")
	h := stomp.NewFrame("X", "persistent", "true", "herald-odd:name", "line\nbreak:colon\\backslash").Header
	for range 2 {
		if err := c.Send(t.Context(), q, body, h); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	m := next(t, sub)
	if !bytes.Equal(m.Body, body) {
		t.Errorf("Body = %q, want %q", m.Body, body)
	}
	if got := m.Header.Get("herald-odd:name"); got != "line\nbreak:colon\\backslash" {
		t.Errorf("escaped header came back as %q", got)
	}
	if m.Header.Get("persistent") != "true" || m.Redelivered() {
		t.Errorf("headers %q: want persistent, not redelivered", m.Header.String())
	}
	// Prefetch 1: the second waits for the first's ACK.
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	if extra, err := sub.Next(short); err == nil {
		t.Errorf("got a second message (%q) beyond the prefetch of 1", extra.Header.Get("message-id"))
	}
	cancel()
	if err := c.Ack(t.Context(), m); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	second := next(t, sub)

	// Move the second to the back of the queue as a copy, atomically.
	tx, err := c.Begin(t.Context())
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if err := tx.Send(t.Context(), q, []byte("copy"), stomp.NewFrame("X", "persistent", "true").Header); err != nil {
		t.Fatalf("tx.Send: %v", err)
	}
	if err := tx.Ack(t.Context(), second); err != nil {
		t.Fatalf("tx.Ack: %v", err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	cp := next(t, sub)
	if string(cp.Body) != "copy" {
		t.Fatalf("after the transaction got %q, want the copy", cp.Body)
	}
	if err := c.Ack(t.Context(), cp); err != nil {
		t.Fatalf("Ack: %v", err)
	}

	// ActiveMQ answers a frame about an unknown transaction with an ERROR
	// that names the receipt, and keeps the connection.
	err = tx.Commit(t.Context())
	var se *stomp.ServerError
	if !errors.As(err, &se) || se.ReceiptID == "" {
		t.Fatalf("second Commit = %v, want a *ServerError about its receipt", err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
}

// A message not acknowledged when its subscriber leaves goes back to the
// queue, marked redelivered.
func TestActiveMQUnackedComesBack(t *testing.T) {
	t.Parallel()
	addr := brokerAddr(t)
	q := testQueue()
	first := connect(t, addr, stomp.Options{})
	sub := subscribe(t, first, q, stomp.AckClientIndividual)
	send(t, first, q, "keep me", "persistent", "true")
	m := next(t, sub)
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	second := connect(t, addr, stomp.Options{})
	again := next(t, subscribe(t, second, q, stomp.AckClientIndividual))
	if string(again.Body) != "keep me" || !again.Redelivered() {
		t.Fatalf("got %q redelivered=%v, want the same message, redelivered", again.Body, again.Redelivered())
	}
	if again.Header.Get("message-id") != m.Header.Get("message-id") {
		t.Errorf("message-id %q, want %q", again.Header.Get("message-id"), m.Header.Get("message-id"))
	}
	if err := second.Ack(t.Context(), again); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}
