package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Options configure a Client. The zero value connects without credentials,
// over plain TCP, with the defaults below.
type Options struct {
	// Login and Passcode are sent in CONNECT when either is set.
	Login, Passcode string
	// Host is the virtual host sent in CONNECT; default: the host part of
	// the address.
	Host string
	// HeartBeat is the period this client offers to send heart-beats at and
	// asks the server to send them at. Zero means 10 s; negative turns
	// heart-beats off. A server silent for twice the negotiated period is
	// taken for gone.
	HeartBeat time.Duration
	// TLS, when set, wraps the connection in TLS with this configuration
	// (ServerName defaults to the address's host).
	TLS *tls.Config
	// ConnectTimeout bounds each dial and handshake; default 5 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each write to the network; default 30 s.
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnection attempts; defaults 100 ms and 5 s.
	ReconnectMin, ReconnectMax time.Duration
	// Limits bound the frames accepted from the server.
	Limits Limits
	// Logger receives connection losses and reconnections; nil: none.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HeartBeat == 0 {
		o.HeartBeat = 10 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 100 * time.Millisecond
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = max(5*time.Second, o.ReconnectMin)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// AckMode is a subscription's acknowledgement mode.
type AckMode string

// Acknowledgement modes of STOMP 1.2.
const (
	// AckAuto: the server counts a message acknowledged once sent.
	AckAuto AckMode = "auto"
	// AckClient: an ACK acknowledges that message and every earlier one of
	// the subscription.
	AckClient AckMode = "client"
	// AckClientIndividual: an ACK acknowledges that message only.
	AckClientIndividual AckMode = "client-individual"
)

// Client is a STOMP 1.2 client that stays connected: when the connection
// ends it reconnects with exponential backoff and subscribes again to
// every live subscription, under the same subscription ids. It is safe for
// concurrent use.
type Client struct {
	addr string
	opts Options
	log  *slog.Logger

	// ctx ends when the client is closed; the reconnection loop runs under
	// it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// cur is the live connection, nil while reconnecting; connected is
	// closed when the next one is ready.
	cur       *conn
	connected chan struct{}
	lastErr   error
	downSince time.Time
	subs      map[string]*Subscription
	nextSub   uint64
}

// Connect connects to the STOMP server at addr ("host:port"). The first
// connection is not retried: Connect fails with the cause (unreachable,
// refused credentials, no STOMP 1.2) so a misconfiguration shows at once.
// Losses after that are repaired in the background.
func Connect(ctx context.Context, addr string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	nc, err := dial(ctx, addr, &opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		addr:      addr,
		opts:      opts,
		log:       opts.Logger.With("stomp_server", addr),
		cur:       nc,
		connected: make(chan struct{}),
		subs:      make(map[string]*Subscription),
	}
	close(c.connected)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.supervise(nc)
	return c, nil
}

// Server is the server's name and version as it announced them in
// CONNECTED ("ActiveMQ/5.17.2"), or "" while reconnecting.
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.server
}

// supervise waits for the connection to end and reconnects, until the
// client is closed.
func (c *Client) supervise(cur *conn) {
	defer c.wg.Done()
	for {
		select {
		case <-cur.done:
		case <-c.ctx.Done():
			return
		}
		cur.close(cur.err) // wait for its goroutines
		if !c.markLost(cur) {
			return // closed
		}
		c.log.Warn("stomp: connection lost; reconnecting", "err", cur.err)

		next, attempts := c.reconnect()
		if next == nil {
			return // closed
		}
		c.mu.Lock()
		down := time.Since(c.downSince)
		c.mu.Unlock()
		c.log.Info("stomp: reconnected", "attempts", attempts, "down_for", down.Round(time.Millisecond))
		cur = next
	}
}

// markLost records that cur ended, if it is still the current connection,
// so callers wait for the next one. It reports false once the client is
// closed.
func (c *Client) markLost(cur *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.cur == cur {
		c.cur = nil
		c.connected = make(chan struct{})
		c.lastErr = cur.err
		c.downSince = time.Now()
	}
	return true
}

// reconnect dials until a connection is up and every subscription is
// renewed on it, and returns it; nil once the client is closed.
func (c *Client) reconnect() (*conn, int) {
	for attempt := 1; ; attempt++ {
		if !sleep(c.ctx, c.backoff(attempt)) {
			return nil, attempt
		}
		nc, err := dial(c.ctx, c.addr, &c.opts)
		if err == nil {
			if err = c.adopt(nc); err == nil {
				return nc, attempt
			}
			nc.close(err)
		}
		if c.ctx.Err() != nil {
			return nil, attempt
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		c.log.Debug("stomp: reconnection attempt failed", "attempt", attempt, "err", err)
	}
}

// adopt subscribes every live subscription on nc, then makes nc current.
// A subscription added meanwhile is picked up by the next round, so none
// is missed.
func (c *Client) adopt(nc *conn) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		var pending []*Subscription
		for _, s := range c.subs {
			if s.onConn() != nc {
				pending = append(pending, s)
			}
		}
		if len(pending) == 0 {
			c.cur = nc
			close(c.connected)
			c.lastErr = nil
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		for _, s := range pending {
			ctx, cancel := context.WithTimeout(c.ctx, c.opts.ConnectTimeout)
			err := s.subscribeOn(ctx, nc)
			cancel()
			var se *ServerError
			switch {
			case err == nil, errors.Is(err, ErrUnsubscribed):
			case errors.As(err, &se):
				// The server refuses this subscription now (permissions
				// changed?). It ends, rather than keep every other one
				// from reconnecting; its Next reports ErrUnsubscribed.
				c.log.Error("stomp: the server refused a subscription on reconnection; it has ended", "dest", s.dest, "err", err)
				c.mu.Lock()
				delete(c.subs, s.id)
				c.mu.Unlock()
				s.end()
			default:
				return fmt.Errorf("stomp: subscribing again to %s: %w", s.dest, err)
			}
		}
	}
}

// backoff is the wait before reconnection attempt n (from 1): exponential,
// capped, with jitter so that many clients do not return in step.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectMin << min(n-1, 20)
	if d <= 0 || d > c.opts.ReconnectMax {
		d = c.opts.ReconnectMax
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// current returns the live connection, waiting for a reconnection if need
// be, until ctx ends.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		cur, connected, lastErr := c.cur, c.connected, c.lastErr
		c.mu.Unlock()
		if cur != nil {
			if !cur.ended() {
				return cur, nil
			}
			// Ended, and the supervisor has not noticed yet.
			if !c.markLost(cur) {
				return nil, ErrClosed
			}
			continue
		}
		select {
		case <-connected:
		case <-ctx.Done():
			return nil, waitErr(ctx, lastErr)
		}
	}
}

func waitErr(ctx context.Context, lastErr error) error {
	if lastErr != nil {
		return fmt.Errorf("%w while waiting for a connection (last error: %v)", ctx.Err(), lastErr)
	}
	return ctx.Err()
}

// Send sends a SEND frame to dest and returns once the server's RECEIPT
// for it arrived: the server has the message. While the client is
// reconnecting, Send waits for the connection until ctx ends. An error
// after the frame went out leaves it unknown whether the server has it
// (at-least-once: send again). h holds extra headers (persistent,
// content-type, your own); it is not modified.
func (c *Client) Send(ctx context.Context, dest string, body []byte, h Header) error {
	r, err := c.SendAsync(ctx, dest, body, h)
	if err != nil {
		return err
	}
	return r.Wait(ctx)
}

// SendAsync queues a SEND like Send and returns without waiting for the
// receipt: Wait on it. Frames go out in the order they were queued, so
// SENDs queued one after the other reach the server in that order, and
// waiting for their receipts together costs one round trip, not one each.
// The body must not be modified until the receipt came.
func (c *Client) SendAsync(ctx context.Context, dest string, body []byte, h Header) (*Receipt, error) {
	f := &Frame{Command: CmdSend, Header: h.Clone(), Body: body}
	f.Header.Set("destination", dest)
	nc, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	return nc.post(ctx, f)
}

// Ping checks that the server answers: a round trip (BEGIN, then ABORT
// with a receipt) on the live connection. While reconnecting it fails at
// once with ErrNotConnected and the last connection error.
func (c *Client) Ping(ctx context.Context) error {
	c.mu.Lock()
	closed, cur, lastErr, since := c.closed, c.cur, c.lastErr, c.downSince
	c.mu.Unlock()
	if cur != nil && cur.ended() {
		lastErr, since = cur.err, time.Now()
	}
	switch {
	case closed:
		return ErrClosed
	case cur == nil || cur.ended():
		return fmt.Errorf("%w for %v: %v", ErrNotConnected, time.Since(since).Round(time.Second), lastErr)
	}
	tx := "ping-" + strconv.FormatUint(cur.seq.Add(1), 10)
	if err := cur.send(ctx, NewFrame(CmdBegin, "transaction", tx)); err != nil {
		return err
	}
	return cur.request(ctx, NewFrame(CmdAbort, "transaction", tx))
}

// Subscribe subscribes to dest and returns once the server confirmed it
// with a receipt, waiting for a reconnection if need be, until ctx ends.
// h holds extra SUBSCRIBE headers (a selector, a prefetch size); the
// subscription is renewed with them after every reconnection.
func (c *Client) Subscribe(ctx context.Context, dest string, ack AckMode, h Header) (*Subscription, error) {
	switch ack {
	case AckAuto, AckClient, AckClientIndividual:
	default:
		return nil, fmt.Errorf("stomp: unknown ack mode %q", ack)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.nextSub++
	id := "s" + strconv.FormatUint(c.nextSub, 10)
	s := newSubscription(c, id, dest, ack, h)
	c.subs[id] = s
	c.mu.Unlock()

	for {
		nc, err := c.current(ctx)
		if err == nil {
			err = s.subscribeOn(ctx, nc)
			if err == nil {
				return s, nil
			}
			if errors.Is(err, ErrConnectionLost) && ctx.Err() == nil {
				continue // the reconnection renews it; wait for that
			}
		}
		_ = s.Unsubscribe(context.WithoutCancel(ctx))
		return nil, err
	}
}

// Ack acknowledges m. It does not wait for the server: a lost ACK means the
// message is delivered again, which at-least-once allows. It returns
// ErrStale for a message of an earlier connection.
func (c *Client) Ack(ctx context.Context, m *Message) error {
	return c.ack(ctx, CmdAck, m, "")
}

// Nack tells the server m was not processed. What the server does with it
// is its own policy (ActiveMQ moves it to its dead-letter queue at once).
func (c *Client) Nack(ctx context.Context, m *Message) error {
	return c.ack(ctx, CmdNack, m, "")
}

func (c *Client) ack(ctx context.Context, cmd string, m *Message, tx string) error {
	if m.ackID == "" {
		return fmt.Errorf("stomp: %s of a message without an ack header (subscription in auto mode?)", cmd)
	}
	if m.conn.ended() {
		return ErrStale
	}
	f := NewFrame(cmd, "id", m.ackID)
	if tx != "" {
		f.Header.Add("transaction", tx)
	}
	err := m.conn.send(ctx, f)
	if errors.Is(err, ErrConnectionLost) {
		return ErrStale
	}
	return err
}

// Begin starts a transaction on the live connection. Frames of a
// transaction take effect together at Commit; if the connection ends
// first, the server aborts it.
func (c *Client) Begin(ctx context.Context) (*Tx, error) {
	nc, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	t := &Tx{c: c, nc: nc, id: "t" + strconv.FormatUint(nc.seq.Add(1), 10)}
	if err := nc.send(ctx, NewFrame(CmdBegin, "transaction", t.id)); err != nil {
		return nil, err
	}
	return t, nil
}

// Close ends every subscription, disconnects politely (DISCONNECT and its
// receipt, so every frame sent before was processed) and stops
// reconnecting. ctx bounds the wait for the receipt. Close may be called
// more than once.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	cur := c.cur
	subs := make([]*Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.subs = map[string]*Subscription{}
	c.mu.Unlock()

	for _, s := range subs {
		s.end()
	}
	var err error
	if cur != nil && !cur.ended() {
		err = cur.disconnect(ctx)
	}
	c.cancel()
	c.wg.Wait()
	if cur != nil {
		cur.close(ErrClosed)
	}
	return err
}

// Tx is a STOMP transaction. It is bound to the connection it began on.
type Tx struct {
	c  *Client
	nc *conn
	id string
}

// Send queues a SEND in the transaction; it takes effect at Commit.
func (t *Tx) Send(ctx context.Context, dest string, body []byte, h Header) error {
	f := &Frame{Command: CmdSend, Header: h.Clone(), Body: body}
	f.Header.Set("destination", dest)
	f.Header.Set("transaction", t.id)
	return t.nc.send(ctx, f)
}

// Ack acknowledges m within the transaction. m must have been delivered on
// the transaction's connection, else ErrStale.
func (t *Tx) Ack(ctx context.Context, m *Message) error {
	if m.conn != t.nc {
		return ErrStale
	}
	return t.c.ack(ctx, CmdAck, m, t.id)
}

// Commit commits the transaction and waits for the server's receipt.
func (t *Tx) Commit(ctx context.Context) error {
	return t.nc.request(ctx, NewFrame(CmdCommit, "transaction", t.id))
}

// Abort aborts the transaction and waits for the server's receipt.
func (t *Tx) Abort(ctx context.Context) error {
	return t.nc.request(ctx, NewFrame(CmdAbort, "transaction", t.id))
}
