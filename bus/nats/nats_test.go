package nats_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/bus/busdriver/brokertest"
	"github.com/heraldhq/herald/bus/bustest"
	_ "github.com/heraldhq/herald/bus/nats"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
)

// testOptions keep the tests' events apart from an installation's (their
// own stream and subjects) and let the server forget the tests' many groups.
//
// The timeouts are generous: the tests check what happens, not how
// fast, and CI machines are busy.
//
// The stream was renamed when streams moved to limits retention: a server
// may still hold the old one, with interest retention, which Open refuses.
const testOptions = "stream=HERALD_TEST_LIMITS&prefix=heraldtestlimits&inactive=10m&connect_timeout=30s&request_timeout=30s"

// server returns the test server's URL, or skips (fails in CI) without one.
func server(t testing.TB) string {
	t.Helper()
	return brokertest.Server(t, "HERALD_TEST_NATS_URL", "nats://127.0.0.1:4222")
}

// withQuery adds query options to a URL.
func withQuery(raw, query string) string {
	if strings.Contains(raw, "?") {
		return raw + "&" + query
	}
	return raw + "?" + query
}

// open opens the bus at the test server with the test options and extra
// ones; the bus is closed when t ends.
func open(t testing.TB, extra ...string) bus.Bus {
	t.Helper()
	return openQuery(t, strings.Join(append([]string{testOptions}, extra...), "&"))
}

// openQuery opens the bus at the test server with the query options given.
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

// Memory storage does not survive a server restart, and the bus says so.
func TestMemoryStorageIsNotDurable(t *testing.T) {
	t.Parallel()
	b := openQuery(t, "stream=HERALD_TEST_LIMITS_MEM&prefix=heraldtestlimitsmem&storage=memory&inactive=10m&connect_timeout=30s&request_timeout=30s")
	if b.Features().Durable {
		t.Error("a bus on a memory stream declares Durable")
	}
	if !open(t).Features().Durable {
		t.Error("a bus on a file stream does not declare Durable")
	}
}

// Open refuses a malformed URL before connecting, naming what is wrong.
func TestOpenRejectsBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url   string
		field string
	}{
		{"nats://127.0.0.1:4222?ack_wait=soon", "ack_wait"},
		{"nats://127.0.0.1:4222?ack_wait=10ms", "ack_wait"},
		{"nats://127.0.0.1:4222?max_deliver=0", "max_deliver"},
		{"nats://127.0.0.1:4222?replicas=0", "replicas"},
		{"nats://127.0.0.1:4222?storage=disk", "storage"},
		{"nats://127.0.0.1:4222?retention=workqueue", "retention"},
		{"nats://127.0.0.1:4222?stream=a.b", "stream"},
		{"nats://127.0.0.1:4222?prefix=a.*", "prefix"},
		{"nats://127.0.0.1:4222?prefix=", "prefix"},
		{"nats://127.0.0.1:4222?strem=X", "strem"},
		{"nats://127.0.0.1:4222?stream=A&stream=B", "stream"},
		{"nats://127.0.0.1:4222/HERALD", "url"},
		{"nats:///", "url"},
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
// without credentials, and the cause.
func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	closed := brokertest.ClosedAddr(t)
	tests := []struct {
		name   string
		url    string
		secret string
		shown  string
	}{
		{"nothing listens", "nats://" + closed, "", "nats://" + closed},
		{"password", "nats://herald:s3cret-pw@" + closed, "s3cret-pw", "nats://herald:xxxxx@" + closed},
		{"token", "nats://s3cret-token@" + closed, "s3cret-token", "nats://xxxxx@" + closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			b, err := bus.Open(t.Context(), tt.url+"?connect_timeout=2s")
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded with nothing listening")
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Open took %v to fail, want a few seconds at most", took)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bus: ") || !strings.Contains(msg, tt.shown) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with %q and naming %q", msg, "bus: ", tt.shown)
			}
			if !strings.Contains(msg, "refused") && !strings.Contains(msg, "no servers") {
				t.Errorf("error %q does not say why", msg)
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("error %q shows the credentials", msg)
			}
			if errs.KindOf(err) != errs.Unavailable {
				t.Errorf("error kind %q, want %q", errs.KindOf(err), errs.Unavailable)
			}
		})
	}
}

// A handler that runs longer than ack_wait keeps its message: the bus tells
// the server it is still working, so the message is not handed out again.
func TestSlowHandlerIsNotRedelivered(t *testing.T) {
	t.Parallel()
	b := open(t, "ack_wait=1s")
	topic := "slow." + strings.ToLower(id.New("t"))
	var calls atomic.Int32
	done := make(chan struct{})
	sub, err := b.Subscribe(t.Context(), topic, "slow", func(ctx context.Context, _ *bus.Message) error {
		if calls.Add(1) == 1 {
			defer close(done)
			select {
			case <-time.After(3 * time.Second): // three times ack_wait
			case <-ctx.Done():
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	if err := b.Publish(t.Context(), &bus.Message{ID: id.New("evt"), Topic: topic}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never finished")
	}
	// A redelivery, if the server made one, would have come while the
	// handler ran (after one ack_wait).
	if n := calls.Load(); n != 1 {
		t.Errorf("the handler was called %d times for one message it was handling, want once", n)
	}
}

// The server drops an event id it has already stored, so the outbox
// publishing an event twice does not make the group handle it twice.
func TestRepublishedIDIsDropped(t *testing.T) {
	t.Parallel()
	b := open(t)
	topic := "dupe." + strings.ToLower(id.New("t"))
	var got brokertest.Recorder
	sub, err := b.Subscribe(t.Context(), topic, "g", got.Handle)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	m := &bus.Message{ID: id.New("evt"), Topic: topic, Payload: []byte("once")}
	marker := &bus.Message{ID: id.New("evt"), Topic: topic, Payload: []byte("after")}
	for _, msg := range []*bus.Message{m, m, marker} {
		if err := b.Publish(t.Context(), msg); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	brokertest.Eventually(t, 10*time.Second, "the later message", func() bool { return got.Count(marker.ID) > 0 })
	if n := got.Count(m.ID); n != 1 {
		t.Errorf("an event published twice was handled %d times, want once", n)
	}
}

// The bus survives the server restarting (brokertest.SurvivesRestart says
// what that means); run with HERALD_TEST_RESTARTS=1.
func TestRestartNATS(t *testing.T) {
	brokertest.RequireRestarts(t)
	brokertest.SurvivesRestart(t, open(t), "nats")
}

// When the server loses a group's consumer (deleted by an operator, or a
// restart with memory storage), the subscription makes it again and
// delivers again.
func TestLostConsumerIsMadeAgain(t *testing.T) {
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

	nc, err := natsgo.Connect(server(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(t.Context(), "HERALD_TEST_LIMITS", busdriver.Name(topic, "g")); err != nil {
		t.Fatalf("deleting the consumer: %v", err)
	}
	brokertest.PublishUntilHandled(t, b, topic, &got)
}

// A stream that exists with the other retention is refused at Open, with
// what to do; the server could not change it, and using it quietly would
// change what a server restart may lose.
func TestOpenRefusesAStreamOfTheOtherRetention(t *testing.T) {
	t.Parallel()
	name := strings.ToUpper(strings.ReplaceAll(id.New("ret"), "_", ""))
	opts := "stream=" + name + "&prefix=" + strings.ToLower(name) + "&inactive=10m&connect_timeout=30s&request_timeout=30s"
	openQuery(t, opts+"&retention=interest")
	t.Cleanup(func() { deleteStream(t, name) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := bus.Open(ctx, withQuery(server(t), opts))
	if err == nil {
		other.Close()
		t.Fatal("a limits bus opened on an interest stream")
	}
	if !strings.Contains(err.Error(), "interest retention") || !strings.Contains(err.Error(), "retention=interest") {
		t.Errorf("error %q does not say what the stream has and how to keep it", err)
	}
}

// deleteStream removes a test's own stream from the test server.
func deleteStream(t *testing.T, name string) {
	t.Helper()
	nc, err := natsgo.Connect(server(t))
	if err != nil {
		t.Errorf("connecting to delete stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		err = js.DeleteStream(context.Background(), name)
	}
	if err != nil {
		t.Errorf("deleting stream %s: %v", name, err)
	}
}
