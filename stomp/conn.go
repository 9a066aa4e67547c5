package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one STOMP session over one network connection: it negotiates,
// runs a reader and a writer goroutine, keeps heart-beats both ways and
// matches receipts. It never reconnects; Client does.
type conn struct {
	nc   net.Conn
	hb   *hbConn
	opts *Options

	// out feeds the writer goroutine, which flushes when it runs dry: frames
	// from concurrent callers go out in few system calls.
	out chan *Frame
	// done is closed once the connection has ended; err says why.
	done      chan struct{}
	err       error
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu       sync.Mutex
	receipts map[string]chan error
	subs     map[string]*Subscription
	// closing: DISCONNECT was queued; STOMP allows nothing after it.
	closing bool

	seq atomic.Uint64

	version, server, session string
	// sendEvery and expectEvery are the negotiated heart-beat periods (zero:
	// none).
	sendEvery, expectEvery time.Duration
}

// dial opens a connection to addr and negotiates a STOMP 1.2 session.
// ctx bounds the dial and the handshake only.
func dial(ctx context.Context, addr string, opts *Options) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = hostOf(addr)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{
		nc:       nc,
		hb:       &hbConn{Conn: nc},
		opts:     opts,
		out:      make(chan *Frame, 256),
		done:     make(chan struct{}),
		receipts: make(map[string]chan error),
		subs:     make(map[string]*Subscription),
	}
	r := NewReader(c.hb, opts.Limits)
	w := NewWriter(nc)
	if err := c.handshake(ctx, addr, r, w); err != nil {
		nc.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.readLoop(r)
	go c.writeLoop(w)
	return c, nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (c *conn) handshake(ctx context.Context, addr string, r *Reader, w *Writer) error {
	// The context cannot interrupt a blocked read or write; a deadline can.
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	host := c.opts.Host
	if host == "" {
		host = hostOf(addr)
	}
	hb := max(c.opts.HeartBeat, 0)
	f := NewFrame(CmdConnect,
		"accept-version", "1.2",
		"host", host,
		"heart-beat", strconv.FormatInt(hb.Milliseconds(), 10)+","+strconv.FormatInt(hb.Milliseconds(), 10))
	if c.opts.Login != "" || c.opts.Passcode != "" {
		f.Header.Add("login", c.opts.Login)
		f.Header.Add("passcode", c.opts.Passcode)
	}
	if err := w.Write(f); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return ctxErr(ctx, err)
	}
	reply, err := r.Read()
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("stomp: reading the reply to CONNECT: %w", err))
	}
	switch reply.Command {
	case CmdConnected:
	case CmdError:
		return serverError(reply)
	default:
		return protocolErr("server answered CONNECT with %s", reply.Command)
	}
	c.version = reply.Header.Get("version")
	if c.version != "1.2" {
		v := c.version
		if v == "" {
			v = "1.0"
		}
		return fmt.Errorf("stomp: server speaks STOMP %s; this client needs 1.2", v)
	}
	c.server = reply.Header.Get("server")
	c.session = reply.Header.Get("session")
	sx, sy, err := parseHeartBeat(reply.Header.Get("heart-beat"))
	if err != nil {
		return err
	}
	// STOMP 1.2: each side beats at the slower of what it offers and what
	// the other wants, and neither if either says 0.
	if hb > 0 && sy > 0 {
		c.sendEvery = max(hb, sy)
	}
	if hb > 0 && sx > 0 {
		c.expectEvery = max(hb, sx)
	}
	c.nc.SetDeadline(time.Time{})
	// Generous on purpose: beats are late under load, and a false alarm
	// costs a reconnect.
	c.hb.timeout.Store(int64(2 * c.expectEvery))
	return nil
}

// ctxErr prefers the context's error to the I/O error it caused. The
// connection's deadline is the context's, and may fire a moment before the
// context notices, hence the clock check.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

func parseHeartBeat(v string) (sx, sy time.Duration, err error) {
	if v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(v, ",")
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, protocolErr("bad heart-beat header %q", v)
	}
	return time.Duration(x) * time.Millisecond, time.Duration(y) * time.Millisecond, nil
}

// hbConn puts a read deadline before every read, so a server that falls
// silent for longer than its heart-beat allows is noticed.
type hbConn struct {
	net.Conn
	timeout atomic.Int64 // time.Duration; zero: no deadline
}

func (h *hbConn) Read(p []byte) (int, error) {
	if t := time.Duration(h.timeout.Load()); t > 0 {
		h.Conn.SetReadDeadline(time.Now().Add(t))
	}
	return h.Conn.Read(p)
}

func (c *conn) readLoop(r *Reader) {
	defer c.wg.Done()
	for {
		f, err := r.Read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("%w: nothing received for %v", ErrHeartBeat, time.Duration(c.hb.timeout.Load()))
			}
			c.fail(err)
			return
		}
		switch f.Command {
		case CmdMessage:
			c.dispatch(f)
		case CmdReceipt:
			c.settle(f.Header.Get("receipt-id"), nil)
		case CmdError:
			se := serverError(f)
			// An ERROR about one frame that asked for a receipt fails that
			// request; the server may keep the connection (ActiveMQ does
			// for a bad ACK). Any other ERROR ends the session, as STOMP
			// says the server closes the connection after it.
			if se.ReceiptID != "" && c.settle(se.ReceiptID, se) {
				continue
			}
			c.fail(se)
			return
		default:
			c.fail(protocolErr("unexpected %s frame from the server", f.Command))
			return
		}
	}
}

func (c *conn) writeLoop(w *Writer) {
	defer c.wg.Done()
	var tick <-chan time.Time
	if c.sendEvery > 0 {
		// Ticking at half the period keeps every gap under the period.
		t := time.NewTicker(c.sendEvery / 2)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	for {
		select {
		case f := <-c.out:
			err := w.Write(f)
			// Take what else is queued now, so one flush carries it all.
			for n := len(c.out); err == nil && n > 0; n-- {
				err = w.Write(<-c.out)
			}
			if err == nil {
				err = c.flush(w)
			}
			if err != nil {
				c.fail(err)
				return
			}
			last = time.Now()
		case now := <-tick:
			if now.Sub(last) < c.sendEvery/2 {
				continue
			}
			err := w.WriteHeartBeat()
			if err == nil {
				err = c.flush(w)
			}
			if err != nil {
				c.fail(err)
				return
			}
			last = now
		case <-c.done:
			return
		}
	}
}

func (c *conn) flush(w *Writer) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	return w.Flush()
}

// dispatch hands a MESSAGE to its subscription. It never blocks: a
// subscription's queue is bounded by the prefetch the broker honours, and a
// reader that waited for one slow consumer would stall every other one and
// every receipt.
func (c *conn) dispatch(f *Frame) {
	id := f.Header.Get("subscription")
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s == nil {
		// Unsubscribed meanwhile: not acknowledged, so the broker keeps it.
		return
	}
	s.push(&Message{
		Destination: f.Header.Get("destination"),
		Header:      f.Header,
		Body:        f.Body,
		sub:         s,
		conn:        c,
		ackID:       f.Header.Get("ack"),
	})
}

// settle completes the request waiting for receipt id, reporting whether
// one was waiting.
func (c *conn) settle(id string, err error) bool {
	c.mu.Lock()
	ch, ok := c.receipts[id]
	delete(c.receipts, id)
	c.mu.Unlock()
	if ok {
		ch <- err // buffered
	}
	return ok
}

// fail ends the connection with cause err; the first cause wins.
func (c *conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
	})
}

// ended reports whether the connection has ended.
func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// lost is the error for an operation the end of the connection cut short.
func (c *conn) lost() error {
	if errors.Is(c.err, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, c.err)
}

// send queues f for the writer.
func (c *conn) send(ctx context.Context, f *Frame) error {
	if err := check(f); err != nil {
		return err
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return ErrClosed
	}
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return c.lost()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request sends f with a receipt header and waits for the RECEIPT, or for
// the ERROR about it.
func (c *conn) request(ctx context.Context, f *Frame) error {
	r, err := c.post(ctx, f)
	if err != nil {
		return err
	}
	return r.Wait(ctx)
}

// post queues f with a receipt header and returns the Receipt to wait on.
func (c *conn) post(ctx context.Context, f *Frame) (*Receipt, error) {
	r := &Receipt{c: c, id: "r" + strconv.FormatUint(c.seq.Add(1), 10), ch: make(chan error, 1)}
	f.Header.Set("receipt", r.id)
	c.mu.Lock()
	c.receipts[r.id] = r.ch
	c.mu.Unlock()
	if err := c.send(ctx, f); err != nil {
		r.forget()
		return nil, err
	}
	return r, nil
}

// Receipt is the pending answer to a frame that asked for one.
type Receipt struct {
	c  *conn
	id string
	ch chan error
}

// Wait returns once the server answered: nil for its RECEIPT, a
// *ServerError for an ERROR about the frame, an error wrapping
// ErrConnectionLost when the connection ended first (the server may or may
// not have processed the frame), or ctx's error.
func (r *Receipt) Wait(ctx context.Context) error {
	select {
	case err := <-r.ch:
		return err
	case <-r.c.done:
		// The receipt may have come just before the end.
		select {
		case err := <-r.ch:
			return err
		default:
		}
		r.forget()
		return r.c.lost()
	case <-ctx.Done():
		r.forget()
		return ctx.Err()
	}
}

func (r *Receipt) forget() {
	r.c.mu.Lock()
	delete(r.c.receipts, r.id)
	r.c.mu.Unlock()
}

// disconnect ends the session politely: DISCONNECT, its receipt (so every
// frame sent before was processed), then close. It closes the connection
// even when ctx ends first.
func (c *conn) disconnect(ctx context.Context) error {
	id := "r" + strconv.FormatUint(c.seq.Add(1), 10)
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.receipts[id] = ch
	c.mu.Unlock()
	var err error
	select {
	case c.out <- NewFrame(CmdDisconnect, "receipt", id):
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		select {
		case err = <-ch:
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.fail(ErrClosed)
	c.wg.Wait()
	return err
}

// close ends the connection at once.
func (c *conn) close(cause error) {
	c.fail(cause)
	c.wg.Wait()
}
