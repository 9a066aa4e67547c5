package stomp_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/bus/bustest"
	_ "github.com/heraldhq/herald/bus/stomp"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	stompc "github.com/heraldhq/herald/stomp"
	"github.com/heraldhq/herald/stomp/stomptest"
)

// testPrefix keeps the tests' destinations apart from an installation's on
// a shared broker, and tells what left them there.
const testPrefix = "herald_test."

// broker returns the test broker's STOMP address, or skips (fails in CI)
// without one.
func broker(t testing.TB) string {
	t.Helper()
	return brokertest.Server(t, "HERALD_TEST_STOMP_ADDR", "127.0.0.1:61613")
}

// open opens the bus on the test broker; it is closed when t ends.
func open(t testing.TB) bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, "stomp://"+broker(t)+"?prefix="+testPrefix)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	broker(t)
	bustest.RunAdapter(t, bustest.Adapter{
		Open:   func(t *testing.T) bus.Bus { return open(t) },
		Reopen: func(t *testing.T, _ bus.Bus) bus.Bus { return open(t) },
	})
}

// A bad URL is refused with errs.Invalid naming what is wrong, before any
// connection is tried.
func TestOpenRefusesBadURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, field string
	}{
		{"stomp:opaque", "url"},
		{"stomp:///no-host", "url"},
		{"stomp://127.0.0.1:61613/some/path", "url"},
		{"stomp://127.0.0.1?prefix=", "prefix"},
		{"stomp://127.0.0.1?prefix=a*b", "prefix"},
		{"stomp://127.0.0.1?prefix=..", "prefix"},
		{"stomp://127.0.0.1?heartbeat=soon", "heartbeat"},
		{"stomp://127.0.0.1?connect_timeout=1ms", "connect_timeout"},
		{"stomp://127.0.0.1?prefetch=10", "prefetch"},
		{"stomp://127.0.0.1?host=a&host=b", "host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			b, err := bus.Open(t.Context(), tt.url)
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("Open: %v (kind %q), want kind %q", err, errs.KindOf(err), errs.Invalid)
			}
			if e.Fields[tt.field] == "" {
				t.Errorf("error fields %v do not name %q", e.Fields, tt.field)
			}
		})
	}
}

// Open fails fast when the broker is unreachable or refuses the
// credentials: one line naming the bus, the address without the password,
// and the cause.
func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	serverTLS, _ := stomptest.TLSConfigs(t)
	tests := []struct {
		name  string
		url   func(t *testing.T) string
		cause string
	}{
		{"nothing listens", func(t *testing.T) string {
			return "stomp://herald:s3cret@" + brokertest.ClosedAddr(t)
		}, "connection refused"},
		{"wrong credentials", func(t *testing.T) string {
			return "stomp://herald:s3cret@" + stomptest.NewServer(t, stomptest.Options{Login: "herald", Passcode: "other"}).Addr()
		}, "password is invalid"},
		{"TLS to a server whose certificate is not trusted", func(t *testing.T) string {
			return "stomp+ssl://herald:s3cret@" + stomptest.NewServer(t, stomptest.Options{TLS: serverTLS}).Addr()
		}, "certificate"},
		{"not STOMP", func(t *testing.T) string {
			return "stomp://herald:s3cret@" + stomptest.NewServer(t, stomptest.Options{Handle: func(c *stomptest.Conn) {
				c.WriteRaw([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			}}).Addr()
		}, "protocol error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := tt.url(t)
			u, _ := url.Parse(raw)
			start := time.Now()
			b, err := bus.Open(t.Context(), raw)
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error shows the password: %q", msg)
			}
			for _, want := range []string{"bus", u.Host, tt.cause} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if errs.KindOf(err) != errs.Unavailable {
				t.Errorf("error kind %q, want %q", errs.KindOf(err), errs.Unavailable)
			}
		})
	}
}

// What ActiveMQ would refuse is refused before anything is sent, naming
// the field.
func TestPublishRefusesOversized(t *testing.T) {
	t.Parallel()
	b := open(t)
	tests := []struct {
		name  string
		msg   *bus.Message
		field string
	}{
		{"metadata", &bus.Message{ID: id.New("evt"), Topic: "t", Metadata: map[string]string{"k": strings.Repeat("v", 9<<10)}}, "msgs[0].metadata"},
		{"payload", &bus.Message{ID: id.New("evt"), Topic: "t", Payload: make([]byte, 16<<20+1)}, "msgs[0].payload"},
		{"topic with a wildcard", &bus.Message{ID: id.New("evt"), Topic: "post.>"}, "msgs[0].topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := b.Publish(t.Context(), tt.msg)
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields[tt.field] == "" {
				t.Fatalf("Publish = %v, want an %q error naming %q", err, errs.Invalid, tt.field)
			}
		})
	}
}

// Groups whose names are not plain words get queues of their own, apart
// from each other and from the plain ones.
func TestGroupNames(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "groups." + strings.ToLower(id.New("t"))
	groups := []string{"a.b", "a_b", "a-b", "a-2Eb", "ü", "a b"}
	recs := make([]*brokertest.Recorder, len(groups))
	for i, g := range groups {
		recs[i] = new(brokertest.Recorder)
		sub, err := b.Subscribe(t.Context(), topic, g, recs[i].Handle)
		if err != nil {
			t.Fatalf("Subscribe as %q: %v", g, err)
		}
		t.Cleanup(func() { sub.Close() })
	}
	msgs := brokertest.PublishN(t, b, topic, 3)
	brokertest.Eventually(t, 10*time.Second, "every group to get every message", func() bool {
		for _, r := range recs {
			if !r.HasAll(msgs) {
				return false
			}
		}
		return true
	})
	for i, r := range recs {
		for _, m := range msgs {
			if n := r.Count(m.ID); n != 1 {
				t.Errorf("group %q got message %s %d times, want once: its queue is shared with another group", groups[i], m.ID, n)
			}
		}
	}
}

// A message sent to the virtual topic by something else than Herald (no
// Herald headers) is still delivered, identified by the broker's id.
func TestForeignMessage(t *testing.T) {
	t.Parallel()
	addr := broker(t)
	b := open(t)
	topic := "foreign." + strings.ToLower(id.New("t"))
	got := make(chan *bus.Message, 1)
	sub, err := b.Subscribe(t.Context(), topic, "g", func(_ context.Context, m *bus.Message) error {
		select {
		case got <- m:
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()

	raw, err := stompc.Connect(t.Context(), addr, stompc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())
	if err := raw.Send(t.Context(), "/topic/VirtualTopic."+testPrefix+topic, []byte("from elsewhere"), stompc.Header{}); err != nil {
		t.Fatalf("raw Send: %v", err)
	}
	select {
	case m := <-got:
		if m.ID == "" || m.Topic != topic || string(m.Payload) != "from elsewhere" || m.Metadata != nil || m.Delivery != 1 {
			t.Errorf("delivered as %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the foreign message was not delivered")
	}
}

// A handler error puts the message back at the end of its group's queue:
// the group's other messages go on meanwhile, and Delivery counts up.
func TestFailedMessageGoesToTheBack(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "back." + strings.ToLower(id.New("t"))
	var (
		mu    sync.Mutex
		order []string
	)
	// The group's queue exists once it had a subscriber; fill it while it
	// has none, so the order below does not depend on timing.
	first, err := b.Subscribe(t.Context(), topic, "g", func(context.Context, *bus.Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	poison := id.New("evt")
	if err := b.Publish(t.Context(), &bus.Message{ID: poison, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	others := brokertest.PublishN(t, b, topic, 3)
	sub, err := b.Subscribe(t.Context(), topic, "g", func(_ context.Context, m *bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, m.ID)
		if m.ID == poison && m.Delivery < 3 {
			return errors.New("not yet")
		}
		return nil
	}, bus.WithConcurrency(1), bus.WithBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	brokertest.Eventually(t, 10*time.Second, "every message to be handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 6
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{poison, others[0].ID, others[1].ID, others[2].ID, poison, poison}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("handled in the order\n%v, want\n%v: the failing message goes behind the others each time", order, want)
	}
}

// The bus survives ActiveMQ restarting: subscriptions resume on their own,
// every message whose Publish returned before the restart is delivered
// after it, and a message a handler was working on when the broker went
// away is delivered again, since its acknowledgement could not reach the
// broker.
func TestRestartBroker(t *testing.T) {
	brokertest.RequireRestarts(t)
	b := open(t)
	topic := "restart." + strings.ToLower(id.New("t"))
	var (
		once     sync.Once
		entered  = make(chan struct{})
		release  = make(chan struct{})
		mu       sync.Mutex
		received = map[string]int{}
	)
	sub, err := b.Subscribe(t.Context(), topic, "inflight", func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		received[m.ID]++
		mu.Unlock()
		once.Do(func() {
			close(entered)
			<-release // held across the restart
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	held := brokertest.PublishN(t, b, topic, 1)[0]
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}

	brokertest.SurvivesRestart(t, b, "activemq")

	close(release)
	brokertest.Eventually(t, 60*time.Second, "the message held across the restart to come again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return received[held.ID] >= 2
	})
}

// While the broker is away, Publish gives up with its context and Ping
// fails at once, both as errs.Unavailable; both work again when it is back.
// (A fake broker: the real one is restarted only by TestRestartBroker.)
func TestBrokerAway(t *testing.T) {
	t.Parallel()
	srv := stomptest.NewServer(t, stomptest.Options{})
	b, err := bus.Open(t.Context(), "stomp://"+srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msg := func() *bus.Message { return &bus.Message{ID: id.New("evt"), Topic: "away"} }
	if err := b.Publish(t.Context(), msg()); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	srv.Stop()
	brokertest.Eventually(t, 10*time.Second, "Ping to fail", func() bool { return b.Ping(t.Context()) != nil })
	if err := b.Ping(t.Context()); errs.KindOf(err) != errs.Unavailable {
		t.Errorf("Ping while the broker is away: %v (kind %q), want kind %q", err, errs.KindOf(err), errs.Unavailable)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	err = b.Publish(ctx, msg())
	cancel()
	if errs.KindOf(err) != errs.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish while the broker is away: %v (kind %q), want kind %q wrapping the deadline", err, errs.KindOf(err), errs.Unavailable)
	}

	srv.Start()
	if err := b.Publish(t.Context(), msg()); err != nil {
		t.Fatalf("Publish once the broker is back: %v", err)
	}
	brokertest.Eventually(t, 10*time.Second, "Ping to succeed", func() bool { return b.Ping(t.Context()) == nil })
	if n := srv.Pending("/topic/VirtualTopic.herald.away"); n != 2 {
		t.Errorf("the broker holds %d messages, want the 2 published while it was there", n)
	}
}

// Payloads are carried byte for byte whatever they hold.
func TestBinaryPayloads(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "binary." + strings.ToLower(id.New("t"))
	got := make(chan []byte, 4)
	sub, err := b.Subscribe(t.Context(), topic, "g", func(_ context.Context, m *bus.Message) error {
		got <- bytes.Clone(m.Payload)
		return nil
	}, bus.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	payloads := [][]byte{{0}, {0, 0, 0}, []byte("\n\n\x00:\\c\r\n"), bytes.Repeat([]byte{0xff, 0}, 5000)}
	for _, p := range payloads {
		if err := b.Publish(t.Context(), &bus.Message{ID: id.New("evt"), Topic: topic, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range payloads {
		select {
		case p := <-got:
			if !bytes.Equal(p, want) {
				t.Errorf("payload %q, want %q", p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a payload did not arrive")
		}
	}
}
