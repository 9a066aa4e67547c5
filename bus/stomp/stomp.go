package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/errs"
	stompc "github.com/heraldhq/herald/stomp"
)

func init() {
	bus.Register("stomp", Open)
	bus.Register("stomp+ssl", Open)
}

// DefaultPort is ActiveMQ's STOMP port.
const DefaultPort = "61613"

// Limits of what one event may carry, below ActiveMQ's defaults (a header
// line of 10 KiB, frames of 100 MiB) so the broker never refuses a frame,
// which would cost the connection.
const (
	// MaxMetadata bounds a message's metadata, encoded.
	MaxMetadata = 8 << 10
	// MaxPayload bounds a message's payload.
	MaxPayload = 16 << 20
)

// Headers Herald puts on each message, beside the broker's own.
const (
	headerID       = "herald-id"
	headerTopic    = "herald-topic"
	headerMetadata = "herald-meta"
	// headerDelivery counts deliveries across requeues (see Subscribe);
	// absent means 1.
	headerDelivery = "herald-delivery"
)

// config is what Open reads from the URL.
type config struct {
	addr   string
	prefix string
	opts   stompc.Options
}

func parseURL(u *url.URL) (config, error) {
	var f errs.Fields
	if u.Opaque != "" || u.Hostname() == "" {
		f.Add("url", "must name the broker: stomp://[user:password@]host[:port][?options]")
	}
	if u.Path != "" && u.Path != "/" {
		f.Add("url", "takes no path: options go in the query (?prefix=herald.)")
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	c := config{addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		c.opts.Login = u.User.Username()
		c.opts.Passcode, _ = u.User.Password()
	}
	if u.Scheme == "stomp+ssl" {
		c.opts.TLS = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}

	q := busdriver.NewQuery(u.Query())
	c.prefix = q.String("prefix", "herald.")
	if why := busdriver.CheckTopic(strings.TrimSuffix(c.prefix, ".")); why != "" {
		q.Fail("prefix", "%s (a trailing '.' is allowed)", why)
	}
	c.opts.Host = q.String("host", "")
	// Zero turns heart-beats off; the client takes zero for its default.
	if c.opts.HeartBeat = q.Duration("heartbeat", 10*time.Second, 0); c.opts.HeartBeat == 0 {
		c.opts.HeartBeat = -1
	}
	c.opts.ConnectTimeout = q.Duration("connect_timeout", 5*time.Second, 100*time.Millisecond)
	if err := q.Err(); err != nil {
		e, _ := errs.As(err)
		for k, v := range e.Fields {
			f.Add(k, "%s", v)
		}
	}
	return c, f.Err()
}

// Open connects to the broker named by u (see the package documentation
// for the URL). It fails within the connect timeout, with one line naming
// the bus, the address without its password and the cause, when the
// broker cannot be reached or refuses the credentials.
func Open(ctx context.Context, u *url.URL) (bus.Bus, error) {
	cfg, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	log := slog.Default().With("bus", busdriver.Redact(u, false))
	cfg.opts.Logger = log
	// Two connections: ActiveMQ throttles a producer by stalling its whole
	// connection, which must not stall the acknowledgements that would free
	// the room it waits for.
	pub, err := stompc.Connect(ctx, cfg.addr, cfg.opts)
	if err != nil {
		return nil, busdriver.OpenError(u, false, err)
	}
	sub, err := stompc.Connect(ctx, cfg.addr, cfg.opts)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = pub.Close(closeCtx)
		return nil, busdriver.OpenError(u, false, err)
	}
	return &Bus{pub: pub, sub: sub, prefix: cfg.prefix, log: log, subs: map[*subscription]struct{}{}, done: make(chan struct{})}, nil
}

// Bus is the ActiveMQ bus. It is safe for concurrent use.
type Bus struct {
	// pub publishes; sub carries subscriptions and their acknowledgements.
	pub, sub *stompc.Client
	prefix   string
	log      *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
	// done is closed when Close has finished, for concurrent Close calls.
	done chan struct{}
}

// topicDest is where messages of topic are published: a virtual topic,
// which ActiveMQ copies into the queue of every group.
func (b *Bus) topicDest(topic string) string {
	return "/topic/VirtualTopic." + b.prefix + topic
}

// groupDest is group's queue of topic's messages, which its subscribers
// share.
func (b *Bus) groupDest(topic, group string) string {
	return "/queue/Consumer." + groupName(group) + ".VirtualTopic." + b.prefix + topic
}

// groupName makes a group one element of an ActiveMQ destination name
// ("Consumer.*." matches one): letters, digits and '_' stay, anything else
// becomes "-" and its hexadecimal bytes, so distinct groups keep distinct
// queues and the usual ones ("publisher") read as they are.
func groupName(g string) string {
	plain := true
	for i := 0; i < len(g); i++ {
		if !plainByte(g[i]) {
			plain = false
			break
		}
	}
	if plain {
		return g
	}
	var s strings.Builder
	for i := 0; i < len(g); i++ {
		if c := g[i]; plainByte(c) {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "-%02X", c)
		}
	}
	return s.String()
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// Publish sends each message as a persistent message and returns once the
// broker confirmed every one with a receipt, which ActiveMQ sends after
// storing the message. A batch is sent in order without waiting, then its
// receipts are awaited together; a failure of some messages does not undo
// the others: the outbox publishes them again and consumers deduplicate.
func (b *Bus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	if err := busdriver.ValidateMessages(msgs); err != nil {
		return err
	}
	if err := checkSizes(msgs); err != nil {
		return err
	}
	if b.isClosed() {
		return busdriver.ErrClosed
	}
	receipts := make([]*stompc.Receipt, len(msgs))
	var errList []error
	for i, m := range msgs {
		h := stompc.NewFrame(stompc.CmdSend,
			"persistent", "true",
			headerID, m.ID,
			headerTopic, m.Topic).Header
		if len(m.Metadata) > 0 {
			h.Add(headerMetadata, encodeMetadata(m.Metadata))
		}
		r, err := b.pub.SendAsync(ctx, b.topicDest(m.Topic), m.Payload, h)
		if err != nil {
			errList = append(errList, publishErr(m, err))
			continue
		}
		receipts[i] = r
	}
	for i, r := range receipts {
		if r == nil {
			continue
		}
		if err := r.Wait(ctx); err != nil {
			errList = append(errList, publishErr(msgs[i], err))
		}
	}
	return errors.Join(errList...)
}

func publishErr(m *bus.Message, err error) error {
	return fmt.Errorf("bus stomp: publishing %s %s: %w", m.Topic, m.ID, classify(err))
}

// classify gives errors of the client the kind callers act on.
func classify(err error) error {
	switch {
	case errors.Is(err, stompc.ErrClosed):
		return busdriver.ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(err, errs.Unavailable, "the event broker did not confirm in time")
	}
	return errs.Wrap(err, errs.Unavailable, "the event broker is unavailable")
}

// checkSizes refuses what ActiveMQ would refuse, before anything is sent.
func checkSizes(msgs []*bus.Message) error {
	var f errs.Fields
	for i, m := range msgs {
		if len(m.Payload) > MaxPayload {
			f.Add(fmt.Sprintf("msgs[%d].payload", i), "is %d bytes; this bus carries at most %d", len(m.Payload), MaxPayload)
		}
		if len(m.Metadata) > 0 {
			if n := len(encodeMetadata(m.Metadata)); n > MaxMetadata {
				f.Add(fmt.Sprintf("msgs[%d].metadata", i), "encodes to %d bytes; this bus carries at most %d", n, MaxMetadata)
			}
		}
	}
	return f.Err()
}

// encodeMetadata packs metadata into one header value: STOMP header names
// become JMS property names on ActiveMQ, which do not take every string a
// metadata key may be.
func encodeMetadata(md map[string]string) string {
	v := make(url.Values, len(md))
	for k, x := range md {
		v.Set(k, x)
	}
	return v.Encode()
}

func decodeMetadata(s string) (map[string]string, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, err
	}
	md := make(map[string]string, len(v))
	for k, xs := range v {
		md[k] = xs[0]
	}
	return md, nil
}

// Subscribe consumes group's queue of topic with client-individual
// acknowledgements and a prefetch of the subscription's concurrency, so the
// broker never hands this subscriber more than it can run at once. See the
// package documentation for what happens after a handler error.
func (b *Bus) Subscribe(ctx context.Context, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) (bus.Subscription, error) {
	if err := busdriver.ValidateSubscribe(topic, group, h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.isClosed() {
		return nil, busdriver.ErrClosed
	}
	o := bus.ApplyOptions(opts)
	dest := b.groupDest(topic, group)
	extra := stompc.NewFrame(stompc.CmdSubscribe, "activemq.prefetchSize", strconv.Itoa(o.Concurrency)).Header
	ss, err := b.sub.Subscribe(ctx, dest, stompc.AckClientIndividual, extra)
	if err != nil {
		if errors.Is(err, stompc.ErrClosed) {
			return nil, busdriver.ErrClosed
		}
		return nil, errs.Wrap(fmt.Errorf("bus stomp: subscribing to %s: %w", dest, err), errs.Unavailable, "the event bus could not subscribe")
	}
	s := &subscription{
		b: b, ss: ss, topic: topic, group: group, dest: dest, backoff: o.Backoff,
		// No keep-alive: ActiveMQ puts no deadline on an acknowledgement.
		run:      busdriver.NewRunner(ctx, topic, group, h, o.Concurrency, 0),
		received: make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.run.Stop()
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = ss.Unsubscribe(uctx)
		return nil, busdriver.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	// Cancelling ctx ends the subscription like Close.
	s.unhook = context.AfterFunc(s.run.Context(), s.stop)
	go s.receive()
	return s, nil
}

// Features: messages are persistent and confirmed by receipts, and group
// queues outlive the bus, so accepted messages survive a broker restart.
// An ActiveMQ queue hands one consumer its messages in the order they
// arrived, and nothing reorders them short of a redelivery.
func (b *Bus) Features() bus.Features {
	return bus.Features{Durable: true, OrderedPerTopic: true}
}

// Ping checks that the broker answers on both connections.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return busdriver.ErrClosed
	}
	for _, c := range []*stompc.Client{b.pub, b.sub} {
		if err := c.Ping(ctx); err != nil {
			if errors.Is(err, stompc.ErrClosed) {
				return busdriver.ErrClosed
			}
			return errs.Wrap(fmt.Errorf("bus stomp: %w", err), errs.Unavailable, "ActiveMQ does not answer")
		}
	}
	return nil
}

// Close ends every subscription, waiting for their running handlers, then
// disconnects. Close may be called more than once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	defer close(b.done)

	// Stop all first, so handlers wind down together.
	for _, s := range subs {
		s.run.Stop()
	}
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.stop)
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The receipt of DISCONNECT proves every acknowledgement was processed;
	// without it (a broker gone), they are redelivered, which is allowed.
	if err := b.sub.Close(ctx); err != nil {
		b.log.Warn("bus stomp: disconnecting the subscriber connection", "err", err)
	}
	if err := b.pub.Close(ctx); err != nil {
		b.log.Warn("bus stomp: disconnecting the publisher connection", "err", err)
	}
	return nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

type subscription struct {
	b            *Bus
	ss           *stompc.Subscription
	topic, group string
	dest         string
	backoff      time.Duration
	run          *busdriver.Runner
	unhook       func() bool
	// received is closed when the receive loop has returned.
	received chan struct{}
	stopOnce sync.Once
}

// receive hands each message the broker delivers to the runner, which
// holds it back while all handler slots are busy.
func (s *subscription) receive() {
	defer close(s.received)
	ctx := s.run.Context()
	for {
		m, err := s.ss.Next(ctx)
		if err != nil {
			return // stopped, or the bus closed
		}
		msg := s.decode(m)
		// When the runner refuses (stopping), the message stays
		// unacknowledged and the broker takes it back on UNSUBSCRIBE.
		if !s.run.Go(msg, nil, func(err error) { s.settle(m, msg, err) }) {
			return
		}
	}
}

func (s *subscription) decode(m *stompc.Message) *bus.Message {
	msg := &bus.Message{Topic: s.topic, ID: m.Header.Get(headerID), Payload: m.Body, Delivery: 1}
	if msg.ID == "" {
		// Published by something else than Herald: the broker's id is
		// stable across redeliveries too.
		msg.ID = m.Header.Get("message-id")
	}
	if raw, ok := m.Header.Lookup(headerMetadata); ok {
		md, err := decodeMetadata(raw)
		if err != nil {
			s.b.log.Warn("bus stomp: unreadable metadata; delivering without", "topic", s.topic, "id", msg.ID, "err", err)
		}
		msg.Metadata = md
	}
	if n, err := strconv.Atoi(m.Header.Get(headerDelivery)); err == nil && n > 1 {
		msg.Delivery = n
	}
	if m.Redelivered() {
		msg.Delivery++
	}
	return msg
}

// settle acknowledges a handled message, or requeues a failed one after the
// backoff. It runs in the handler's slot, so a message waiting out its
// backoff counts against the subscription's concurrency, as it does
// against the broker's prefetch.
func (s *subscription) settle(m *stompc.Message, msg *bus.Message, herr error) {
	ctx := s.run.Context()
	if herr == nil {
		// Acknowledged even when stopping: the work is done. The ACK
		// itself is not awaited; a lost one means a redelivery.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.b.sub.Ack(actx, m); err != nil {
			s.b.log.Debug("bus stomp: acknowledgement not sent; the broker delivers the message again", "topic", s.topic, "group", s.group, "id", msg.ID, "err", err)
		}
		return
	}
	for attempt := 0; ; attempt++ {
		if !sleep(ctx, s.backoff<<min(attempt, 6)) {
			return // stopping: unacknowledged, so the broker takes it back
		}
		err := s.requeue(ctx, m, msg)
		if err == nil || errors.Is(err, stompc.ErrStale) || errors.Is(err, stompc.ErrConnectionLost) || ctx.Err() != nil {
			return // done, or the broker takes the original back
		}
		s.b.log.Warn("bus stomp: requeueing a failed message; trying again", "topic", s.topic, "group", s.group, "id", msg.ID, "handler_err", herr, "err", err)
	}
}

// requeue puts a copy of m at the back of the group's queue, with the
// delivery count one up, and acknowledges the original, in one
// transaction: the broker holds either the original or the copy, never
// both nor neither. ActiveMQ's own NACK would move the message to its
// dead-letter queue at once, and its redelivery delays need the broker's
// scheduler, which this adapter does not assume.
func (s *subscription) requeue(ctx context.Context, m *stompc.Message, msg *bus.Message) error {
	h := stompc.NewFrame(stompc.CmdSend,
		"persistent", "true",
		headerID, msg.ID,
		headerTopic, msg.Topic,
		headerDelivery, strconv.Itoa(msg.Delivery+1)).Header
	if raw, ok := m.Header.Lookup(headerMetadata); ok {
		h.Add(headerMetadata, raw)
	}
	tx, err := s.b.sub.Begin(ctx)
	if err != nil {
		return err
	}
	if err = tx.Send(ctx, s.dest, m.Body, h); err == nil {
		err = tx.Ack(ctx, m)
	}
	if err == nil {
		return tx.Commit(ctx)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Abort(actx) // the broker aborts it anyway if the connection ended
	return err
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

// stop ends delivery, waits for running handlers (and their
// acknowledgements), then unsubscribes, which gives the broker back what
// was delivered and not acknowledged. It runs once; later calls wait for
// the first.
func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		s.run.Stop()
		<-s.received
		s.run.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.ss.Unsubscribe(ctx); err != nil {
			s.b.log.Warn("bus stomp: unsubscribing", "dest", s.dest, "err", err)
		}
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
	})
}

// Close stops delivery to this subscription and returns once its running
// handlers have returned. A handler must not close its own subscription:
// Close would wait for that handler forever.
func (s *subscription) Close() error {
	if s.unhook != nil {
		s.unhook()
	}
	s.stop()
	return nil
}

// Interface guards.
var (
	_ bus.Bus          = (*Bus)(nil)
	_ bus.Subscription = (*subscription)(nil)
)
