package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/errs"
)

func init() { bus.Register("nats", Open) }

// metadataHeader carries Message.Metadata as a JSON object: one header
// keeps any key and any value (newlines included) intact, which one header
// per key would not.
const metadataHeader = "Herald-Metadata"

// Timeouts of the plumbing around the handlers, not of the handlers.
const (
	// pullExpiry bounds each pull request. Short, because a subscriber
	// that stops cannot withdraw the pull it has outstanding: until it
	// expires, the server may still deliver into it, and what it delivers
	// there comes again only after ack_wait.
	pullExpiry = 5 * time.Second
	// pullHeartbeat is how often the server tells an idle pull it is alive.
	// The client pulls again after missing two, which also bounds a stall
	// that nats.go can fall into: a message that arrives while the client
	// is still sending the pull it answers does not trigger the next pull
	// (pullSubscription.checkPending skips while fetchInProgress is set),
	// and nothing else does until the heartbeat check.
	pullHeartbeat = time.Second
	// drainTimeout bounds giving back a closing subscription's buffered
	// messages when the server cannot be reached.
	drainTimeout = 5 * time.Second
	// resubscribeWait is the pause before making a lost consumer again.
	resubscribeWait = 500 * time.Millisecond
	// publishAckTimeout bounds the client's own wait for a PubAck, so
	// futures abandoned by a cancelled Publish do not pile up.
	publishAckTimeout = time.Minute
)

// config is what the URL says.
type config struct {
	server  string // nats://host:port, without credentials
	user    *url.Userinfo
	stream  string
	prefix  string
	storage jetstream.StorageType
	// retention: limits (the default) keeps every message until max_age;
	// interest drops one once every group has it, but also, in a
	// server's shutdown, messages that arrive once its consumers are gone.
	retention jetstream.RetentionPolicy
	replicas  int
	maxAge    time.Duration
	dupes     time.Duration
	ackWait   time.Duration
	maxDeliv  int
	inactive  time.Duration
	timeout   time.Duration
	reqWait   time.Duration
	tls       bool
	name      string
}

func parseURL(u *url.URL) (config, error) {
	q := busdriver.NewQuery(u.Query())
	if u.Opaque != "" || u.Host == "" {
		q.Fail("url", "must be nats://[credentials@]host:port[?options]")
	}
	if u.Path != "" && u.Path != "/" {
		q.Fail("url", "takes no path: name the stream with ?stream=")
	}
	c := config{
		server:   "nats://" + u.Host,
		user:     u.User,
		stream:   q.String("stream", "HERALD"),
		prefix:   q.String("prefix", "herald"),
		replicas: q.Int("replicas", 1, 1),
		dupes:    q.Duration("duplicates", 2*time.Minute, time.Second),
		ackWait:  q.Duration("ack_wait", 10*time.Second, time.Second),
		maxDeliv: q.Int("max_deliver", -1, -1),
		inactive: q.Duration("inactive", 0, 0),
		timeout:  q.Duration("connect_timeout", 5*time.Second, 100*time.Millisecond),
		reqWait:  q.Duration("request_timeout", 5*time.Second, 100*time.Millisecond),
		tls:      q.Bool("tls", false),
		name:     q.String("name", "herald"),
	}
	switch q.OneOf("retention", "limits", "limits", "interest") {
	case "interest":
		c.retention = jetstream.InterestPolicy
		c.maxAge = q.Duration("max_age", 0, 0)
	default:
		c.retention = jetstream.LimitsPolicy
		c.maxAge = q.Duration("max_age", defaultMaxAge, 0)
	}
	switch q.OneOf("storage", "file", "file", "memory") {
	case "memory":
		c.storage = jetstream.MemoryStorage
	default:
		c.storage = jetstream.FileStorage
	}
	if c.maxDeliv == 0 {
		q.Fail("max_deliver", "must be -1 (no limit) or at least 1")
	}
	if strings.ContainsAny(c.stream, " \t\r\n.*>/\\") {
		q.Fail("stream", "must not contain whitespace, '.', '*', '>' or path separators")
	}
	if why := busdriver.CheckTopic(c.prefix); why != "" {
		q.Fail("prefix", "%s", why)
	}
	if err := q.Err(); err != nil {
		return config{}, err
	}
	return c, nil
}

// defaultMaxAge is how long a stream with limits retention keeps a
// message: the longest a group may fall behind (a consumer down for days)
// and still get everything.
const defaultMaxAge = 7 * 24 * time.Hour

// checkRetention refuses, with what to do, a stream that exists with the
// other retention: the server cannot change a stream's retention, and
// quietly using the other one would change what a restart may lose.
func checkRetention(ctx context.Context, js jetstream.JetStream, c config) error {
	st, err := js.Stream(ctx, c.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	have := st.CachedInfo().Config.Retention
	if have == c.retention {
		return nil
	}
	name := map[jetstream.RetentionPolicy]string{jetstream.LimitsPolicy: "limits", jetstream.InterestPolicy: "interest", jetstream.WorkQueuePolicy: "workqueue"}
	return fmt.Errorf("stream %q exists with %s retention, not %s: add retention=%s to the bus URL to keep it, or recreate the stream once it is drained",
		c.stream, name[have], name[c.retention], name[have])
}

// Open connects to the NATS server of u and makes sure the stream exists.
// It fails within the connect timeout, with one line naming the address
// (credentials redacted) and the cause, when the server cannot be reached,
// refuses the credentials or has JetStream disabled.
func Open(ctx context.Context, u *url.URL) (bus.Bus, error) {
	c, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	fail := func(err error) error { return busdriver.OpenError(u, true, err) }
	log := slog.Default().With("bus", busdriver.Redact(u, true))

	opts := []natsgo.Option{
		natsgo.Name(c.name),
		natsgo.Timeout(c.timeout),
		// Reconnect forever: a broker restart must not end the bus.
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250 * time.Millisecond),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				log.Warn("bus: disconnected from NATS, reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(*natsgo.Conn) { log.Info("bus: reconnected to NATS") }),
	}
	if c.user != nil {
		if p, ok := c.user.Password(); ok {
			opts = append(opts, natsgo.UserInfo(c.user.Username(), p))
		} else {
			opts = append(opts, natsgo.Token(c.user.Username()))
		}
	}
	if c.tls {
		opts = append(opts, natsgo.Secure())
	}
	nc, err := busdriver.Await(ctx, func() (*natsgo.Conn, error) { return natsgo.Connect(c.server, opts...) }, (*natsgo.Conn).Close)
	if err != nil {
		return nil, fail(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishAckTimeout), jetstream.WithDefaultTimeout(c.reqWait))
	if err != nil {
		nc.Close()
		return nil, fail(err)
	}
	sctx, cancel := context.WithTimeout(ctx, c.reqWait)
	defer cancel()
	if err := checkRetention(sctx, js, c); err != nil {
		nc.Close()
		return nil, fail(err)
	}
	stream, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:        c.stream,
		Description: "Herald's events",
		Subjects:    []string{c.prefix + ".>"},
		Retention:   c.retention,
		Storage:     c.storage,
		Replicas:    c.replicas,
		MaxAge:      c.maxAge,
		Duplicates:  c.dupes,
	})
	if err != nil {
		nc.Close()
		return nil, fail(fmt.Errorf("setting up stream %q: %w", c.stream, err))
	}
	return &Bus{
		nc:     nc,
		js:     js,
		stream: stream,
		cfg:    c,
		log:    log,
		done:   make(chan struct{}),
		subs:   make(map[*subscription]struct{}),
	}, nil
}

// Bus is the NATS JetStream bus. It is safe for concurrent use.
type Bus struct {
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	cfg    config
	log    *slog.Logger

	// done is closed when Close starts.
	done      chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

func (b *Bus) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *Bus) subject(topic string) string { return b.cfg.prefix + "." + topic }

// Publish stores msgs in the stream and returns once the server has
// acknowledged every one of them (or ctx ends). They are sent together and
// acknowledged one by one: on an error some may be stored, and publishing
// them again is harmless, as the server drops an id it has seen within the
// duplicates window.
func (b *Bus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	if err := busdriver.ValidateMessages(msgs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.isClosed() {
		return busdriver.ErrClosed
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		nm, err := b.encode(m)
		if err != nil {
			return err
		}
		f, err := b.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(b.cfg.stream))
		if err != nil {
			return b.publishErr(m, err)
		}
		futures[i] = f
	}
	var failed []error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed = append(failed, b.publishErr(msgs[i], err))
		case <-ctx.Done():
			return fmt.Errorf("bus nats: waiting for the server to store %s %s: %w", msgs[i].Topic, msgs[i].ID, ctx.Err())
		case <-b.done:
			return fmt.Errorf("bus nats: waiting for the server to store %s %s: %w", msgs[i].Topic, msgs[i].ID, busdriver.ErrClosed)
		}
	}
	return errors.Join(failed...)
}

func (b *Bus) publishErr(m *bus.Message, err error) error {
	if errors.Is(err, natsgo.ErrConnectionClosed) || b.isClosed() {
		return fmt.Errorf("bus nats: publishing %s %s: %w", m.Topic, m.ID, busdriver.ErrClosed)
	}
	return errs.Wrap(fmt.Errorf("publishing %s %s: %w", m.Topic, m.ID, err), errs.Unavailable, "the event bus did not store the event")
}

func (b *Bus) encode(m *bus.Message) (*natsgo.Msg, error) {
	nm := natsgo.NewMsg(b.subject(m.Topic))
	nm.Data = m.Payload
	if len(m.Metadata) > 0 {
		md, err := json.Marshal(m.Metadata)
		if err != nil { // cannot happen for a map[string]string
			return nil, err
		}
		nm.Header.Set(metadataHeader, string(md))
	}
	return nm, nil
}

// decode turns a delivery into a Message; topic is the subscription's.
func decode(msg jetstream.Msg, topic string) (*bus.Message, error) {
	h := msg.Headers()
	m := &bus.Message{ID: h.Get(jetstream.MsgIDHeader), Topic: topic, Payload: msg.Data(), Delivery: 1}
	if m.ID == "" {
		return nil, errors.New("no Nats-Msg-Id header: not published by a Herald bus")
	}
	if md := h.Get(metadataHeader); md != "" {
		if err := json.Unmarshal([]byte(md), &m.Metadata); err != nil {
			return nil, fmt.Errorf("bad %s header: %w", metadataHeader, err)
		}
	}
	if meta, err := msg.Metadata(); err == nil {
		m.Delivery = int(meta.NumDelivered)
	}
	return m, nil
}

// Subscribe makes sure group's durable consumer of topic exists and starts
// pulling from it. It returns once the consumer exists, so messages
// published afterwards reach the group.
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
	s := &subscription{
		b:     b,
		topic: topic,
		group: group,
		opts:  o,
		// A running handler tells the server it is still working three
		// times per ack_wait, so its message is not handed out again.
		runner: busdriver.NewRunner(ctx, topic, group, h, o.Concurrency, b.cfg.ackWait/3),
		ended:  make(chan struct{}),
	}
	cons, err := s.consumer(ctx)
	if err != nil {
		s.runner.Stop()
		if b.isClosed() {
			return nil, busdriver.ErrClosed
		}
		return nil, errs.Wrap(err, errs.Unavailable, "the event bus could not subscribe")
	}
	cc, err := s.consume(cons)
	if err != nil {
		s.runner.Stop()
		return nil, errs.Wrap(err, errs.Unavailable, "the event bus could not subscribe")
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.runner.Stop()
		cc.Stop()
		return nil, busdriver.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	// The runner's context is derived from ctx: cancelling ctx ends the
	// subscription like Close does.
	go s.run(cc)
	return s, nil
}

// Features: file storage survives a server restart; a lone subscriber with
// concurrency 1 gets messages in stream order.
func (b *Bus) Features() bus.Features {
	return bus.Features{Durable: b.cfg.storage == jetstream.FileStorage, OrderedPerTopic: true}
}

// Ping checks the connection and that the server answers for the stream.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return busdriver.ErrClosed
	}
	if st := b.nc.Status(); st != natsgo.CONNECTED {
		return errs.E(errs.Unavailable, "the event bus is not connected to NATS (%s)", strings.ToLower(st.String()))
	}
	if _, err := b.stream.Info(ctx); err != nil {
		return errs.Wrap(err, errs.Unavailable, "the event bus's stream does not answer")
	}
	return nil
}

// Close ends every subscription, waits for their running handlers, sends
// what acknowledgements are pending and closes the connection. It may be
// called more than once.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.done)
		subs := slices.Collect(maps.Keys(b.subs))
		b.mu.Unlock()

		for _, s := range subs {
			s.runner.Stop() // all handlers hear it at once
		}
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Go(func() { _ = s.Close() })
		}
		wg.Wait()
		// Acknowledgements are sent without waiting; flush them so a
		// clean shutdown does not cause redeliveries.
		if err := b.nc.FlushTimeout(drainTimeout); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
			b.log.Warn("bus: flushing acknowledgements before closing", "err", err)
		}
		b.nc.Close()
	})
	return nil
}

type subscription struct {
	b            *Bus
	topic, group string
	opts         bus.SubscribeOptions
	runner       *busdriver.Runner

	// ended is closed when run has returned: nothing is pulled any more and
	// every handler has returned.
	ended chan struct{}
}

// consumer creates or updates the group's durable consumer. A group that
// has one keeps its position (and its start); a new group starts after
// what the stream holds now. That start is a sequence written in the
// consumer's configuration rather than "deliver new": the server applies
// "deliver new" again when it restores a consumer that has not delivered
// anything yet, so a restart right after a group was made would move its
// start past what was published meanwhile, and the group would never get
// it.
func (s *subscription) consumer(ctx context.Context) (jetstream.Consumer, error) {
	c := s.b.cfg
	cfg := jetstream.ConsumerConfig{
		Durable:           busdriver.Name(s.topic, s.group),
		Description:       fmt.Sprintf("group %q of topic %q", s.group, s.topic),
		FilterSubject:     s.b.subject(s.topic),
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           c.ackWait,
		MaxDeliver:        c.maxDeliv,
		InactiveThreshold: c.inactive,
	}
	cur, err := s.b.js.Consumer(ctx, c.stream, cfg.Durable)
	switch {
	case err == nil:
		was := cur.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = was.DeliverPolicy, was.OptStartSeq, was.OptStartTime
		return s.b.js.UpdateConsumer(ctx, c.stream, cfg)
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	info, err := s.b.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.State.LastSeq+1
	cons, err := s.b.js.CreateConsumer(ctx, c.stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Another subscriber of the group made it meanwhile.
		return s.b.js.Consumer(ctx, c.stream, cfg.Durable)
	}
	return cons, err
}

// consume starts pulling: at most the concurrency's worth of messages are
// requested ahead of the handlers.
func (s *subscription) consume(cons jetstream.Consumer) (jetstream.ConsumeContext, error) {
	return cons.Consume(s.receive,
		jetstream.PullMaxMessages(s.opts.Concurrency),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if s.runner.Context().Err() == nil {
				s.b.log.Debug("bus: pulling from NATS", "topic", s.topic, "group", s.group, "err", err)
			}
		}))
}

// run keeps the subscription pulling until it stops: when the client gives
// up on a pull subscription (the consumer was lost, the connection closed),
// it makes the consumer again and resumes.
func (s *subscription) run(cc jetstream.ConsumeContext) {
	defer close(s.ended)
	defer s.forget()
	stopped := s.runner.Context().Done()
	for {
		select {
		case <-stopped:
			s.drain(cc)
			s.runner.Wait()
			return
		case <-cc.Closed():
		}
		// The client stopped pulling on its own. Start again, unless the
		// subscription or the bus is ending.
		for {
			select {
			case <-stopped:
				s.runner.Wait()
				return
			case <-time.After(resubscribeWait):
			}
			ctx, cancel := context.WithTimeout(s.runner.Context(), s.b.cfg.reqWait)
			c, err := s.consumer(ctx)
			cancel()
			if err == nil {
				var next jetstream.ConsumeContext
				if next, err = s.consume(c); err == nil {
					cc = next
					break
				}
			}
			if s.runner.Context().Err() == nil {
				s.b.log.Warn("bus: resubscribing to NATS", "topic", s.topic, "group", s.group, "err", err)
			}
		}
	}
}

// drain stops pulling and hands the buffered messages to receive, which
// gives them back to the server since the runner has stopped.
func (s *subscription) drain(cc jetstream.ConsumeContext) {
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(drainTimeout):
		cc.Stop()
	}
	// The server keeps this subscription's pull requests until they
	// expire and would hand them messages no one reads any more, which
	// then wait for ack_wait (or, across a server restart, longer). Wait
	// until it holds none, at most a pull's expiry.
	ctx, cancel := context.WithTimeout(context.Background(), pullExpiry+time.Second)
	defer cancel()
	for ctx.Err() == nil {
		cons, err := s.b.js.Consumer(ctx, s.b.cfg.stream, busdriver.Name(s.topic, s.group))
		if err != nil || cons.CachedInfo().NumWaiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// receive is called by the client for each message, one at a time.
func (s *subscription) receive(msg jetstream.Msg) {
	m, err := decode(msg, s.topic)
	if err != nil {
		// Redelivering what cannot be read would fail forever.
		s.b.log.Error("bus: dropping a message that is not a Herald event", "subject", msg.Subject(), "group", s.group, "err", err)
		_ = msg.Term()
		return
	}
	settle := func(err error) {
		if err == nil {
			_ = msg.Ack()
			return
		}
		_ = msg.NakWithDelay(s.opts.Backoff)
	}
	if !s.runner.Go(m, func() { _ = msg.InProgress() }, settle) {
		_ = msg.Nak() // stopping: let another subscriber have it now
	}
}

// Close stops pulling, gives back the messages not yet handled and returns
// once the running handlers have returned and their messages are settled.
// A handler must not close its own subscription: Close would wait for it.
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
