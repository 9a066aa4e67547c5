package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// cases lists the suite. Every bus runs the cases without needs; the others
// run only when the bus declares the feature they check.
func cases() []testCase {
	return []testCase{
		{name: "RoundTrip", run: testRoundTrip},
		{name: "NoSubscribers", run: testNoSubscribers},
		{name: "EveryGroupGetsEveryMessage", run: testEveryGroup},
		{name: "CompetingConsumers", run: testCompetingConsumers},
		{name: "NackRedelivers", run: testNackRedelivers},
		{name: "ManyMessages", run: testManyMessages},
		{name: "ConcurrencyLimit", run: testConcurrencyLimit},
		{name: "StopDelivery", run: testStopDelivery},
		{name: "CloseWaitsForHandlers", run: testCloseWaitsForHandlers},
		{name: "CloseIsIdempotent", run: testCloseIsIdempotent},
		{name: "ClosedBus", run: testClosedBus},
		{name: "Ping", run: testPing},
		{name: "InvalidInput", run: testInvalidInput},
		{name: "InvalidBatchDeliversNothing", run: testInvalidBatch},
		{name: "OrderedPerTopic", needs: orderedPerTopic, run: testOrdered},
		{name: "PublishWaitsForEveryGroup", needs: publishWaits, run: testPublishWaitsForEveryGroup},
		{name: "PublishRedeliversUntilAcked", needs: publishWaits, run: testPublishRedeliversUntilAcked},
		{name: "PublishGivesUpWithContext", needs: publishWaits, run: testPublishGivesUp},
		{name: "DurableAcrossRestart", needs: restartable, run: testDurableAcrossRestart},
		{name: "UnackedRedeliveredAfterRestart", needs: restartable, run: testUnackedAfterRestart},
	}
}

func orderedPerTopic(s *suite) string {
	if !s.features.OrderedPerTopic {
		return "the bus does not declare OrderedPerTopic"
	}
	return ""
}

func publishWaits(s *suite) string {
	if !s.features.PublishWaitsForHandlers {
		return "the bus does not declare PublishWaitsForHandlers"
	}
	return ""
}

// restartable: a durable bus is checked across a restart when it gives the
// suite a way to restart it. A bus whose Publish waits for every group is
// durable by that (see bus.Features) and is checked by the Publish* cases;
// any other durable bus must give Reopen, and the case fails without it.
func restartable(s *suite) string {
	switch {
	case !s.features.Durable:
		return "the bus does not declare Durable"
	case s.a.Reopen == nil && s.features.PublishWaitsForHandlers:
		return "no Reopen hook: this bus is durable because Publish waits for handlers, which the Publish* cases check"
	}
	return ""
}

// A message arrives as it was published: id, topic, payload and metadata.
func testRoundTrip(t *testing.T, s *suite) {
	tests := []struct {
		name     string
		payload  []byte
		metadata map[string]string
	}{
		{"payload and metadata", []byte{0, 1, 2, 0xff, 'h'}, map[string]string{"trace_id": "4bf92f3577b34da6", "empty": ""}},
		// A protobuf message with no field set encodes to zero bytes.
		{"empty payload", nil, nil},
		{"large payload", bytes.Repeat([]byte("herald\x00"), 64<<10/7), map[string]string{"long": strings.Repeat("v", 1024)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.open(t)
			topic := name(t, "topic")
			var rec recorder
			s.subscribe(t, b, topic, name(t, "group"), rec.handler(nil))

			want := &bus.Message{ID: id.New("evt"), Topic: topic, Payload: tt.payload, Metadata: tt.metadata}
			s.publish(t, b, []*bus.Message{want})()
			s.eventually(t, "the message to arrive", func() bool { return rec.len() > 0 })

			got := rec.all()[0]
			if got.ID != want.ID {
				t.Errorf("ID = %q, want %q", got.ID, want.ID)
			}
			if got.Topic != want.Topic {
				t.Errorf("Topic = %q, want %q", got.Topic, want.Topic)
			}
			if !bytes.Equal(got.Payload, want.Payload) {
				t.Errorf("Payload = %d bytes %q..., want %d bytes %q...", len(got.Payload), prefix(got.Payload), len(want.Payload), prefix(want.Payload))
			}
			if !maps.Equal(got.Metadata, want.Metadata) {
				t.Errorf("Metadata = %v, want %v", got.Metadata, want.Metadata)
			}
			if got.Delivery < 1 {
				t.Errorf("Delivery = %d on the first delivery, want at least 1", got.Delivery)
			}
		})
	}
}

func prefix(b []byte) []byte { return b[:min(len(b), 16)] }

// A message nobody subscribed to is accepted; it is not an error.
func testNoSubscribers(t *testing.T, s *suite) {
	b := s.open(t)
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	if err := b.Publish(ctx, messages(name(t, "topic"), 3)...); err != nil {
		t.Fatalf("Publish to a topic without subscribers: %v", err)
	}
}

// Each group receives every message of the topic.
func testEveryGroup(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	recs := make([]*recorder, 3)
	for i := range recs {
		recs[i] = new(recorder)
		s.subscribe(t, b, topic, name(t, fmt.Sprintf("group%d", i)), recs[i].handler(nil))
	}
	msgs := messages(topic, 25)
	wait := s.publish(t, b, msgs)
	s.eventually(t, "every group to get every message", func() bool {
		for _, r := range recs {
			if !r.hasAll(msgs) {
				return false
			}
		}
		return true
	})
	wait()
	for i, r := range recs {
		r.checkOnly(t, fmt.Sprintf("group %d", i), msgs)
	}
}

// Within a group, each message goes to one subscriber, and the subscribers
// share the work: each handler below waits until the other subscriber got a
// message, so the test only finishes if the bus spreads them.
func testCompetingConsumers(t *testing.T, s *suite) {
	b := s.open(t)
	topic, group := name(t, "topic"), name(t, "group")
	var (
		rec       recorder
		started   = [2]chan struct{}{make(chan struct{}), make(chan struct{})}
		once      [2]sync.Once
		handled   [2]atomic.Int32
		notShared atomic.Bool
	)
	for i := range 2 {
		s.subscribe(t, b, topic, group, rec.handler(func(ctx context.Context, _ *bus.Message) error {
			handled[i].Add(1)
			once[i].Do(func() { close(started[i]) })
			select {
			case <-started[1-i]:
			case <-time.After(s.timeout):
				notShared.Store(true)
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}), bus.WithConcurrency(1))
	}

	msgs := messages(topic, 40)
	wait := s.publish(t, b, msgs)
	s.eventually(t, "every message to be handled", func() bool { return rec.hasAll(msgs) })
	wait()

	if notShared.Load() {
		t.Errorf("a subscriber waited %v for the other one to get a message: the group's messages were not spread (handled %d and %d)",
			s.timeout, handled[0].Load(), handled[1].Load())
	}
	for mid, n := range rec.counts() {
		if n != 1 {
			t.Errorf("message %s was handled %d times within one group, want once (no handler failed)", mid, n)
		}
	}
	rec.checkOnly(t, "the group", msgs)
}

// A handler error makes the message come again, same id and content, with
// Delivery counting up.
func testNackRedelivers(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var (
		acks, nacks recorder
		mu          sync.Mutex
		failed      = map[string]bool{}
	)
	s.subscribe(t, b, topic, name(t, "acking"), acks.handler(nil))
	s.subscribe(t, b, topic, name(t, "nacking"), nacks.handler(func(_ context.Context, m *bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed[m.ID] {
			failed[m.ID] = true
			return errors.New("bustest: failing the first delivery on purpose")
		}
		return nil
	}), bus.WithBackoff(10*time.Millisecond))

	msgs := messages(topic, 5)
	wait := s.publish(t, b, msgs)
	s.eventually(t, "every message to be delivered again after its handler failed", func() bool {
		c := nacks.counts()
		for _, m := range msgs {
			if c[m.ID] < 2 {
				return false
			}
		}
		return true
	})
	wait()

	byID := map[string][]bus.Message{}
	for _, m := range nacks.all() {
		byID[m.ID] = append(byID[m.ID], m)
	}
	for _, want := range msgs {
		first, again := byID[want.ID][0], byID[want.ID][1]
		if again.Delivery <= first.Delivery {
			t.Errorf("message %s: Delivery %d after a failed delivery %d, want it to count up", want.ID, again.Delivery, first.Delivery)
		}
		if again.Topic != want.Topic || !bytes.Equal(again.Payload, want.Payload) || !maps.Equal(again.Metadata, want.Metadata) {
			t.Errorf("message %s came again as %+v, want the same content as published (%+v)", want.ID, again, *want)
		}
	}
	nacks.checkOnly(t, "the nacking group", msgs)
	// The other group acknowledged at once: the failure of one group must
	// not make another see the message again.
	s.eventually(t, "the acknowledging group to get every message", func() bool { return acks.hasAll(msgs) })
	for mid, n := range acks.counts() {
		if n != 1 {
			t.Errorf("message %s reached the acknowledging group %d times, want once", mid, n)
		}
	}
}

// Many messages, published concurrently, all arrive, in a group of competing
// subscribers and in a group of one.
func testManyMessages(t *testing.T, s *suite) {
	const n = 1000
	b := s.open(t)
	topic := name(t, "topic")
	var competing, single recorder
	competingGroup := name(t, "competing")
	s.subscribe(t, b, topic, competingGroup, competing.handler(nil), bus.WithConcurrency(8))
	s.subscribe(t, b, topic, competingGroup, competing.handler(nil), bus.WithConcurrency(8))
	s.subscribe(t, b, topic, name(t, "single"), single.handler(nil), bus.WithConcurrency(16))

	msgs := messages(topic, n)
	wait := s.publish(t, b, msgs)
	s.eventually(t, fmt.Sprintf("%d messages to reach both groups", n), func() bool {
		return competing.hasAll(msgs) && single.hasAll(msgs)
	})
	wait()
	competing.checkOnly(t, "the competing group", msgs)
	single.checkOnly(t, "the single group", msgs)
}

// A subscriber never runs more handlers at once than its concurrency.
func testConcurrencyLimit(t *testing.T, s *suite) {
	const limit, n = 3, 9
	b := s.open(t)
	topic := name(t, "topic")
	var inFlight, most, done atomic.Int32
	gate := make(chan struct{})
	s.subscribe(t, b, topic, name(t, "group"), func(ctx context.Context, _ *bus.Message) error {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for old := most.Load(); cur > old && !most.CompareAndSwap(old, cur); old = most.Load() {
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		done.Add(1)
		return nil
	}, bus.WithConcurrency(limit))

	wait := s.publish(t, b, messages(topic, n))
	s.eventually(t, fmt.Sprintf("%d handlers to be running", limit), func() bool { return inFlight.Load() >= limit })
	// Let the handlers finish one at a time: any handler the bus started
	// beyond the limit meanwhile shows in most.
	for i := range n {
		select {
		case gate <- struct{}{}:
		case <-time.After(s.timeout):
			t.Fatalf("handler %d of %d never started", i+1, n)
		}
	}
	s.eventually(t, "every handler to finish", func() bool { return done.Load() == n })
	wait()
	if got := most.Load(); got > limit {
		t.Errorf("%d handlers ran at once, want at most the subscription's concurrency %d", got, limit)
	}
}

// Closing a subscription, or cancelling the context it was made with, stops
// delivery to it: nothing published afterwards reaches its handler, while
// other subscriptions go on.
func testStopDelivery(t *testing.T, s *suite) {
	tests := []struct {
		name string
		stop func(t *testing.T, sub bus.Subscription, cancel context.CancelFunc)
	}{
		{"Close", func(t *testing.T, sub bus.Subscription, _ context.CancelFunc) {
			for i := range 2 { // Close is idempotent
				if err := sub.Close(); err != nil {
					t.Fatalf("Close #%d: %v", i+1, err)
				}
			}
		}},
		{"context cancelled", func(t *testing.T, sub bus.Subscription, cancel context.CancelFunc) {
			cancel()
			// Stopped subscriptions still close cleanly.
			t.Cleanup(func() {
				if err := sub.Close(); err != nil {
					t.Errorf("Close after the context was cancelled: %v", err)
				}
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.open(t)
			topic := name(t, "topic")
			var stopped, live recorder
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sub, err := b.Subscribe(ctx, topic, name(t, "stopped"), stopped.handler(nil))
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			s.subscribe(t, b, topic, name(t, "live"), live.handler(nil))

			before := messages(topic, 1)
			s.publish(t, b, before)()
			s.eventually(t, "both groups to get the first message", func() bool {
				return stopped.hasAll(before) && live.hasAll(before)
			})

			tt.stop(t, sub, cancel)
			after := messages(topic, 10)
			s.publish(t, b, after)()
			s.eventually(t, "the live group to get the later messages", func() bool { return live.hasAll(after) })
			stopped.checkOnly(t, "the stopped subscription", before)
		})
	}
}

// Close returns only after the handlers that were running have returned, so
// nothing runs after it.
func testCloseWaitsForHandlers(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var (
		once     sync.Once
		entered  = make(chan struct{})
		release  = make(chan struct{})
		returned atomic.Bool
	)
	s.subscribe(t, b, topic, name(t, "group"), func(context.Context, *bus.Message) error {
		once.Do(func() { close(entered) })
		// Deliberately deaf to the handler's context: Close must wait even
		// for a handler that takes its time to notice.
		select {
		case <-release:
		case <-t.Context().Done():
		}
		returned.Store(true)
		return nil
	})
	// Published in the background and left to whatever Close makes of it.
	go func() { _ = b.Publish(t.Context(), messages(topic, 1)...) }()
	await(t, s, "the handler to start", entered)

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler was still running", err)
	case <-time.After(50 * time.Millisecond): // a chance for a wrong Close to return
	}
	close(release)
	if err := await(t, s, "Close to return", closed); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !returned.Load() {
		t.Error("Close returned before the running handler did")
	}
}

// Close may be called again, from several goroutines, and closing a
// subscription of a closed bus is harmless.
func testCloseIsIdempotent(t *testing.T, s *suite) {
	b := s.a.Open(t)
	sub, err := b.Subscribe(t.Context(), name(t, "topic"), name(t, "group"), func(context.Context, *bus.Message) error { return nil })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errc <- b.Close() })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Errorf("concurrent Close: %v", err)
		}
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close of a closed bus: %v", err)
	}
	for i := range 2 {
		if err := sub.Close(); err != nil {
			t.Errorf("Close #%d of a subscription of a closed bus: %v", i+1, err)
		}
	}
}

// A closed bus refuses work with errs.Unavailable.
func testClosedBus(t *testing.T, s *suite) {
	b := s.a.Open(t)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	topic := name(t, "topic")
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Publish", func(ctx context.Context) error { return b.Publish(ctx, messages(topic, 1)...) }},
		{"Subscribe", func(ctx context.Context) error {
			sub, err := b.Subscribe(ctx, topic, name(t, "group"), func(context.Context, *bus.Message) error { return nil })
			if sub != nil {
				_ = sub.Close()
			}
			return err
		}},
		{"Ping", b.Ping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
			defer cancel()
			err := tt.call(ctx)
			switch {
			case err == nil:
				t.Errorf("%s on a closed bus succeeded, want an error", tt.name)
			case errs.KindOf(err) != errs.Unavailable:
				t.Errorf("%s on a closed bus: %v (kind %q), want kind %q", tt.name, err, errs.KindOf(err), errs.Unavailable)
			}
		})
	}
}

func testPing(t *testing.T, s *suite) {
	b := s.open(t)
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open bus: %v", err)
	}
}

// Bad input is refused with errs.Invalid naming the field: "msgs[i]",
// "msgs[i].id" or "msgs[i].topic" for Publish, "topic", "group" or "handler"
// for Subscribe.
func testInvalidInput(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	ok := func(context.Context, *bus.Message) error { return nil }
	good := func() *bus.Message { return messages(topic, 1)[0] }
	subscribe := func(ctx context.Context, topic, group string, h bus.Handler) error {
		sub, err := b.Subscribe(ctx, topic, group, h)
		if sub != nil {
			_ = sub.Close()
		}
		return err
	}
	tests := []struct {
		name  string
		field string
		call  func(ctx context.Context) error
	}{
		{"Publish nil message", "msgs[0]", func(ctx context.Context) error { return b.Publish(ctx, nil) }},
		{"Publish message without id", "msgs[0].id", func(ctx context.Context) error {
			return b.Publish(ctx, &bus.Message{Topic: topic, Payload: []byte("x")})
		}},
		{"Publish message without topic", "msgs[0].topic", func(ctx context.Context) error {
			return b.Publish(ctx, &bus.Message{ID: id.New("evt"), Payload: []byte("x")})
		}},
		{"Publish batch with a bad second message", "msgs[1].topic", func(ctx context.Context) error {
			return b.Publish(ctx, good(), &bus.Message{ID: id.New("evt")})
		}},
		{"Subscribe without topic", "topic", func(ctx context.Context) error { return subscribe(ctx, "", "g", ok) }},
		{"Subscribe without group", "group", func(ctx context.Context) error { return subscribe(ctx, topic, "", ok) }},
		{"Subscribe without handler", "handler", func(ctx context.Context) error { return subscribe(ctx, topic, "g", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
			defer cancel()
			err := tt.call(ctx)
			e, isErr := errs.As(err)
			switch {
			case err == nil:
				t.Fatalf("succeeded, want an %q error naming %q", errs.Invalid, tt.field)
			case !isErr || e.Kind != errs.Invalid:
				t.Fatalf("error %v (kind %q), want kind %q", err, errs.KindOf(err), errs.Invalid)
			}
			if _, named := e.Fields[tt.field]; !named {
				t.Errorf("error fields %v do not name %q", e.Fields, tt.field)
			}
		})
	}
}

// A batch with one bad message is refused whole: its good messages are not
// delivered either.
func testInvalidBatch(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var rec recorder
	s.subscribe(t, b, topic, name(t, "group"), rec.handler(nil))

	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	err := b.Publish(ctx, messages(topic, 1)[0], &bus.Message{ID: id.New("evt")})
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Publish of a batch with a message without topic: %v, want kind %q", err, errs.Invalid)
	}
	next := messages(topic, 1)
	s.publish(t, b, next)()
	s.eventually(t, "the next valid message to arrive", func() bool { return rec.hasAll(next) })
	rec.checkOnly(t, "the subscriber", next)
}

// A single consumer handling one message at a time sees them in publish
// order.
func testOrdered(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var rec recorder
	s.subscribe(t, b, topic, name(t, "group"), rec.handler(nil), bus.WithConcurrency(1))
	msgs := messages(topic, 50)
	publishNow(t, b, msgs)
	s.eventually(t, "every message to arrive", func() bool { return rec.hasAll(msgs) })
	got := rec.all()
	if len(got) != len(msgs) {
		t.Fatalf("%d deliveries of %d messages, and nothing failed", len(got), len(msgs))
	}
	for i, m := range got {
		if m.ID != msgs[i].ID {
			t.Fatalf("delivery %d is message %s (payload %q), want %s (payload %q)", i, m.ID, m.Payload, msgs[i].ID, msgs[i].Payload)
		}
	}
}

// Publish returns only once every subscribed group has acknowledged.
func testPublishWaitsForEveryGroup(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var (
		once    sync.Once
		entered = make(chan struct{})
		release = make(chan struct{})
		quick   recorder
	)
	s.subscribe(t, b, topic, name(t, "slow"), func(ctx context.Context, _ *bus.Message) error {
		once.Do(func() { close(entered) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	s.subscribe(t, b, topic, name(t, "quick"), quick.handler(nil))

	published := make(chan error, 1)
	go func() { published <- b.Publish(t.Context(), messages(topic, 1)...) }()
	await(t, s, "the slow group's handler to start", entered)
	s.eventually(t, "the quick group to get the message", func() bool { return quick.len() > 0 })
	select {
	case err := <-published:
		t.Fatalf("Publish returned (%v) while a group was still handling the message", err)
	default:
	}
	close(release)
	if err := await(t, s, "Publish to return", published); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// Within Publish, a handler error is followed by redelivery until the group
// acknowledges; Publish then returns nil, with all deliveries done.
func testPublishRedeliversUntilAcked(t *testing.T, s *suite) {
	b := s.open(t)
	topic := name(t, "topic")
	var (
		rec   recorder
		calls atomic.Int32
	)
	s.subscribe(t, b, topic, name(t, "group"), rec.handler(func(context.Context, *bus.Message) error {
		if calls.Add(1) <= 2 {
			return errors.New("bustest: failing on purpose")
		}
		return nil
	}), bus.WithBackoff(time.Millisecond))

	m := messages(topic, 1)[0]
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	if err := b.Publish(ctx, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := rec.all()
	if len(got) != 3 {
		t.Fatalf("Publish returned after %d deliveries, want 3 (two failures, then the acknowledgement)", len(got))
	}
	for i, d := range got {
		if d.ID != m.ID {
			t.Errorf("delivery %d has ID %q, want %q", i+1, d.ID, m.ID)
		}
		if i > 0 && d.Delivery <= got[i-1].Delivery {
			t.Errorf("delivery %d has Delivery %d after %d, want it to count up", i+1, d.Delivery, got[i-1].Delivery)
		}
	}
}

// When the group never acknowledges, Publish gives up when its context ends
// and returns the context's error, so the outbox keeps the event.
func testPublishGivesUp(t *testing.T, s *suite) {
	tests := []struct {
		name string
		// ctx returns Publish's context and what to do on each handler call.
		ctx  func(t *testing.T) (context.Context, func(call int32))
		want error
	}{
		{"cancelled", func(t *testing.T) (context.Context, func(int32)) {
			ctx, cancel := context.WithCancel(t.Context())
			t.Cleanup(cancel)
			return ctx, func(call int32) {
				if call == 3 {
					cancel()
				}
			}
		}, context.Canceled},
		{"deadline", func(t *testing.T) (context.Context, func(int32)) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			t.Cleanup(cancel)
			return ctx, func(int32) {}
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.open(t)
			topic := name(t, "topic")
			ctx, onCall := tt.ctx(t)
			var calls atomic.Int32
			s.subscribe(t, b, topic, name(t, "group"), func(context.Context, *bus.Message) error {
				onCall(calls.Add(1))
				return errors.New("bustest: always failing")
			}, bus.WithBackoff(time.Millisecond))

			published := make(chan error, 1)
			go func() { published <- b.Publish(ctx, messages(topic, 1)...) }()
			err := await(t, s, "Publish to give up", published)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Publish = %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}

// Messages a durable bus accepted while the group had no subscriber are
// delivered to the group after the bus restarts.
func testDurableAcrossRestart(t *testing.T, s *suite) {
	if s.a.Reopen == nil {
		t.Fatal("the bus declares Durable but Adapter.Reopen is nil: give the suite a way to restart it")
	}
	topic, group := name(t, "topic"), name(t, "group")
	before := s.open(t)
	// Subscribing once makes the group known to the bus, so it keeps
	// messages for it.
	sub, err := before.Subscribe(t.Context(), topic, group, func(context.Context, *bus.Message) error { return nil })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("closing the subscription: %v", err)
	}
	msgs := messages(topic, 5)
	publishNow(t, before, msgs)
	if err := before.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	after := s.a.Reopen(t, before)
	t.Cleanup(func() { _ = after.Close() })
	var rec recorder
	s.subscribe(t, after, topic, group, rec.handler(nil))
	s.eventually(t, "messages accepted before the restart to be delivered after it", func() bool { return rec.hasAll(msgs) })
	rec.checkOnly(t, "the group", msgs)
}

// A message the group had not acknowledged when the bus stopped is delivered
// after the restart.
func testUnackedAfterRestart(t *testing.T, s *suite) {
	if s.a.Reopen == nil {
		t.Fatal("the bus declares Durable but Adapter.Reopen is nil: give the suite a way to restart it")
	}
	topic, group := name(t, "topic"), name(t, "group")
	before := s.open(t)
	var once sync.Once
	nacked := make(chan struct{})
	sub, err := before.Subscribe(t.Context(), topic, group, func(context.Context, *bus.Message) error {
		once.Do(func() { close(nacked) })
		return errors.New("bustest: not now")
	}, bus.WithBackoff(10*time.Millisecond))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	msgs := messages(topic, 1)
	publishNow(t, before, msgs)
	await(t, s, "the first delivery", nacked)
	if err := sub.Close(); err != nil {
		t.Fatalf("closing the subscription: %v", err)
	}
	if err := before.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	after := s.a.Reopen(t, before)
	t.Cleanup(func() { _ = after.Close() })
	var rec recorder
	s.subscribe(t, after, topic, group, rec.handler(nil))
	s.eventually(t, "the unacknowledged message to be delivered after the restart", func() bool { return rec.hasAll(msgs) })
}
