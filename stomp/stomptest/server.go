package stomptest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/stomp"
)

// Options shape a fake server.
type Options struct {
	// Login and Passcode, when Login is set, are the only credentials
	// CONNECT is accepted with.
	Login, Passcode string
	// HeartBeat is the heart-beat header of CONNECTED ("sx,sy" in ms);
	// default "0,0". The server beats at the negotiated period and drops a
	// client silent for three of its periods.
	HeartBeat string
	// Version is the version header of CONNECTED; default "1.2". "-" sends
	// none (a STOMP 1.0 server).
	Version string
	// TLS, when set, makes the server speak TLS.
	TLS *tls.Config
	// Refuse, when set, is asked about every frame after CONNECT; a
	// non-empty answer is sent as an ERROR about the frame, and the
	// connection is closed.
	Refuse func(f *stomp.Frame) string
	// Handle, when set, replaces the broker: each accepted connection is
	// handed to it as is, before any CONNECT, for tests that script the
	// server's side frame by frame.
	Handle func(c *Conn)
}

// Server is an in-process STOMP 1.2 server for tests: a tiny broker with
// queues (a destination is a queue; subscribers of one destination compete
// for its messages), the three ack modes, prefetch
// (activemq.prefetchSize), receipts, transactions, heart-beats both ways
// and ERROR frames, with knobs to drop connections, go away and come back,
// or stop sending heart-beats. Messages survive dropped connections, as on
// a persistent broker.
type Server struct {
	t    testing.TB
	opts Options
	addr string

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*Conn]struct{}
	queues   map[string]*queue
	received []*stomp.Frame
	accepted int
	nextMsg  int
	silent   bool
	wg       sync.WaitGroup
}

// NewServer starts a fake server on a loopback port; it stops when the
// test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.HeartBeat == "" {
		opts.HeartBeat = "0,0"
	}
	if opts.Version == "" {
		opts.Version = "1.2"
	}
	s := &Server{t: t, opts: opts, conns: map[*Conn]struct{}{}, queues: map[string]*queue{}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatalf("stomptest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's "host:port".
func (s *Server) Addr() string { return s.addr }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.mu.Lock()
	s.ln = ln
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		dr := &deadlineReader{Conn: nc}
		c := &Conn{
			s: s, nc: nc, dr: dr,
			r:    stomp.NewReader(dr, stomp.Limits{}),
			w:    stomp.NewWriter(nc),
			subs: map[string]*sub{}, txs: map[string][]*stomp.Frame{},
			done: make(chan struct{}),
			wake: make(chan struct{}, 1),
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			if s.opts.Handle != nil {
				s.opts.Handle(c)
				return
			}
			c.serve()
		}()
	}
}

// Stop closes the listener and every connection; the queues stay, so Start
// brings the same "broker" back.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
}

// Start listens again on the address the server had, after Stop.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.listen(s.addr); err != nil {
		s.t.Fatalf("stomptest: listening again on %s: %v", s.addr, err)
	}
}

// DropConnections closes every client connection at once, as a crashing
// broker would; it keeps listening.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Silence stops (or resumes) the server's heart-beats, while connections
// stay open: a broker that hangs.
func (s *Server) Silence(silent bool) {
	s.mu.Lock()
	s.silent = silent
	s.mu.Unlock()
}

// Accepted is how many connections the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Connections is how many client connections are open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Received returns the frames clients sent with this command ("" for all),
// in order.
func (s *Server) Received(command string) []*stomp.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stomp.Frame
	for _, f := range s.received {
		if command == "" || f.Command == command {
			out = append(out, f)
		}
	}
	return out
}

// Pending is how many messages wait in the queue of dest, not delivered
// or delivered and not acknowledged.
func (s *Server) Pending(dest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[dest]
	if q == nil {
		return 0
	}
	n := len(q.msgs)
	for c := range s.conns {
		for _, sb := range c.subs {
			if sb.dest == dest {
				n += len(sb.unacked)
			}
		}
	}
	return n
}

// Conn is one client connection to the fake server.
type Conn struct {
	s  *Server
	nc net.Conn
	dr *deadlineReader
	r  *stomp.Reader

	wmu sync.Mutex
	w   *stomp.Writer

	// Frames the broker posted, in order, for pump.
	qmu  sync.Mutex
	outq []*stomp.Frame
	wake chan struct{}

	// Broker state of this connection, guarded by Server.mu.
	subs map[string]*sub
	txs  map[string][]*stomp.Frame

	closeOnce sync.Once
	done      chan struct{}
}

// Read reads the next frame from the client.
func (c *Conn) Read() (*stomp.Frame, error) { return c.r.Read() }

// Write sends f to the client.
func (c *Conn) Write(f *stomp.Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.Write(f); err != nil {
		return err
	}
	return c.w.Flush()
}

// WriteRaw sends b to the client as is.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// Close closes the connection; messages its subscriptions had not
// acknowledged go back to their queues, marked redelivered.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.nc.Close()
		s := c.s
		s.mu.Lock()
		delete(s.conns, c)
		for _, sb := range c.subs {
			s.unsubscribeLocked(sb)
		}
		s.mu.Unlock()
	})
	return nil
}

type queue struct {
	msgs []*message
	subs []*sub
	next int // round-robin position
}

type message struct {
	id          string
	header      stomp.Header
	body        []byte
	redelivered bool
}

type sub struct {
	c        *Conn
	id, dest string
	ack      string
	prefetch int
	seq      int
	unacked  map[string]*message
	order    []string // ack ids in delivery order, for cumulative acks
}

// serve runs the broker's side of one connection.
func (c *Conn) serve() {
	s := c.s
	go c.pump()
	f, err := c.Read()
	if err != nil {
		return
	}
	s.record(f)
	if f.Command != stomp.CmdConnect && f.Command != stomp.CmdStomp {
		c.fatal(f, "expected CONNECT, got "+f.Command)
		return
	}
	if s.opts.Login != "" && (f.Header.Get("login") != s.opts.Login || f.Header.Get("passcode") != s.opts.Passcode) {
		c.fatal(f, "User name ["+f.Header.Get("login")+"] or password is invalid.")
		return
	}
	if !strings.Contains(","+f.Header.Get("accept-version")+",", ",1.2,") && s.opts.Version == "1.2" {
		c.fatal(f, "Supported protocol versions are 1.2")
		return
	}
	reply := stomp.NewFrame(stomp.CmdConnected, "server", "stomptest/1", "session", fmt.Sprintf("session-%p", c), "heart-beat", s.opts.HeartBeat)
	if s.opts.Version != "-" {
		reply.Header.Add("version", s.opts.Version)
	}
	c.post(reply)
	sendEvery, expectEvery := negotiate(f.Header.Get("heart-beat"), s.opts.HeartBeat)
	if sendEvery > 0 {
		go c.beat(sendEvery)
	}
	c.dr.timeout.Store(int64(3 * expectEvery))
	for {
		f, err := c.Read()
		if err != nil {
			return
		}
		s.record(f)
		if f.Command == stomp.CmdDisconnect {
			c.receipt(f)
			c.flushPosted()
			return
		}
		if s.opts.Refuse != nil {
			if msg := s.opts.Refuse(f); msg != "" {
				c.fatal(f, msg)
				return
			}
		}
		if msg := c.handle(f); msg != "" {
			c.fatal(f, msg)
			return
		}
		c.receipt(f)
	}
}

// deadlineReader moves the read deadline before every read, so any byte,
// heart-beats included, keeps the connection alive.
type deadlineReader struct {
	net.Conn
	timeout atomic.Int64 // time.Duration; zero: none
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if t := time.Duration(d.timeout.Load()); t > 0 {
		d.Conn.SetReadDeadline(time.Now().Add(t))
	}
	return d.Conn.Read(p)
}

// negotiate returns the server's send period and the period it expects
// the client to beat at, from the client's header and the server's own.
func negotiate(client, server string) (send, expect time.Duration) {
	cx, cy := parseBeat(client)
	sx, sy := parseBeat(server)
	if sx > 0 && cy > 0 {
		send = max(sx, cy)
	}
	if sy > 0 && cx > 0 {
		expect = max(sy, cx)
	}
	return send, expect
}

func parseBeat(v string) (x, y time.Duration) {
	a, b, _ := strings.Cut(v, ",")
	xi, _ := strconv.Atoi(a)
	yi, _ := strconv.Atoi(b)
	return time.Duration(xi) * time.Millisecond, time.Duration(yi) * time.Millisecond
}

func (c *Conn) beat(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.s.mu.Lock()
			silent := c.s.silent
			c.s.mu.Unlock()
			if !silent && c.WriteRaw([]byte("\n")) != nil {
				return
			}
		}
	}
}

func (s *Server) record(f *stomp.Frame) {
	s.mu.Lock()
	s.received = append(s.received, f)
	s.mu.Unlock()
}

func (c *Conn) receipt(f *stomp.Frame) {
	if id := f.Header.Get("receipt"); id != "" {
		c.post(stomp.NewFrame(stomp.CmdReceipt, "receipt-id", id))
	}
}

// fatal sends an ERROR about f; serve then closes the connection, as STOMP
// says a server does.
func (c *Conn) fatal(f *stomp.Frame, msg string) {
	e := stomp.NewFrame(stomp.CmdError, "message", msg)
	if id := f.Header.Get("receipt"); id != "" {
		e.Header.Add("receipt-id", id)
	}
	e.Body = []byte("stomptest: " + msg + "\n\tat a fake stack frame\n")
	// After what was posted before it, then the connection closes.
	c.post(e)
	c.flushPosted()
}

// flushPosted waits, briefly, until the posted frames are written.
func (c *Conn) flushPosted() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		c.qmu.Lock()
		n := len(c.outq)
		c.qmu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.wmu.Lock() // the batch being written, if any, is out once we hold it
	c.wmu.Unlock()
}

// handle applies one frame; it returns an error message for a bad one.
func (c *Conn) handle(f *stomp.Frame) string {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if tx := f.Header.Get("transaction"); tx != "" && f.Command != stomp.CmdBegin && f.Command != stomp.CmdCommit && f.Command != stomp.CmdAbort {
		if _, ok := c.txs[tx]; !ok {
			return "unknown transaction " + tx
		}
		c.txs[tx] = append(c.txs[tx], f)
		return ""
	}
	switch f.Command {
	case stomp.CmdBegin:
		tx := f.Header.Get("transaction")
		if _, ok := c.txs[tx]; ok || tx == "" {
			return "bad or duplicate transaction " + tx
		}
		c.txs[tx] = []*stomp.Frame{}
	case stomp.CmdCommit, stomp.CmdAbort:
		tx := f.Header.Get("transaction")
		frames, ok := c.txs[tx]
		if !ok {
			return "unknown transaction " + tx
		}
		delete(c.txs, tx)
		if f.Command == stomp.CmdCommit {
			for _, g := range frames {
				if msg := c.apply(g); msg != "" {
					return msg
				}
			}
		}
	default:
		return c.apply(f)
	}
	return ""
}

// apply carries out a frame outside transactions. s.mu is held.
func (c *Conn) apply(f *stomp.Frame) string {
	s := c.s
	switch f.Command {
	case stomp.CmdSend:
		dest := f.Header.Get("destination")
		if dest == "" {
			return "SEND without destination"
		}
		h := f.Header.Clone()
		for _, k := range []string{"destination", "receipt", "transaction", "content-length"} {
			h.Del(k)
		}
		s.nextMsg++
		q := s.queue(dest)
		q.msgs = append(q.msgs, &message{id: "m" + strconv.Itoa(s.nextMsg), header: h, body: f.Body})
		s.dispatchLocked(dest)
	case stomp.CmdSubscribe:
		id, dest := f.Header.Get("id"), f.Header.Get("destination")
		if id == "" || dest == "" {
			return "SUBSCRIBE needs id and destination"
		}
		if _, dup := c.subs[id]; dup {
			return "duplicate subscription id " + id
		}
		ack := f.Header.Get("ack")
		if ack == "" {
			ack = "auto"
		}
		prefetch, _ := strconv.Atoi(f.Header.Get("activemq.prefetchSize"))
		sb := &sub{c: c, id: id, dest: dest, ack: ack, prefetch: prefetch, unacked: map[string]*message{}}
		c.subs[id] = sb
		q := s.queue(dest)
		q.subs = append(q.subs, sb)
		s.dispatchLocked(dest)
	case stomp.CmdUnsubscribe:
		sb := c.subs[f.Header.Get("id")]
		if sb == nil {
			return "no subscription " + f.Header.Get("id")
		}
		s.unsubscribeLocked(sb)
	case stomp.CmdAck, stomp.CmdNack:
		id := f.Header.Get("id")
		for _, sb := range c.subs {
			if _, ok := sb.unacked[id]; !ok {
				continue
			}
			acked := []string{id}
			if sb.ack == "client" {
				i := 0
				for sb.order[i] != id {
					i++
				}
				acked = sb.order[:i+1]
			}
			for _, a := range acked {
				delete(sb.unacked, a)
			}
			sb.order = removeAll(sb.order, acked)
			s.dispatchLocked(sb.dest)
			return ""
		}
		return "Unexpected " + f.Command + " received for message-id [" + id + "]"
	default:
		return "unknown command " + f.Command
	}
	return ""
}

func removeAll(order, gone []string) []string {
	drop := map[string]bool{}
	for _, g := range gone {
		drop[g] = true
	}
	out := order[:0]
	for _, o := range order {
		if !drop[o] {
			out = append(out, o)
		}
	}
	return out
}

func (s *Server) queue(dest string) *queue {
	q := s.queues[dest]
	if q == nil {
		q = &queue{}
		s.queues[dest] = q
	}
	return q
}

// unsubscribeLocked removes sb and puts its unacknowledged messages back at
// the head of the queue. s.mu is held.
func (s *Server) unsubscribeLocked(sb *sub) {
	delete(sb.c.subs, sb.id)
	q := s.queue(sb.dest)
	for i, x := range q.subs {
		if x == sb {
			q.subs = append(q.subs[:i:i], q.subs[i+1:]...)
			break
		}
	}
	back := make([]*message, 0, len(sb.order))
	for _, a := range sb.order {
		if m := sb.unacked[a]; m != nil {
			m.redelivered = true
			back = append(back, m)
		}
	}
	sb.unacked, sb.order = map[string]*message{}, nil
	q.msgs = append(back, q.msgs...)
	s.dispatchLocked(sb.dest)
}

// dispatchLocked hands queued messages to subscribers with room, round
// robin. s.mu is held; frames are written in the background so a slow
// client cannot block the broker.
func (s *Server) dispatchLocked(dest string) {
	q := s.queues[dest]
	if q == nil {
		return
	}
	for len(q.msgs) > 0 && len(q.subs) > 0 {
		var to *sub
		for i := range q.subs {
			sb := q.subs[(q.next+i)%len(q.subs)]
			if sb.prefetch <= 0 || len(sb.unacked) < sb.prefetch {
				to = sb
				q.next = (q.next + i + 1) % len(q.subs)
				break
			}
		}
		if to == nil {
			return
		}
		m := q.msgs[0]
		q.msgs = q.msgs[1:]
		f := &stomp.Frame{Command: stomp.CmdMessage, Header: m.header.Clone(), Body: m.body}
		f.Header.Set("subscription", to.id)
		f.Header.Set("message-id", m.id)
		f.Header.Set("destination", dest)
		if m.redelivered {
			f.Header.Set("redelivered", "true")
		}
		if to.ack != "auto" {
			to.seq++
			ackID := to.id + "-" + strconv.Itoa(to.seq)
			f.Header.Set("ack", ackID)
			to.unacked[ackID] = m
			to.order = append(to.order, ackID)
		}
		to.c.post(f)
	}
}

// post queues f for the connection's writer, keeping the order frames were
// posted in, without blocking the broker on a slow client.
func (c *Conn) post(f *stomp.Frame) {
	c.qmu.Lock()
	c.outq = append(c.outq, f)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pump writes posted frames until the connection closes.
func (c *Conn) pump() {
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		c.qmu.Lock()
		batch := c.outq
		c.outq = nil
		c.qmu.Unlock()
		c.wmu.Lock()
		var err error
		for _, f := range batch {
			if err = c.w.Write(f); err != nil {
				break
			}
		}
		if err == nil {
			err = c.w.Flush()
		}
		c.wmu.Unlock()
		if err != nil {
			c.Close()
			return
		}
	}
}
