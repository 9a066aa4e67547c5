package stomp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/stomp"
	"github.com/heraldhq/herald/stomp/stomptest"
)

// wait bounds every wait for something asynchronous. Generous: the tests
// check what happens, not how fast.
const wait = 10 * time.Second

// fast makes reconnections quick in tests.
var fast = stomp.Options{ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}

func connect(t *testing.T, addr string, opts stomp.Options) *stomp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, err := stomp.Connect(ctx, addr, opts)
	if err != nil {
		t.Fatalf("Connect(%s): %v", addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func next(t *testing.T, s *stomp.Subscription) *stomp.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next on %s: %v", s.Destination(), err)
	}
	return m
}

func subscribe(t *testing.T, c *stomp.Client, dest string, ack stomp.AckMode, pairs ...string) *stomp.Subscription {
	t.Helper()
	s, err := c.Subscribe(t.Context(), dest, ack, stomp.NewFrame("X", pairs...).Header)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", dest, err)
	}
	return s
}

func send(t *testing.T, c *stomp.Client, dest, body string, pairs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := c.Send(ctx, dest, []byte(body), stomp.NewFrame("X", pairs...).Header); err != nil {
		t.Fatalf("Send to %s: %v", dest, err)
	}
}

// The CONNECT frame carries what STOMP 1.2 asks for, and the credentials
// only when given.
func TestConnectFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts stomp.Options
		want map[string]string // "" value: must be absent
	}{
		{"defaults", stomp.Options{}, map[string]string{
			"accept-version": "1.2", "host": "127.0.0.1", "heart-beat": "10000,10000", "login": "", "passcode": "",
		}},
		{"credentials, host and heart-beat", stomp.Options{Login: "herald", Passcode: "s3cret", Host: "vhost", HeartBeat: 2500 * time.Millisecond},
			map[string]string{"host": "vhost", "login": "herald", "passcode": "s3cret", "heart-beat": "2500,2500"}},
		{"heart-beats off", stomp.Options{HeartBeat: -1}, map[string]string{"heart-beat": "0,0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := stomptest.NewServer(t, stomptest.Options{Login: tt.opts.Login, Passcode: tt.opts.Passcode})
			c := connect(t, srv.Addr(), tt.opts)
			if got := c.Server(); got != "stomptest/1" {
				t.Errorf("Server() = %q, want the CONNECTED server header", got)
			}
			f := srv.Received(stomp.CmdConnect)[0]
			for name, want := range tt.want {
				got, ok := f.Header.Lookup(name)
				if want == "" && ok {
					t.Errorf("CONNECT has %s:%q, want none", name, got)
				}
				if want != "" && got != want {
					t.Errorf("CONNECT %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// The first connection fails fast, with the cause.
func TestConnectFails(t *testing.T) {
	t.Parallel()
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	scripted := func(reply string) func(t *testing.T) string {
		return func(t *testing.T) string {
			return stomptest.NewServer(t, stomptest.Options{Handle: func(c *stomptest.Conn) {
				if _, err := c.Read(); err == nil && reply != "" {
					c.WriteRaw([]byte(reply))
				}
				c.Read() // hold the connection until the client gives up
			}}).Addr()
		}
	}
	tests := []struct {
		name string
		addr func(t *testing.T) string
		opts stomp.Options
		want string
		is   error
	}{
		{"nothing listens", closedPort, stomp.Options{}, "connection refused", nil},
		{"wrong credentials", func(t *testing.T) string {
			return stomptest.NewServer(t, stomptest.Options{Login: "herald", Passcode: "right"}).Addr()
		}, stomp.Options{Login: "herald", Passcode: "wrong"}, "User name [herald] or password is invalid.", nil},
		{"a STOMP 1.0 server", func(t *testing.T) string {
			return stomptest.NewServer(t, stomptest.Options{Version: "-"}).Addr()
		}, stomp.Options{}, "server speaks STOMP 1.0; this client needs 1.2", nil},
		{"a STOMP 1.1 server", scripted("CONNECTED\nversion:1.1\n\n\x00"), stomp.Options{}, "server speaks STOMP 1.1", nil},
		{"not a STOMP server", scripted("HTTP/1.1 400 Bad Request\r\n\r\n"), stomp.Options{}, "", stomp.ErrProtocol},
		{"answers with another frame", scripted("MESSAGE\n\n\x00"), stomp.Options{}, "answered CONNECT with MESSAGE", nil},
		{"bad heart-beat header", scripted("CONNECTED\nversion:1.2\nheart-beat:soon\n\n\x00"), stomp.Options{}, "bad heart-beat", nil},
		{"never answers", scripted(""), stomp.Options{ConnectTimeout: 200 * time.Millisecond}, "", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := tt.addr(t)
			start := time.Now()
			c, err := stomp.Connect(t.Context(), addr, tt.opts)
			if err == nil {
				c.Close(t.Context())
				t.Fatal("Connect succeeded")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q shows the passcode", err)
			}
			if d := time.Since(start); d > wait {
				t.Errorf("Connect took %v to fail", d)
			}
		})
	}
}

// Send returns only once the RECEIPT arrived; an ERROR about the SEND
// fails it.
func TestSendWaitsForReceipt(t *testing.T) {
	t.Parallel()
	got := make(chan *stomp.Frame)
	answer := make(chan string)
	srv := stomptest.NewServer(t, stomptest.Options{Handle: func(c *stomptest.Conn) {
		if _, err := c.Read(); err != nil {
			return
		}
		c.Write(stomp.NewFrame(stomp.CmdConnected, "version", "1.2"))
		for {
			f, err := c.Read()
			if err != nil || f.Command == stomp.CmdDisconnect {
				return
			}
			got <- f
			switch <-answer {
			case "receipt":
				c.Write(stomp.NewFrame(stomp.CmdReceipt, "receipt-id", f.Header.Get("receipt")))
			case "error":
				c.Write(stomp.NewFrame(stomp.CmdError, "receipt-id", f.Header.Get("receipt"), "message", "queue full"))
			}
		}
	}})
	c := connect(t, srv.Addr(), fast)

	for _, tt := range []struct {
		answer string
		want   string // "" for success
	}{{"receipt", ""}, {"error", "queue full"}, {"receipt", ""}} {
		done := make(chan error, 1)
		go func() { done <- c.Send(t.Context(), "/queue/q", []byte("hi"), stomp.Header{}) }()
		f := <-got
		if f.Command != stomp.CmdSend || f.Header.Get("receipt") == "" || f.Header.Get("destination") != "/queue/q" || string(f.Body) != "hi" {
			t.Fatalf("server got %s %q %q, want a SEND to /queue/q with a receipt", f.Command, headers(f.Header), f.Body)
		}
		select {
		case err := <-done:
			t.Fatalf("Send returned (%v) before the server answered", err)
		case <-time.After(50 * time.Millisecond):
		}
		answer <- tt.answer
		var err error
		select {
		case err = <-done:
		case <-time.After(wait):
			t.Fatal("Send did not return after the server answered")
		}
		var se *stomp.ServerError
		switch {
		case tt.want == "" && err != nil:
			t.Fatalf("Send: %v", err)
		case tt.want != "" && (!errors.As(err, &se) || !strings.Contains(se.Message, tt.want)):
			t.Fatalf("Send = %v, want a *ServerError saying %q", err, tt.want)
		}
	}
	// An ERROR about one receipt leaves the connection up.
	if n := srv.Accepted(); n != 1 {
		t.Errorf("%d connections, want the first one kept", n)
	}
}

// SENDs queued without waiting reach the server in the order they were
// queued, and each receipt is awaited on its own.
func TestSendAsyncKeepsOrder(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	var receipts []*stomp.Receipt
	for i := range 100 {
		r, err := c.SendAsync(t.Context(), "/queue/o", []byte(strconv.Itoa(i)), stomp.Header{})
		if err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
		receipts = append(receipts, r)
	}
	for i, r := range receipts {
		if err := r.Wait(t.Context()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
	for i, f := range srv.Received(stomp.CmdSend) {
		if string(f.Body) != strconv.Itoa(i) {
			t.Fatalf("SEND %d carried %q: out of order", i, f.Body)
		}
	}
}

// Messages reach subscribers of a queue one at a time each, within their
// prefetch; acknowledged ones are gone, and unacknowledged ones go back to
// the queue when the subscriber leaves.
func TestSubscribeAndAck(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	sub := subscribe(t, c, "/queue/work", stomp.AckClientIndividual, "activemq.prefetchSize", "1")
	for _, b := range []string{"one", "two", "three"} {
		send(t, c, "/queue/work", b, "note", "n:"+b)
	}

	if f := srv.Received(stomp.CmdSubscribe)[0]; f.Header.Get("id") != sub.ID() || sub.Destination() != "/queue/work" {
		t.Errorf("subscription %q on %q, SUBSCRIBE id %q", sub.ID(), sub.Destination(), f.Header.Get("id"))
	}
	m := next(t, sub)
	if string(m.Body) != "one" || m.Header.Get("note") != "n:one" || m.Destination != "/queue/work" || m.Subscription() != sub {
		t.Fatalf("first message: %q %q", m.Body, headers(m.Header))
	}
	// Prefetch 1: nothing more until the first is acknowledged.
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if m2, err := sub.Next(short); err == nil {
		t.Fatalf("got %q beyond the prefetch of 1", m2.Body)
	}
	cancel()
	if err := c.Ack(t.Context(), m); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	m = next(t, sub)
	if string(m.Body) != "two" {
		t.Fatalf("second message %q, want two", m.Body)
	}
	// Leaving without acknowledging "two" gives it back.
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if _, err := sub.Next(t.Context()); !errors.Is(err, stomp.ErrUnsubscribed) {
		t.Fatalf("Next after Unsubscribe = %v, want ErrUnsubscribed", err)
	}
	if n := srv.Pending("/queue/work"); n != 2 {
		t.Fatalf("%d messages pending after one ack, want 2", n)
	}
	again := subscribe(t, c, "/queue/work", stomp.AckClientIndividual)
	m = next(t, again)
	if string(m.Body) != "two" || !m.Redelivered() {
		t.Fatalf("after resubscribing: %q redelivered=%v, want two, redelivered", m.Body, m.Redelivered())
	}
	if err := c.Nack(t.Context(), m); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	// Nack does not wait for the server: look for the frame.
	eventually(t, "the NACK to reach the server", func() bool { return len(srv.Received(stomp.CmdNack)) == 1 })
	if f := srv.Received(stomp.CmdNack)[0]; f.Header.Get("id") != m.Header.Get("ack") {
		t.Fatalf("NACK id %q, want the message's ack header %q", f.Header.Get("id"), m.Header.Get("ack"))
	}
	if n := srv.Pending("/queue/work"); n != 1 {
		t.Fatalf("%d messages pending after the NACK, want 1 (the fake drops NACKed ones)", n)
	}
}

// A transaction's SEND and ACK take effect together at Commit, and not at
// all after Abort.
func TestTransaction(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	sub := subscribe(t, c, "/queue/in", stomp.AckClientIndividual)
	send(t, c, "/queue/in", "original")
	m := next(t, sub)

	for _, commit := range []bool{false, true} {
		tx, err := c.Begin(t.Context())
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		if err := tx.Send(t.Context(), "/queue/out", []byte("copy"), stomp.Header{}); err != nil {
			t.Fatalf("tx.Send: %v", err)
		}
		if err := tx.Ack(t.Context(), m); err != nil {
			t.Fatalf("tx.Ack: %v", err)
		}
		if commit {
			err = tx.Commit(t.Context())
		} else {
			err = tx.Abort(t.Context())
		}
		if err != nil {
			t.Fatalf("commit=%v: %v", commit, err)
		}
		in, out := srv.Pending("/queue/in"), srv.Pending("/queue/out")
		if commit && (in != 0 || out != 1) || !commit && (in != 1 || out != 0) {
			t.Fatalf("commit=%v: %d in, %d out", commit, in, out)
		}
	}
}

// When the connection drops, the client reconnects, subscribes again under
// the same id, and messages flow; a message of the lost connection can no
// longer be acknowledged and comes again.
func TestReconnect(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	sub := subscribe(t, c, "/queue/r", stomp.AckClientIndividual, "activemq.prefetchSize", "4")
	send(t, c, "/queue/r", "before")
	old := next(t, sub)

	srv.DropConnections()
	eventually(t, "a new connection", func() bool { return srv.Accepted() == 2 && srv.Connections() == 1 })
	send(t, c, "/queue/r", "after") // waits for the reconnection if need be

	if err := c.Ack(t.Context(), old); !errors.Is(err, stomp.ErrStale) {
		t.Fatalf("Ack of a message of the lost connection = %v, want ErrStale", err)
	}
	got := map[string]bool{}
	for range 2 {
		m := next(t, sub)
		got[string(m.Body)] = true
		if err := c.Ack(t.Context(), m); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if !got["before"] || !got["after"] {
		t.Fatalf("after reconnecting got %v, want before (again) and after", got)
	}
	subs := srv.Received(stomp.CmdSubscribe)
	if len(subs) != 2 {
		t.Fatalf("%d SUBSCRIBE frames, want 2 (one per connection)", len(subs))
	}
	for _, name := range []string{"id", "destination", "ack", "activemq.prefetchSize"} {
		if a, b := subs[0].Header.Get(name), subs[1].Header.Get(name); a != b || a == "" {
			t.Errorf("SUBSCRIBE %s: %q then %q, want the same", name, a, b)
		}
	}
	eventually(t, "nothing pending", func() bool { return srv.Pending("/queue/r") == 0 })
}

// A subscription the server refuses on reconnection ends; the others are
// renewed.
func TestReconnectRefusedSubscription(t *testing.T) {
	t.Parallel()
	var srv *stomptest.Server
	srv = stomptest.NewServer(t, stomptest.Options{Refuse: func(f *stomp.Frame) string {
		if f.Command == stomp.CmdSubscribe && f.Header.Get("destination") == "/queue/forbidden" && srv.Accepted() > 1 {
			return "not authorized to read /queue/forbidden"
		}
		return ""
	}})
	c := connect(t, srv.Addr(), fast)
	forbidden := subscribe(t, c, "/queue/forbidden", stomp.AckAuto)
	ok := subscribe(t, c, "/queue/ok", stomp.AckAuto)

	srv.DropConnections()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if _, err := forbidden.Next(ctx); !errors.Is(err, stomp.ErrUnsubscribed) {
		t.Fatalf("Next on the refused subscription = %v, want ErrUnsubscribed", err)
	}
	// The server closes the connection it refused on, maybe after the
	// client made it current: a Send may be cut short once.
	eventually(t, "a Send to go through", func() bool {
		err := c.Send(t.Context(), "/queue/ok", []byte("still here"), stomp.Header{})
		if err != nil && !errors.Is(err, stomp.ErrConnectionLost) {
			t.Fatalf("Send: %v", err)
		}
		return err == nil
	})
	if m := next(t, ok); string(m.Body) != "still here" {
		t.Fatalf("got %q", m.Body)
	}
}

// While the server is away, Ping says so at once, Send waits until its
// context ends, and both work again once it is back.
func TestServerAway(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	sub := subscribe(t, c, "/queue/a", stomp.AckAuto)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	eventually(t, "Ping to report the server gone", func() bool {
		return errors.Is(c.Ping(t.Context()), stomp.ErrNotConnected)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err := c.Send(ctx, "/queue/a", []byte("x"), stomp.Header{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send while the server is away = %v, want the context's deadline", err)
	}

	srv.Start()
	send(t, c, "/queue/a", "back")
	if m := next(t, sub); string(m.Body) != "back" {
		t.Fatalf("got %q, want back", m.Body)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the server came back: %v", err)
	}
}

// A server that falls silent beyond its heart-beat is taken for gone, and a
// server expecting beats from the client gets them. The periods leave
// hundreds of milliseconds of slack, so a busy machine is no false alarm.
func TestHeartBeats(t *testing.T) {
	t.Parallel()
	t.Run("client beats", func(t *testing.T) {
		t.Parallel()
		// The server drops a client silent for three of its 100 ms periods;
		// the client beats at that period.
		srv := stomptest.NewServer(t, stomptest.Options{HeartBeat: "0,100"})
		c := connect(t, srv.Addr(), stomp.Options{HeartBeat: 20 * time.Millisecond})
		time.Sleep(time.Second) // idle: only heart-beats flow
		if n := srv.Accepted(); n != 1 {
			t.Fatalf("%d connections after an idle second, want 1: the client's heart-beats were missed", n)
		}
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("server silent", func(t *testing.T) {
		t.Parallel()
		// Both beat every 200 ms; the client gives up after 400 ms of
		// silence.
		srv := stomptest.NewServer(t, stomptest.Options{HeartBeat: "200,0"})
		c := connect(t, srv.Addr(), stomp.Options{HeartBeat: 200 * time.Millisecond, ReconnectMin: 10 * time.Millisecond})
		time.Sleep(time.Second)
		if n := srv.Accepted(); n != 1 {
			t.Fatalf("%d connections while the server beat, want 1", n)
		}
		srv.Silence(true)
		eventually(t, "the client to give up on the silent connection", func() bool { return srv.Accepted() >= 2 })
		srv.Silence(false)
		if err := c.Ping(t.Context()); err != nil && !errors.Is(err, stomp.ErrNotConnected) {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("no beats when either side declines", func(t *testing.T) {
		t.Parallel()
		srv := stomptest.NewServer(t, stomptest.Options{HeartBeat: "0,0"})
		connect(t, srv.Addr(), stomp.Options{HeartBeat: 20 * time.Millisecond})
		time.Sleep(200 * time.Millisecond)
		if n := srv.Accepted(); n != 1 {
			t.Fatalf("%d connections, want 1: no beats were negotiated, so none may be missed", n)
		}
	})
}

// An ERROR frame that is about no receipt ends the connection; the client
// reconnects.
func TestErrorEndsConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := stomptest.NewServer(t, stomptest.Options{Handle: func(c *stomptest.Conn) {
		if _, err := c.Read(); err != nil {
			return
		}
		c.Write(stomp.NewFrame(stomp.CmdConnected, "version", "1.2"))
		if conns.Add(1) == 1 {
			c.Write(stomp.NewFrame(stomp.CmdError, "message", "broker shutting down"))
			return
		}
		for {
			f, err := c.Read()
			if err != nil {
				return
			}
			if id := f.Header.Get("receipt"); id != "" {
				c.Write(stomp.NewFrame(stomp.CmdReceipt, "receipt-id", id))
			}
		}
	}})
	c := connect(t, srv.Addr(), fast)
	eventually(t, "a second connection", func() bool { return conns.Load() == 2 })
	send(t, c, "/queue/x", "after the error")
}

// Close disconnects with a receipt, ends subscriptions, and refuses further
// work; it may be called again.
func TestClose(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c, err := stomp.Connect(t.Context(), srv.Addr(), fast)
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, c, "/queue/c", stomp.AckAuto)
	nextErr := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background())
		nextErr <- err
	}()
	for i := range 2 {
		if err := c.Close(t.Context()); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	d := srv.Received(stomp.CmdDisconnect)
	if len(d) != 1 || d[0].Header.Get("receipt") == "" {
		t.Fatalf("DISCONNECT frames %v, want one with a receipt", d)
	}
	select {
	case err := <-nextErr:
		if !errors.Is(err, stomp.ErrUnsubscribed) {
			t.Errorf("Next after Close = %v, want ErrUnsubscribed", err)
		}
	case <-time.After(wait):
		t.Fatal("Next still waiting after Close")
	}
	for name, err := range map[string]error{
		"Send": c.Send(t.Context(), "/queue/c", nil, stomp.Header{}),
		"Ping": c.Ping(t.Context()),
		"Subscribe": func() error {
			_, err := c.Subscribe(t.Context(), "/queue/c", stomp.AckAuto, stomp.Header{})
			return err
		}(),
	} {
		if !errors.Is(err, stomp.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Errorf("Unsubscribe after Close: %v", err)
	}
	eventually(t, "the server to see the connection end", func() bool { return srv.Connections() == 0 })
}

// Bodies are carried byte for byte, NULs and all, up to large sizes.
func TestBodies(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	c := connect(t, srv.Addr(), fast)
	sub := subscribe(t, c, "/queue/b", stomp.AckAuto)
	bodies := [][]byte{nil, {0}, []byte("a\x00b\x00"), bytes.Repeat([]byte{0, 0xff, '\n', ':'}, 1<<18)}
	for _, b := range bodies {
		if err := c.Send(t.Context(), "/queue/b", b, stomp.Header{}); err != nil {
			t.Fatalf("Send of %d bytes: %v", len(b), err)
		}
		if m := next(t, sub); !bytes.Equal(m.Body, b) {
			t.Fatalf("sent %d bytes, got %d different ones", len(b), len(m.Body))
		}
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := stomptest.TLSConfigs(t)
	srv := stomptest.NewServer(t, stomptest.Options{TLS: serverTLS})
	c := connect(t, srv.Addr(), stomp.Options{TLS: clientTLS})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	// A client that does not trust the certificate refuses the server.
	_, err := stomp.Connect(t.Context(), srv.Addr(), stomp.Options{TLS: &tls.Config{}})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Connect without trusting the certificate = %v, want a certificate error", err)
	}
}
