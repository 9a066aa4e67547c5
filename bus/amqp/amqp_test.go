package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/heraldhq/herald/bus"
	_ "github.com/heraldhq/herald/bus/amqp"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/bus/bustest"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// testOptions keep the tests' queues apart from an installation's and let
// the broker delete the tests' many groups soon after they are unused: each
// quorum queue holds file descriptors, and a broker that runs out of them
// stops accepting connections.
//
// The connect timeout is generous: the tests check what happens, not how
// fast, and CI machines are busy.
const testOptions = "exchange=herald_test&prefix=heraldtest&expires=1m&connect_timeout=30s"

// server returns the test broker's URL, or skips (fails in CI) without one.
func server(t testing.TB) string {
	t.Helper()
	return brokertest.Server(t, "HERALD_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
}

func withQuery(raw, query string) string {
	if strings.Contains(raw, "?") {
		return raw + "&" + query
	}
	return raw + "?" + query
}

// open opens the bus at the test broker with the test options and extra
// ones; the bus is closed when t ends.
func open(t testing.TB, extra ...string) bus.Bus {
	t.Helper()
	return openQuery(t, strings.Join(append([]string{testOptions}, extra...), "&"))
}

// openQuery opens the bus at the test broker with the query options given.
func openQuery(t testing.TB, query string) bus.Bus {
	t.Helper()
	raw := withQuery(server(t), query)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, raw)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	server(t)
	bustest.RunAdapter(t, bustest.Adapter{
		Open:   func(t *testing.T) bus.Bus { return open(t) },
		Reopen: func(t *testing.T, _ bus.Bus) bus.Bus { return open(t) },
	})
}

// The fallback for servers without quorum queues passes the suite too.
func TestConformanceClassicQueues(t *testing.T) {
	t.Parallel()
	server(t)
	const classic = "exchange=herald_test&prefix=heraldtestclassic&expires=1m&connect_timeout=30s&queue_type=classic"
	bustest.RunAdapter(t, bustest.Adapter{
		Open:   func(t *testing.T) bus.Bus { return openQuery(t, classic) },
		Reopen: func(t *testing.T, _ bus.Bus) bus.Bus { return openQuery(t, classic) },
	})
}

// Open refuses a malformed URL before connecting, naming what is wrong.
func TestOpenRejectsBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url   string
		field string
	}{
		{"amqp://127.0.0.1:5672/?queue_type=stream", "queue_type"},
		{"amqp://127.0.0.1:5672/?prefetch=-1", "prefetch"},
		{"amqp://127.0.0.1:5672/?heartbeat=1ms", "heartbeat"},
		{"amqp://127.0.0.1:5672/?expires=often", "expires"},
		{"amqp://127.0.0.1:5672/?exchange=amq.topic", "exchange"},
		{"amqp://127.0.0.1:5672/?exchange=", "exchange"},
		{"amqp://127.0.0.1:5672/?exchang=x", "exchang"},
		{"amqp://127.0.0.1:5672/?prefix=" + strings.Repeat("p", 101), "prefix"},
		{"amqp:opaque", "url"},
		{"amqp:///", "url"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			b, err := bus.Open(t.Context(), tt.url)
			if err == nil {
				b.Close()
				t.Fatalf("Open succeeded, want an %q error naming %q", errs.Invalid, tt.field)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("Open: %v (kind %q), want kind %q", err, errs.KindOf(err), errs.Invalid)
			}
			if _, named := e.Fields[tt.field]; !named {
				t.Errorf("Open: %v does not name %q", err, tt.field)
			}
		})
	}
}

// Open fails within seconds, in one line naming the port, the address
// without credentials, and the cause: nothing listening, or a broker that
// refuses the credentials.
func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	closed := brokertest.ClosedAddr(t)
	// wrongPassword is the test broker's URL with a password it refuses.
	wrongPassword := func(t *testing.T) *url.URL {
		u, err := url.Parse(server(t))
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("guest", "wrong-s3cret")
		u.RawQuery = "connect_timeout=30s" // a busy broker may take its time to say no
		return u
	}
	tests := []struct {
		name   string
		url    func(t *testing.T) *url.URL
		secret string
		cause  string
	}{
		{"nothing listens", func(*testing.T) *url.URL {
			return &url.URL{Scheme: "amqp", User: url.UserPassword("herald", "s3cret-pw"), Host: closed, Path: "/"}
		}, "s3cret-pw", "refused"},
		{"wrong password", wrongPassword, "wrong-s3cret", "username or password not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := tt.url(t)
			shown := busdriver.Redact(u, false)
			start := time.Now()
			b, err := bus.Open(t.Context(), u.String())
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			// Bounded by the connect timeout: Open must not retry.
			if took := time.Since(start); took > 35*time.Second {
				t.Errorf("Open took %v to fail, want it bounded by the connect timeout", took)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bus: ") || !strings.Contains(msg, shown) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with %q and naming %q", msg, "bus: ", shown)
			}
			if !strings.Contains(msg, tt.cause) {
				t.Errorf("error %q does not give the cause (%q)", msg, tt.cause)
			}
			if strings.Contains(msg, tt.secret) {
				t.Errorf("error %q shows the password", msg)
			}
			if errs.KindOf(err) != errs.Unavailable {
				t.Errorf("error kind %q, want %q", errs.KindOf(err), errs.Unavailable)
			}
		})
	}
}

// A backoff longer than the queues may stay unused is refused: the retry
// queue could expire with the message in it.
func TestBackoffLongerThanExpiresIsRefused(t *testing.T) {
	t.Parallel()
	b := open(t)
	_, err := b.Subscribe(t.Context(), "t", "g", func(context.Context, *bus.Message) error { return nil }, bus.WithBackoff(31*time.Second))
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid || e.Fields["backoff"] == "" {
		t.Fatalf("Subscribe with a backoff beyond expires/2: %v, want an %q error naming %q", err, errs.Invalid, "backoff")
	}
}

// A failed message waits out the backoff in the retry queue, not in a
// handler slot: the subscriber's only slot goes on to the next message
// meanwhile.
func TestBackoffDoesNotHoldASlot(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "backoff." + strings.ToLower(id.New("t"))
	first, second := &bus.Message{ID: id.New("evt"), Topic: topic}, &bus.Message{ID: id.New("evt"), Topic: topic}
	var (
		mu    sync.Mutex
		order []string
	)
	sub, err := b.Subscribe(t.Context(), topic, "g", func(_ context.Context, m *bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, fmt.Sprintf("%s#%d", m.ID, m.Delivery))
		if m.ID == first.ID && m.Delivery == 1 {
			return errors.New("failing the first delivery on purpose")
		}
		return nil
	}, bus.WithConcurrency(1), bus.WithBackoff(2*time.Second))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	for _, m := range []*bus.Message{first, second} {
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	brokertest.Eventually(t, 15*time.Second, "the failed message to come back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{first.ID + "#1", second.ID + "#1", first.ID + "#2"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("deliveries %v, want %v: the second message waits for the first one's backoff", order, want)
	}
}

// A message that is not a Herald event (no message id) is dropped, not
// redelivered forever, and the group goes on.
func TestForeignMessageIsDropped(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "foreign." + strings.ToLower(id.New("t"))
	var calls atomic.Int32
	sub, err := b.Subscribe(t.Context(), topic, "g", func(context.Context, *bus.Message) error {
		calls.Add(1)
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()

	conn, err := amqp091.Dial(server(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(t.Context(), "herald_test", topic, false, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	next := &bus.Message{ID: id.New("evt"), Topic: topic}
	if err := b.Publish(t.Context(), next); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	brokertest.Eventually(t, 10*time.Second, "the Herald event after the foreign one", func() bool { return calls.Load() == 1 })
}

// The bus survives the broker restarting (brokertest.SurvivesRestart says
// what that means); run with HERALD_TEST_RESTARTS=1.
func TestRestartRabbitMQ(t *testing.T) {
	brokertest.RequireRestarts(t)
	brokertest.SurvivesRestart(t, open(t), "rabbitmq")
}

// When the broker loses a group's queue (deleted by an operator), the
// broker cancels the consumer; the subscription declares the queue again and
// delivers again.
func TestLostQueueIsMadeAgain(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "lost." + strings.ToLower(id.New("t"))
	var got brokertest.Recorder
	sub, err := b.Subscribe(t.Context(), topic, "g", got.Handle)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	brokertest.PublishUntilHandled(t, b, topic, &got)

	conn, err := amqp091.Dial(server(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete("heraldtest."+busdriver.Name(topic, "g"), false, false, false); err != nil {
		t.Fatalf("deleting the queue: %v", err)
	}
	brokertest.PublishUntilHandled(t, b, topic, &got)
}
