package amqp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/errs"
)

func init() {
	bus.Register("amqp", Open)
	bus.Register("amqps", Open)
}

// Headers Herald sets on a message.
const (
	// metadataHeader is a table holding Message.Metadata.
	metadataHeader = "herald-metadata"
	// deliveryHeader counts deliveries made through the retry queue.
	deliveryHeader = "herald-delivery"
	// brokerDeliveryCount is the quorum queue's count of earlier deliveries
	// that were requeued.
	brokerDeliveryCount = "x-delivery-count"
)

// Pauses and bounds of the plumbing around the handlers.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
	// settleTimeout bounds parking a failed message in the retry queue.
	settleTimeout = 10 * time.Second
	// drainTimeout bounds giving back a stopping subscription's deliveries.
	drainTimeout = 5 * time.Second
)

type config struct {
	uri       string // the URL without its query, for the client
	exchange  string
	prefix    string
	queueType string // quorum, classic or auto
	prefetch  int
	expires   time.Duration
	heartbeat time.Duration
	timeout   time.Duration
	name      string
}

func parseURL(u *url.URL) (config, error) {
	q := busdriver.NewQuery(u.Query())
	if u.Opaque != "" || u.Host == "" {
		q.Fail("url", "must be %s://[user:password@]host:port[/vhost][?options]", u.Scheme)
	}
	c := config{
		exchange:  q.String("exchange", "herald"),
		prefix:    q.String("prefix", "herald"),
		queueType: q.OneOf("queue_type", "auto", "auto", "quorum", "classic"),
		prefetch:  q.Int("prefetch", 0, 0),
		expires:   q.Duration("expires", 0, 0),
		heartbeat: q.Duration("heartbeat", 10*time.Second, time.Second),
		timeout:   q.Duration("connect_timeout", 5*time.Second, 100*time.Millisecond),
		name:      q.String("name", "herald"),
	}
	if strings.HasPrefix(c.exchange, "amq.") {
		q.Fail("exchange", "must not start with \"amq.\", which the broker reserves")
	}
	if strings.HasPrefix(c.prefix, "amq.") {
		q.Fail("prefix", "must not start with \"amq.\", which the broker reserves")
	}
	if len(c.prefix) > 100 {
		q.Fail("prefix", "must be at most 100 bytes, so queue names stay within the broker's 255")
	}
	if err := q.Err(); err != nil {
		return config{}, err
	}
	bare := *u
	bare.RawQuery = ""
	bare.ForceQuery = false
	if _, err := amqp091.ParseURI(bare.String()); err != nil {
		var f errs.Fields
		f.Add("url", "%s", strings.ReplaceAll(err.Error(), bare.String(), busdriver.Redact(&bare, false)))
		return config{}, f.Err()
	}
	c.uri = bare.String()
	return c, nil
}

// Open connects to the broker of u and declares the exchange. It fails
// within the connect timeout, with one line naming the address (credentials
// redacted) and the cause, when the broker cannot be reached or refuses the
// credentials.
func Open(ctx context.Context, u *url.URL) (bus.Bus, error) {
	c, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	b := &Bus{
		cfg:    c,
		log:    slog.Default().With("bus", busdriver.Redact(u, false)),
		done:   make(chan struct{}),
		subs:   make(map[*subscription]struct{}),
		link:   newLink(),
		exited: make(chan struct{}),
	}
	l, err := b.connect(ctx)
	if err != nil {
		return nil, busdriver.OpenError(u, false, err)
	}
	b.quorum = c.queueType == "quorum" || c.queueType == "auto" && supportsQuorum(l.conn.Properties)
	b.setUp(l)
	go b.supervise(l)
	return b, nil
}

// supportsQuorum: RabbitMQ 3.10 brought quorum queues the per-message TTL
// and at-least-once dead-lettering that the retry queue relies on.
func supportsQuorum(server amqp091.Table) bool {
	if p, _ := server["product"].(string); p != "RabbitMQ" {
		return false
	}
	v, _ := server["version"].(string)
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && (ma > 3 || ma == 3 && mi >= 10)
}

// Bus is the RabbitMQ bus. It is safe for concurrent use.
type Bus struct {
	cfg    config
	log    *slog.Logger
	quorum bool

	// done is closed when Close starts; exited when the supervisor ends.
	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	closed bool
	link   *link
	subs   map[*subscription]struct{}
}

// link is one connection with its publishing channel. up is closed once
// conn and pub are set; a lost link is replaced by a new one, not reused,
// and gone is closed once its replacement is in place.
type link struct {
	up       chan struct{}
	gone     chan struct{}
	conn     *amqp091.Connection
	pub      *amqp091.Channel
	connLost chan *amqp091.Error
	pubLost  chan *amqp091.Error
}

// connect dials the broker and sets up what the bus itself needs: the
// exchange, and a channel in confirm mode for publishing.
func (b *Bus) connect(ctx context.Context) (*link, error) {
	cfg := amqp091.Config{
		Heartbeat:  b.cfg.heartbeat,
		Properties: amqp091.NewConnectionProperties(),
		Dial:       amqp091.DefaultDial(b.cfg.timeout),
	}
	cfg.Properties.SetClientConnectionName(b.cfg.name)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	conn, err := busdriver.Await(ctx, func() (*amqp091.Connection, error) { return amqp091.DialConfig(b.cfg.uri, cfg) },
		func(c *amqp091.Connection) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	l := &link{conn: conn, connLost: conn.NotifyClose(make(chan *amqp091.Error, 1))}
	fail := func(what string, err error) (*link, error) {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if l.pub, err = conn.Channel(); err != nil {
		return fail("opening a channel", err)
	}
	l.pubLost = l.pub.NotifyClose(make(chan *amqp091.Error, 1))
	if err := l.pub.ExchangeDeclare(b.cfg.exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fail(fmt.Sprintf("declaring exchange %q", b.cfg.exchange), err)
	}
	if err := l.pub.Confirm(false); err != nil {
		return fail("enabling publisher confirms", err)
	}
	return l, nil
}

// setUp fills the bus's waiting link with l's connection; subscriptions
// and publishers waiting for a connection go on. A connection made after
// Close started is closed instead.
func (b *Bus) setUp(l *link) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		_ = l.conn.Close()
		return false
	}
	cur := b.link
	cur.conn, cur.pub, cur.connLost, cur.pubLost = l.conn, l.pub, l.connLost, l.pubLost
	close(cur.up)
	return true
}

// newLink makes a link waiting for a connection.
func newLink() *link { return &link{up: make(chan struct{}), gone: make(chan struct{})} }

// supervise waits for the link to be lost, then reconnects with a growing
// pause until it succeeds or the bus closes.
func (b *Bus) supervise(l *link) {
	defer close(b.exited)
	for {
		var cause *amqp091.Error
		select {
		case <-b.done:
			return
		case cause = <-l.connLost:
		case cause = <-l.pubLost:
		}
		if b.isClosed() {
			return
		}
		b.log.Warn("bus: connection to RabbitMQ lost, reconnecting", "err", cause)
		b.mu.Lock()
		lost := b.link
		b.link = newLink()
		b.mu.Unlock()
		close(lost.gone)
		_ = l.conn.Close() // the channel alone may have gone

		wait := reconnectMin
		for {
			select {
			case <-b.done:
				return
			case <-time.After(wait):
			}
			next, err := b.connect(context.Background())
			if err == nil {
				if !b.setUp(next) {
					return
				}
				b.log.Info("bus: reconnected to RabbitMQ")
				l = next
				break
			}
			b.log.Warn("bus: reconnecting to RabbitMQ", "err", err, "retry_in", wait)
			wait = min(wait*2, reconnectMax)
		}
	}
}

// current waits until the bus is connected and returns its link. A link
// whose connection has just dropped is passed over for its replacement.
func (b *Bus) current(ctx context.Context) (*link, error) {
	for {
		b.mu.Lock()
		closed, l := b.closed, b.link
		b.mu.Unlock()
		if closed {
			return nil, busdriver.ErrClosed
		}
		wait := l.up
		select {
		case <-l.up:
			if !l.conn.IsClosed() {
				return l, nil
			}
			wait = l.gone // the supervisor is about to replace it
		default:
		}
		select {
		case <-wait:
		case <-b.done:
			return nil, busdriver.ErrClosed
		case <-ctx.Done():
			return nil, errs.Wrap(ctx.Err(), errs.Unavailable, "the event bus is reconnecting to RabbitMQ")
		}
	}
}

func (b *Bus) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Publish sends msgs to the exchange and returns once the broker has
// confirmed every one (or ctx ends). They are sent together and confirmed
// one by one: on an error some may have been taken, and the outbox
// publishing them again is harmless to idempotent consumers.
func (b *Bus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	if err := busdriver.ValidateMessages(msgs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	confirms := make([]*amqp091.DeferredConfirmation, len(msgs))
	for i, m := range msgs {
		dc, err := b.send(ctx, b.cfg.exchange, m.Topic, publishing(m, 1))
		if err != nil {
			return b.publishErr(m, err)
		}
		confirms[i] = dc
	}
	var failed []error
	for i, dc := range confirms {
		if err := b.confirmed(ctx, dc); err != nil {
			failed = append(failed, b.publishErr(msgs[i], err))
		}
	}
	return errors.Join(failed...)
}

// send publishes on the current publishing channel, waiting for a
// connection within ctx.
func (b *Bus) send(ctx context.Context, exchange, key string, p amqp091.Publishing) (*amqp091.DeferredConfirmation, error) {
	l, err := b.current(ctx)
	if err != nil {
		return nil, err
	}
	return l.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, p)
}

// confirmed waits for the broker's confirm of one publishing.
func (b *Bus) confirmed(ctx context.Context, dc *amqp091.DeferredConfirmation) error {
	select {
	case <-dc.Done():
		if !dc.Acked() {
			// A nack, or the channel closed before the confirm came.
			return errors.New("the broker did not confirm it")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return busdriver.ErrClosed
	}
}

func (b *Bus) publishErr(m *bus.Message, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errs.KindOf(err) != errs.Internal:
		// It says what it is already.
	case b.isClosed():
		err = busdriver.ErrClosed
	default:
		err = errs.Wrap(err, errs.Unavailable, "the broker did not take the event")
	}
	return fmt.Errorf("bus amqp: publishing %s %s: %w", m.Topic, m.ID, err)
}

// publishing is m as AMQP carries it, as its delivery-th delivery.
func publishing(m *bus.Message, delivery int) amqp091.Publishing {
	p := amqp091.Publishing{
		DeliveryMode: amqp091.Persistent,
		MessageId:    m.ID,
		Timestamp:    time.Now(),
		Body:         m.Payload,
	}
	if len(m.Metadata) > 0 || delivery > 1 {
		p.Headers = amqp091.Table{}
	}
	if len(m.Metadata) > 0 {
		md := make(amqp091.Table, len(m.Metadata))
		for k, v := range m.Metadata {
			md[k] = v
		}
		p.Headers[metadataHeader] = md
	}
	if delivery > 1 {
		p.Headers[deliveryHeader] = int64(delivery)
	}
	return p
}

// decode turns a delivery into a Message; topic is the subscription's (a
// message back from the retry queue has the queue's name as routing key).
func decode(d *amqp091.Delivery, topic string) (*bus.Message, error) {
	if d.MessageId == "" {
		return nil, errors.New("no message-id: not published by a Herald bus")
	}
	m := &bus.Message{ID: d.MessageId, Topic: topic, Payload: d.Body, Delivery: 1}
	if md, ok := d.Headers[metadataHeader].(amqp091.Table); ok {
		m.Metadata = make(map[string]string, len(md))
		for k, v := range md {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("metadata %q is a %T, not a string", k, v)
			}
			m.Metadata[k] = s
		}
	}
	if n, ok := intHeader(d.Headers[deliveryHeader]); ok && n > 1 {
		m.Delivery = n
	}
	if n, ok := intHeader(d.Headers[brokerDeliveryCount]); ok {
		m.Delivery += n
	} else if d.Redelivered {
		m.Delivery++
	}
	return m, nil
}

func intHeader(v any) (int, bool) {
	switch n := v.(type) {
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

// Subscribe declares group's queues for topic and starts consuming. It
// returns once the consumer is registered, so messages published afterwards
// reach the group.
func (b *Bus) Subscribe(ctx context.Context, topic, group string, h bus.Handler, opts ...bus.SubscribeOption) (bus.Subscription, error) {
	if err := busdriver.ValidateSubscribe(topic, group, h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := bus.ApplyOptions(opts)
	if x := b.cfg.expires; x > 0 && o.Backoff > x/2 {
		var f errs.Fields
		f.Add("backoff", "must be at most half the bus's expires option (%v), or a message waiting out its backoff could outlive its retry queue", x)
		return nil, f.Err()
	}
	queue := b.cfg.prefix + "." + busdriver.Name(topic, group)
	s := &subscription{
		b:        b,
		topic:    topic,
		group:    group,
		queue:    queue,
		retry:    queue + ".retry",
		opts:     o,
		prefetch: b.cfg.prefetch,
		tag:      "herald-" + strings.ToLower(rand.Text()),
		runner:   busdriver.NewRunner(ctx, topic, group, h, o.Concurrency, 0),
		ended:    make(chan struct{}),
	}
	if s.prefetch == 0 {
		s.prefetch = o.Concurrency
	}
	l, err := b.current(ctx)
	if err != nil {
		s.runner.Stop()
		return nil, err
	}
	c, err := busdriver.Await(ctx, func() (consumer, error) { return s.setup(l) }, func(c consumer) { _ = c.ch.Close() })
	if err != nil {
		s.runner.Stop()
		if b.isClosed() {
			return nil, busdriver.ErrClosed
		}
		return nil, errs.Wrap(err, errs.Unavailable, "the event bus could not subscribe")
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.runner.Stop()
		_ = c.ch.Close()
		return nil, busdriver.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	// The runner's context is derived from ctx: cancelling ctx ends the
	// subscription like Close does.
	go s.run(c)
	return s, nil
}

// Features: persistent messages in durable queues survive a broker restart;
// a lone subscriber with concurrency 1 gets a queue's messages in order.
func (b *Bus) Features() bus.Features {
	return bus.Features{Durable: true, OrderedPerTopic: true}
}

// Ping checks that the bus is connected and that the broker answers on it
// (it opens a channel and checks the exchange).
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return busdriver.ErrClosed
	}
	b.mu.Lock()
	l := b.link
	b.mu.Unlock()
	select {
	case <-l.up:
	default:
		return errs.E(errs.Unavailable, "the event bus is reconnecting to RabbitMQ")
	}
	_, err := busdriver.Await(ctx, func() (struct{}, error) {
		ch, err := l.conn.Channel()
		if err != nil {
			return struct{}{}, err
		}
		defer ch.Close()
		return struct{}{}, ch.ExchangeDeclarePassive(b.cfg.exchange, amqp091.ExchangeTopic, true, false, false, false, nil)
	}, nil)
	if err != nil {
		if b.isClosed() {
			return busdriver.ErrClosed
		}
		return errs.Wrap(err, errs.Unavailable, "RabbitMQ does not answer")
	}
	return nil
}

// Close ends every subscription, waits for their running handlers and
// closes the connection. It may be called more than once.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.done)
		subs := slices.Collect(maps.Keys(b.subs))
		l := b.link
		b.mu.Unlock()

		for _, s := range subs {
			s.runner.Stop() // all handlers hear it at once
		}
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Go(func() { _ = s.Close() })
		}
		wg.Wait()
		select {
		case <-l.up:
			_ = l.conn.Close()
		default:
		}
		<-b.exited
	})
	return nil
}

type subscription struct {
	b            *Bus
	topic, group string
	queue, retry string
	opts         bus.SubscribeOptions
	prefetch     int
	tag          string
	runner       *busdriver.Runner
	ended        chan struct{}
}

// consumer is one channel consuming the group's queue.
type consumer struct {
	ch         *amqp091.Channel
	deliveries <-chan amqp091.Delivery
}

// setup opens a channel on l, declares the group's queues and binding, and
// starts consuming.
func (s *subscription) setup(l *link) (consumer, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return consumer{}, fmt.Errorf("opening a channel: %w", err)
	}
	fail := func(what string, err error) (consumer, error) {
		_ = ch.Close()
		return consumer{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return fail("setting the prefetch", err)
	}
	main, _ := s.queueArgs()
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, main); err != nil {
		return fail(fmt.Sprintf("declaring queue %q", s.queue), err)
	}
	if err := ch.QueueBind(s.queue, s.topic, s.b.cfg.exchange, false, nil); err != nil {
		return fail(fmt.Sprintf("binding queue %q to %q", s.queue, s.topic), err)
	}
	d, err := ch.Consume(s.queue, s.tag, false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Sprintf("consuming from %q", s.queue), err)
	}
	return consumer{ch: ch, deliveries: d}, nil
}

// queueArgs are the arguments of the group's queue and of its retry queue,
// whose expired messages go back to the group's queue.
func (s *subscription) queueArgs() (main, retry amqp091.Table) {
	main = amqp091.Table{}
	retry = amqp091.Table{
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": s.queue,
	}
	if s.b.quorum {
		main["x-queue-type"] = "quorum"
		retry["x-queue-type"] = "quorum"
		// At-least-once dead-lettering requires reject-publish overflow.
		retry["x-dead-letter-strategy"] = "at-least-once"
		retry["x-overflow"] = "reject-publish"
	}
	if x := s.b.cfg.expires; x > 0 {
		main["x-expires"] = x.Milliseconds()
		retry["x-expires"] = x.Milliseconds()
	}
	return main, retry
}

// run consumes until the subscription stops, setting up again on a new
// connection whenever the channel is lost.
func (s *subscription) run(c consumer) {
	defer close(s.ended)
	defer s.forget()
	stopped := s.runner.Context().Done()
	for {
		if !s.consume(c) {
			return
		}
		// The channel was lost (or the broker cancelled the consumer): wait
		// for the bus to reconnect, then set up again. Handlers still
		// running settle on the dead channel, which fails harmlessly: the
		// broker requeues their messages.
		_ = c.ch.Close()
		wait := reconnectMin
		for {
			l, err := s.b.current(s.runner.Context())
			if err == nil {
				if c, err = s.setup(l); err == nil {
					break
				}
			}
			if s.runner.Context().Err() != nil {
				s.runner.Wait()
				return
			}
			s.b.log.Warn("bus: subscribing again to RabbitMQ", "topic", s.topic, "group", s.group, "err", err)
			select {
			case <-stopped:
				s.runner.Wait()
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, reconnectMax)
		}
	}
}

// consume hands c's deliveries to the runner. It returns false when the
// subscription stopped (after giving back what it had not started and
// waiting for its handlers), true when the channel was lost.
func (s *subscription) consume(c consumer) bool {
	stopped := s.runner.Context().Done()
	for {
		select {
		case d, ok := <-c.deliveries:
			if !ok {
				return s.runner.Context().Err() == nil || s.stop(c) // lost, unless stopping
			}
			s.dispatch(&d)
		case <-stopped:
			return s.stop(c)
		}
	}
}

// stop cancels the consumer, requeues what was delivered but not started,
// waits for the running handlers (they settle on this channel), and closes
// the channel. It returns false, for consume.
func (s *subscription) stop(c consumer) bool {
	_ = c.ch.Cancel(s.tag, false)
	timeout := time.After(drainTimeout)
drain:
	for {
		select {
		case d, ok := <-c.deliveries:
			if !ok {
				break drain
			}
			_ = d.Nack(false, true)
		case <-timeout:
			break drain
		}
	}
	s.runner.Wait()
	_ = c.ch.Close()
	return false
}

func (s *subscription) dispatch(d *amqp091.Delivery) {
	m, err := decode(d, s.topic)
	if err != nil {
		// Redelivering what cannot be read would fail forever.
		s.b.log.Error("bus: dropping a message that is not a Herald event", "queue", s.queue, "err", err)
		_ = d.Reject(false)
		return
	}
	if !s.runner.Go(m, nil, func(err error) { s.settle(d, m, err) }) {
		_ = d.Nack(false, true) // stopping: let another subscriber have it now
	}
}

// settle acks a handled delivery. A failed one is parked in the retry queue
// for the backoff first, and acked once the broker confirmed the copy; if
// that fails it is requeued at once rather than risk losing it.
func (s *subscription) settle(d *amqp091.Delivery, m *bus.Message, err error) {
	if err == nil {
		_ = d.Ack(false)
		return
	}
	if perr := s.park(m); perr != nil {
		if !s.b.isClosed() {
			s.b.log.Warn("bus: could not park a failed message for its backoff; requeueing it now", "queue", s.queue, "id", m.ID, "err", perr)
		}
		_ = d.Nack(false, true)
		return
	}
	_ = d.Ack(false)
}

// park puts a copy of m in the group's retry queue, with the backoff as its
// time to live, and waits for the broker's confirm. The retry queue is
// declared here, at each failure, not with the group's queue: most groups
// never need one, and declaring it again restarts its expiry timer, so it
// cannot expire between the declaration and the copy.
func (s *subscription) park(m *bus.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	l, err := s.b.current(ctx)
	if err != nil {
		return err
	}
	_, args := s.queueArgs()
	_, err = busdriver.Await(ctx, func() (struct{}, error) {
		// A channel of its own: a declaration the broker refuses closes
		// the channel it was made on.
		ch, err := l.conn.Channel()
		if err != nil {
			return struct{}{}, err
		}
		defer ch.Close()
		_, err = ch.QueueDeclare(s.retry, true, false, false, false, args)
		return struct{}{}, err
	}, nil)
	if err != nil {
		return fmt.Errorf("declaring queue %q: %w", s.retry, err)
	}
	p := publishing(m, m.Delivery+1)
	p.Expiration = strconv.FormatInt(s.opts.Backoff.Milliseconds(), 10)
	dc, err := s.b.send(ctx, "", s.retry, p)
	if err != nil {
		return err
	}
	return s.b.confirmed(ctx, dc)
}

// Close stops consuming, gives back the deliveries not yet handled and
// returns once the running handlers have returned and their deliveries are
// settled. A handler must not close its own subscription: Close would wait
// for it.
func (s *subscription) Close() error {
	s.runner.Stop()
	<-s.ended
	return nil
}

// forget takes the ended subscription off the bus's list.
func (s *subscription) forget() {
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
}

// Interface guards.
var (
	_ bus.Bus          = (*Bus)(nil)
	_ bus.Subscription = (*subscription)(nil)
)
