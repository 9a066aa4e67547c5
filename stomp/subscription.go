package stomp

import (
	"context"
	"errors"
	"sync"
)

// Message is a MESSAGE frame delivered to a subscription.
type Message struct {
	// Destination is where the server took the message from.
	Destination string
	// Header holds every header of the frame (message-id, subscription,
	// ack, the sender's own headers...).
	Header Header
	Body   []byte

	sub   *Subscription
	conn  *conn
	ackID string
}

// Subscription returns the subscription the message was delivered to.
func (m *Message) Subscription() *Subscription { return m.sub }

// Redelivered reports whether the server says it delivered the message
// before (the redelivered header, which ActiveMQ sets).
func (m *Message) Redelivered() bool { return m.Header.Get("redelivered") == "true" }

// Subscription receives the messages of one SUBSCRIBE. It survives
// reconnections: the client subscribes again under the same id.
type Subscription struct {
	c    *Client
	id   string
	dest string
	// header is the SUBSCRIBE's, sent again on each new connection.
	header Header

	// mu guards the queue of messages not yet taken by Next. The queue is
	// not bounded here: the broker bounds it (prefetch, ack mode), and
	// blocking the connection's reader instead would stall every other
	// subscription.
	mu     sync.Mutex
	queue  []*Message
	signal chan struct{} // one token: the queue grew
	done   chan struct{} // closed when the subscription ended
	ended  sync.Once

	// subMu serializes SUBSCRIBE and UNSUBSCRIBE of this subscription, so
	// a reconnection and an Unsubscribe never cross.
	subMu sync.Mutex
	on    *conn // the connection it is subscribed on
}

func newSubscription(c *Client, id, dest string, ack AckMode, extra Header) *Subscription {
	h := extra.Clone()
	h.Set("id", id)
	h.Set("destination", dest)
	h.Set("ack", string(ack))
	return &Subscription{
		c: c, id: id, dest: dest, header: h,
		signal: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// ID is the subscription id sent in SUBSCRIBE.
func (s *Subscription) ID() string { return s.id }

// Destination is what the subscription subscribed to.
func (s *Subscription) Destination() string { return s.dest }

// Next returns the next message, waiting until one arrives, ctx ends or the
// subscription ends (ErrUnsubscribed). Messages that arrived on a
// connection that has since ended are skipped: the broker took them back.
func (s *Subscription) Next(ctx context.Context) (*Message, error) {
	for {
		if m := s.pop(); m != nil {
			return m, nil
		}
		select {
		case <-s.signal:
		case <-s.done:
			return nil, ErrUnsubscribed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Subscription) pop() *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 {
		m := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
		if !m.conn.ended() {
			return m
		}
	}
	return nil
}

func (s *Subscription) push(m *Message) {
	s.mu.Lock()
	if s.isEnded() {
		// Nobody will take it; unacknowledged, the broker keeps it.
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *Subscription) onConn() *conn {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	return s.on
}

func (s *Subscription) isEnded() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// subscribeOn sends the SUBSCRIBE on nc unless it was sent there already.
func (s *Subscription) subscribeOn(ctx context.Context, nc *conn) error {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.isEnded() {
		return ErrUnsubscribed
	}
	if s.on == nc {
		return nil
	}
	// Registered first: the first MESSAGE may follow the RECEIPT at once.
	nc.mu.Lock()
	nc.subs[s.id] = s
	nc.mu.Unlock()
	f := &Frame{Command: CmdSubscribe, Header: s.header.Clone()}
	if err := nc.request(ctx, f); err != nil {
		nc.mu.Lock()
		delete(nc.subs, s.id)
		nc.mu.Unlock()
		return err
	}
	s.on = nc
	return nil
}

// Unsubscribe ends the subscription: it stops Next, then tells the server
// and waits for its receipt, bounded by ctx. Messages delivered but not
// acknowledged go back to the broker. Unsubscribe may be called more than
// once; a subscription of a closed client is already ended.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.c.mu.Lock()
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
	s.end()

	s.subMu.Lock()
	defer s.subMu.Unlock()
	nc := s.on
	s.on = nil
	if nc == nil {
		return nil
	}
	defer func() {
		nc.mu.Lock()
		delete(nc.subs, s.id)
		nc.mu.Unlock()
	}()
	if nc.ended() {
		return nil // the subscription ended with its connection
	}
	err := nc.request(ctx, NewFrame(CmdUnsubscribe, "id", s.id))
	if errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// end stops Next and drops the queue.
func (s *Subscription) end() {
	s.ended.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.queue = nil
		s.mu.Unlock()
	})
}
