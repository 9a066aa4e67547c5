package mem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
)

func init() { bus.Register("mem", Open) }

// ErrClosed is returned by every operation on a closed bus.
var ErrClosed = bus.ErrClosed

// Open opens a new, independent in-process bus for the URL "mem://", which
// takes no host, path or query.
func Open(_ context.Context, u *url.URL) (bus.Bus, error) {
	if u.Host != "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		var f errs.Fields
		f.Add("url", "the in-process bus takes no host, path or query: use mem://")
		return nil, f.Err()
	}
	return New(), nil
}

// Bus is the in-process bus. It is safe for concurrent use.
type Bus struct {
	// done is closed by Close; publishers waiting for a free handler watch it.
	done chan struct{}
	// workers counts the handler goroutines of every subscription, so Close
	// can wait for all of them, including those of subscriptions that ended
	// on their own.
	workers sync.WaitGroup

	mu     sync.RWMutex
	closed bool
	// topics maps a topic to the groups subscribed to it. A slice stored
	// here is never modified, only replaced, so Publish can keep using the
	// one it read after releasing mu.
	topics map[string][]*group
	// subs are the live subscriptions, for Close.
	subs map[*subscription]struct{}
}

// New returns an open in-process bus.
func New() *Bus {
	return &Bus{
		done:   make(chan struct{}),
		topics: make(map[string][]*group),
		subs:   make(map[*subscription]struct{}),
	}
}

// group is one consumer group of one topic. Its subscribers' handler
// goroutines all receive from work, which makes them competing consumers:
// whichever handler is free takes the next message.
type group struct {
	topic, name string
	// work is unbuffered, so a publisher's send completes only when a handler
	// is free to run the message. That is the bus's backpressure, and it is
	// why there is no queue to bound.
	work chan *delivery
	// gone is closed when the last subscriber leaves.
	gone chan struct{}
	// members is guarded by Bus.mu.
	members int
}

// delivery is one attempt to have a group handle a message.
type delivery struct {
	msg *bus.Message
	// result has room for one result, so a handler goroutine never blocks
	// on a publisher that has stopped waiting.
	result chan result
}

type result struct {
	err     error
	backoff time.Duration
	// requeue: the subscriber stopped before running the handler, so the
	// attempt does not count and goes to another subscriber at once.
	requeue bool
}

// Publish delivers msgs to every group subscribed to their topics and
// returns once each group has acknowledged each message, or with an error
// when ctx ends or the bus closes first. Messages are delivered
// concurrently, in no particular order.
func (b *Bus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	if err := bus.ValidateMessages(msgs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	type job struct {
		g *group
		m *bus.Message
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	// The common case, one message for at most one group, is delivered
	// without a job list or a goroutine.
	if len(msgs) == 1 {
		if gs := b.topics[msgs[0].Topic]; len(gs) <= 1 {
			b.mu.RUnlock()
			if len(gs) == 0 {
				return nil // nobody is interested
			}
			return b.deliver(ctx, gs[0], msgs[0])
		}
	}
	var jobs []job
	for _, m := range msgs {
		for _, g := range b.topics[m.Topic] {
			jobs = append(jobs, job{g, m})
		}
	}
	b.mu.RUnlock()

	errList := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { errList[i] = b.deliver(ctx, j.g, j.m) })
	}
	wg.Wait()
	return errors.Join(errList...)
}

// deliver has g handle src, retrying after each handler error, until a
// handler acknowledges it, ctx ends or the bus closes.
func (b *Bus) deliver(ctx context.Context, g *group, src *bus.Message) error {
	// Each group gets its own copy, so a handler that changes the message
	// cannot affect another group, nor the publisher's buffers.
	base := bus.Message{
		ID:       src.ID,
		Topic:    src.Topic,
		Payload:  bytes.Clone(src.Payload),
		Metadata: maps.Clone(src.Metadata),
	}
	d := &delivery{result: make(chan result, 1)}
	var lastErr error
	for attempt := 1; ; {
		m := base
		m.Delivery = attempt
		d.msg = &m

		select {
		case g.work <- d:
		case <-g.gone:
			// The group's last subscriber left. Close also makes groups
			// go, and must not pass for an acknowledgement.
			if b.isClosed() {
				return fmt.Errorf("bus mem: delivering %s %s: %w", m.Topic, m.ID, ErrClosed)
			}
			return nil
		case <-b.done:
			return fmt.Errorf("bus mem: delivering %s %s: %w", m.Topic, m.ID, ErrClosed)
		case <-ctx.Done():
			return giveUp(ctx, g, &m, lastErr)
		}

		var r result
		select {
		case r = <-d.result:
		case <-ctx.Done():
			// The handler goes on; what it does is at-least-once anyway.
			return giveUp(ctx, g, &m, lastErr)
		}
		switch {
		case r.requeue:
			continue
		case r.err == nil:
			return nil
		}
		lastErr = r.err
		attempt++

		if r.backoff > 0 {
			t := time.NewTimer(r.backoff)
			select {
			case <-t.C:
			case <-b.done:
				t.Stop()
				return fmt.Errorf("bus mem: delivering %s %s: %w (last handler error: %v)", m.Topic, m.ID, ErrClosed, lastErr)
			case <-ctx.Done():
				t.Stop()
				return giveUp(ctx, g, &m, lastErr)
			}
		}
	}
}

func giveUp(ctx context.Context, g *group, m *bus.Message, lastErr error) error {
	if lastErr != nil {
		return fmt.Errorf("bus mem: %s %s not acknowledged by group %q after %d deliveries: %w (last handler error: %v)",
			m.Topic, m.ID, g.name, m.Delivery, ctx.Err(), lastErr)
	}
	return fmt.Errorf("bus mem: %s %s not acknowledged by group %q: %w", m.Topic, m.ID, g.name, ctx.Err())
}

func (b *Bus) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Subscribe starts delivering topic's messages to h as a member of group.
// The subscription ends when ctx is cancelled or it is closed.
func (b *Bus) Subscribe(ctx context.Context, topic, groupName string, h bus.Handler, opts ...bus.SubscribeOption) (bus.Subscription, error) {
	if err := bus.ValidateSubscribe(topic, groupName, h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	s := &subscription{b: b, h: h, opts: bus.ApplyOptions(opts)}
	// Handlers run with a context derived from ctx: they see its values, and
	// learn that the subscription ended through its cancellation.
	s.ctx, s.cancel = context.WithCancel(ctx)

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.cancel()
		return nil, ErrClosed
	}
	s.g = b.join(topic, groupName)
	b.subs[s] = struct{}{}
	// Added under mu, so Close, which sets closed under mu before waiting,
	// never waits on a counter that can still grow.
	b.workers.Add(s.opts.Concurrency)
	s.workers.Add(s.opts.Concurrency)
	b.mu.Unlock()

	for range s.opts.Concurrency {
		go s.work()
	}
	// Cancelling ctx ends the subscription like Close, without waiting.
	s.stop = context.AfterFunc(s.ctx, s.leave)
	return s, nil
}

// join adds a member to the group, creating it if needed. b.mu is held.
func (b *Bus) join(topic, name string) *group {
	gs := b.topics[topic]
	for _, g := range gs {
		if g.name == name {
			g.members++
			return g
		}
	}
	g := &group{topic: topic, name: name, work: make(chan *delivery), gone: make(chan struct{}), members: 1}
	// Appending to a clipped slice copies it: the old one stays intact for
	// publishers still using it.
	b.topics[topic] = append(slices.Clip(gs), g)
	return g
}

// drop removes a group that lost its last member. b.mu is held.
func (b *Bus) drop(g *group) {
	gs := slices.DeleteFunc(slices.Clone(b.topics[g.topic]), func(x *group) bool { return x == g })
	if len(gs) == 0 {
		delete(b.topics, g.topic)
	} else {
		b.topics[g.topic] = gs
	}
	close(g.gone)
}

// Features: Publish waits for every group, which is what Durable means for
// an in-process bus; concurrent handlers and retries give no order.
func (b *Bus) Features() bus.Features {
	return bus.Features{Durable: true, PublishWaitsForHandlers: true}
}

// Ping reports ErrClosed once the bus is closed.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return ErrClosed
	}
	return ctx.Err()
}

// Close ends every subscription, cancelling their handlers' contexts, and
// returns once every handler has returned. Publish calls still waiting then
// return ErrClosed. Close may be called more than once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.workers.Wait()
		return nil
	}
	b.closed = true
	close(b.done)
	subs := slices.Collect(maps.Keys(b.subs))
	b.mu.Unlock()

	// Cancel all first, so handlers wind down together rather than one
	// subscription after another.
	for _, s := range subs {
		s.cancel()
	}
	for _, s := range subs {
		s.leave()
	}
	b.workers.Wait()
	return nil
}

type subscription struct {
	b    *Bus
	g    *group
	h    bus.Handler
	opts bus.SubscribeOptions

	ctx    context.Context
	cancel context.CancelFunc
	// stop unregisters the leave-on-cancel hook.
	stop func() bool

	workers   sync.WaitGroup
	leaveOnce sync.Once
	closeOnce sync.Once
}

// work runs one handler slot until the subscription ends.
func (s *subscription) work() {
	defer s.b.workers.Done()
	defer s.workers.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.g.work:
			// Both cases may have been ready: an ended subscription hands
			// the message back instead of running its handler.
			if s.ctx.Err() != nil {
				d.result <- result{requeue: true}
				return
			}
			d.result <- result{err: s.handle(d.msg), backoff: s.opts.Backoff}
		}
	}
}

func (s *subscription) handle(m *bus.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bus mem: handler of group %q panicked on %s %s: %v\n%s", s.g.name, m.Topic, m.ID, p, debug.Stack())
		}
	}()
	return s.h(s.ctx, m)
}

// leave takes the subscription out of its group and of the bus.
func (s *subscription) leave() {
	s.leaveOnce.Do(func() {
		b := s.b
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, s)
		s.g.members--
		if s.g.members == 0 {
			b.drop(s.g)
		}
	})
}

// Close stops delivery to this subscription and returns once its running
// handlers have returned. A handler must not close its own subscription:
// Close would wait for that handler forever.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.cancel()
		s.leave()
		s.workers.Wait()
	})
	return nil
}

// Interface guards.
var (
	_ bus.Bus          = (*Bus)(nil)
	_ bus.Subscription = (*subscription)(nil)
)
