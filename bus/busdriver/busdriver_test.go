package busdriver_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/busdriver"
	"github.com/heraldhq/herald/errs"
)

func TestCheckTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic string
		ok    bool
	}{
		{"post.due", true},
		{"account.needs_reconnect", true},
		{"a-b.C_9", true},
		{"single", true},
		{strings.Repeat("a", busdriver.MaxTopicLen), true},
		{strings.Repeat("a", busdriver.MaxTopicLen+1), false},
		{"", false},
		{".post", false},
		{"post.", false},
		{"post..due", false},
		{"post.*", false},
		{"post.>", false},
		{"post.#", false},
		{"post due", false},
		{"post/due", false},
		{"pöst", false},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			t.Parallel()
			why := busdriver.CheckTopic(tt.topic)
			if (why == "") != tt.ok {
				t.Errorf("CheckTopic(%q) = %q, want ok=%v", tt.topic, why, tt.ok)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := &bus.Message{ID: "evt_1", Topic: "post.due"}
	h := func(context.Context, *bus.Message) error { return nil }
	tests := []struct {
		name   string
		err    error
		fields []string
	}{
		{"good batch", busdriver.ValidateMessages([]*bus.Message{good, good}), nil},
		{"empty batch", busdriver.ValidateMessages(nil), nil},
		{"nil message", busdriver.ValidateMessages([]*bus.Message{good, nil}), []string{"msgs[1]"}},
		{"no id, bad topic", busdriver.ValidateMessages([]*bus.Message{{Topic: "a..b"}}), []string{"msgs[0].id", "msgs[0].topic"}},
		{"good subscribe", busdriver.ValidateSubscribe("post.due", "g", h), nil},
		{"bad subscribe", busdriver.ValidateSubscribe("post.*", "", nil), []string{"topic", "group", "handler"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.fields == nil {
				if tt.err != nil {
					t.Fatalf("got %v, want nil", tt.err)
				}
				return
			}
			e, ok := errs.As(tt.err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("got %v, want an %q error", tt.err, errs.Invalid)
			}
			if len(e.Fields) != len(tt.fields) {
				t.Errorf("fields %v, want exactly %v", e.Fields, tt.fields)
			}
			for _, f := range tt.fields {
				if e.Fields[f] == "" {
					t.Errorf("fields %v do not name %q", e.Fields, f)
				}
			}
		})
	}
}

// Names are safe for every broker, stable, and distinct for distinct pairs
// even when their readable parts are the same.
func TestName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	pairs := [][2]string{
		{"post.due", "publisher"},
		{"post_due", "publisher"}, // same readable part as the first
		{"post.due.publisher", ""},
		{"post", "due.publisher"},
		{long + "a", "g"},
		{long + "b", "g"}, // same truncated readable part as the previous
		{"post.due", "grüße / * > \\ ."},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := busdriver.Name(p[0], p[1])
		if n != busdriver.Name(p[0], p[1]) {
			t.Errorf("Name%q is not stable", p)
		}
		if len(n) > 81 {
			t.Errorf("Name%q = %q: %d bytes, want at most 81", p, n, len(n))
		}
		for _, r := range n {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				t.Errorf("Name%q = %q has %q", p, n, r)
			}
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("Name%q = Name%q = %q", p, prev, n)
		}
		seen[n] = p
	}
	if n := busdriver.Name("post.due", "publisher"); !strings.HasPrefix(n, "post_due-publisher-") {
		t.Errorf("Name = %q, want it to start with the topic and group", n)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		hideUser bool
		want     string
	}{
		{"amqp://guest:secret@host:5672/vh", false, "amqp://guest:xxxxx@host:5672/vh"},
		{"amqp://guest@host:5672/", false, "amqp://guest@host:5672/"},
		{"nats://token@host:4222", true, "nats://xxxxx@host:4222"},
		{"nats://user:pw@host:4222?stream=S", true, "nats://user:xxxxx@host:4222?stream=S"},
		{"nats://host:4222", true, "nats://host:4222"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := busdriver.Redact(u, tt.hideUser); got != tt.want {
			t.Errorf("Redact(%q, %v) = %q, want %q", tt.url, tt.hideUser, got, tt.want)
		}
	}
}

// OpenError is one line, without the secret even when the cause quotes it,
// of kind Unavailable, and keeps its cause.
func TestOpenError(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("amqp://guest:hunter2@127.0.0.1:5672/")
	cause := errors.New(`dial amqp://guest:hunter2@127.0.0.1:5672/: connection refused`)
	err := busdriver.OpenError(u, false, cause)
	want := "bus: cannot open amqp://guest:xxxxx@127.0.0.1:5672/: dial amqp://guest:xxxxx@127.0.0.1:5672/: connection refused"
	if err.Error() != want {
		t.Errorf("OpenError = %q, want %q", err, want)
	}
	if errs.KindOf(err) != errs.Unavailable {
		t.Errorf("kind %q, want %q", errs.KindOf(err), errs.Unavailable)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost")
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	v, _ := url.ParseQuery("wait=2s&n=3&on=true&kind=b&name=x&short=1ms&twice=1&twice=2&bad=x&extra=1")
	q := busdriver.NewQuery(v)
	if got := q.Duration("wait", time.Second, 0); got != 2*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if got := q.Duration("absent", time.Second, 0); got != time.Second {
		t.Errorf("Duration of an absent option = %v, want the default", got)
	}
	if got := q.Int("n", 1, 1); got != 3 {
		t.Errorf("Int = %v", got)
	}
	if !q.Bool("on", false) {
		t.Error("Bool = false")
	}
	if got := q.OneOf("kind", "a", "a", "b"); got != "b" {
		t.Errorf("OneOf = %q", got)
	}
	if got := q.String("name", "d"); got != "x" {
		t.Errorf("String = %q", got)
	}
	q.Duration("short", time.Second, time.Second)
	q.Int("twice", 0, 0)
	q.Int("bad", 0, 0)
	e, ok := errs.As(q.Err())
	if !ok || e.Kind != errs.Invalid {
		t.Fatalf("Err = %v, want an %q error", q.Err(), errs.Invalid)
	}
	for _, f := range []string{"short", "twice", "bad", "extra"} {
		if e.Fields[f] == "" {
			t.Errorf("Err %v does not name %q", e, f)
		}
	}
	if len(e.Fields) != 4 {
		t.Errorf("Err names %v, want only short, twice, bad and extra", e.Fields)
	}
}

// The runner never runs more handlers than its concurrency, settles each
// message after its handler, and after Stop refuses messages and Wait
// returns once the running handlers have.
func TestRunner(t *testing.T) {
	t.Parallel()
	const limit = 3
	var running, most atomic.Int32
	release := make(chan struct{})
	r := busdriver.NewRunner(t.Context(), "t", "g", func(ctx context.Context, m *bus.Message) error {
		n := running.Add(1)
		defer running.Add(-1)
		for old := most.Load(); n > old && !most.CompareAndSwap(old, n); old = most.Load() {
		}
		<-release
		if m.ID == "panic" {
			panic("on purpose")
		}
		return nil
	}, limit, 0)

	var (
		mu      sync.Mutex
		settled = map[string]error{}
		started sync.WaitGroup
	)
	settle := func(id string) func(error) {
		return func(err error) {
			mu.Lock()
			settled[id] = err
			mu.Unlock()
		}
	}
	ids := []string{"a", "b", "panic", "c", "d"}
	started.Go(func() {
		for _, id := range ids {
			if !r.Go(&bus.Message{ID: id}, nil, settle(id)) {
				t.Errorf("Go(%s) refused before Stop", id)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for running.Load() < limit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	started.Wait()
	r.Stop()
	r.Wait()
	if most.Load() > limit {
		t.Errorf("%d handlers ran at once, want at most %d", most.Load(), limit)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		err, ok := settled[id]
		switch {
		case !ok:
			t.Errorf("%s was not settled", id)
		case id == "panic" && (err == nil || !strings.Contains(err.Error(), "panicked")):
			t.Errorf("a panicking handler settled with %v, want an error", err)
		case id != "panic" && err != nil:
			t.Errorf("%s settled with %v", id, err)
		}
	}
	if r.Go(&bus.Message{ID: "late"}, nil, settle("late")) {
		t.Error("Go after Stop ran the handler")
	}
	if r.Context().Err() == nil {
		t.Error("the handlers' context is not done after Stop")
	}
}

// keepAlive is called again and again while the handler runs, and no more
// once it has returned.
func TestRunnerKeepAlive(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := busdriver.NewRunner(t.Context(), "t", "g", func(context.Context, *bus.Message) error {
		<-release
		return nil
	}, 1, time.Millisecond)
	var calls atomic.Int32
	settled := make(chan struct{})
	r.Go(&bus.Message{ID: "a"}, func() { calls.Add(1) }, func(error) { close(settled) })
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("keepAlive called %d times in 10s while the handler ran, want it called every millisecond", calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-settled
	r.Stop()
	r.Wait()
	// A call under way when the handler returned may still finish.
	time.Sleep(5 * time.Millisecond)
	after := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if n := calls.Load(); n != after {
		t.Errorf("keepAlive called %d more times after the handler returned", n-after)
	}
}

func TestAwait(t *testing.T) {
	t.Parallel()
	v, err := busdriver.Await(t.Context(), func() (int, error) { return 7, nil }, nil)
	if v != 7 || err != nil {
		t.Errorf("Await = %v, %v; want 7, nil", v, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	unblock := make(chan struct{})
	abandoned := make(chan int, 1)
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	_, err = busdriver.Await(ctx, func() (int, error) { <-unblock; return 8, nil }, func(v int) { abandoned <- v })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Await with a cancelled context = %v, want context.Canceled", err)
	}
	close(unblock)
	select {
	case v := <-abandoned:
		if v != 8 {
			t.Errorf("abandon got %d, want 8", v)
		}
	case <-time.After(10 * time.Second):
		t.Error("the late result was not handed to abandon")
	}
}
