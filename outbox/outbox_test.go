package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
	_ "github.com/heraldhq/herald/store/sqlite"
)

const (
	prefix = "test_"
	topic  = "test.happened"
	// timeout bounds every wait for the relay: generous, since only what
	// happens is checked, never how fast.
	timeout = time.Minute
)

// stores are the databases every test runs against: the in-memory one of
// tests and small setups, and a file as in production.
var stores = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return "sqlite://:memory:" }},
	{"file", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "herald.db") }},
}

// forEachStore runs test as a parallel subtest per store.
func forEachStore(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			test(t, st.url(t))
		})
	}
}

type bundle struct {
	db  *store.DB
	bus *mem.Bus
	ob  *outbox.Outbox
	rec *recorder
}

// setup opens the store at url and a mem bus, migrates the outbox, and
// subscribes a recorder to topic. The relay is not started.
func setup(t *testing.T, url string, wrap func(bus.Bus) bus.Bus) *bundle {
	t.Helper()
	db, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	b := mem.New()
	t.Cleanup(func() { _ = b.Close() })

	var relayed bus.Bus = b
	if wrap != nil {
		relayed = wrap(b)
	}
	ob := outbox.New(db, prefix, relayed, slog.New(slog.NewTextHandler(t.Output(), nil)))
	// Migrate twice: starting a service again must not fail.
	for range 2 {
		if err := ob.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	rec := new(recorder)
	if _, err := b.Subscribe(t.Context(), topic, "test", rec.handle); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return &bundle{db: db, bus: b, ob: ob, rec: rec}
}

// run starts the relay until the test ends; stop ends it early and waits
// for Run to return.
func (tb *bundle) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tb.ob.Run(ctx)
	}()
	stop = func() {
		t.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(timeout):
			t.Fatalf("Run did not return within %v of its context being cancelled", timeout)
		}
	}
	t.Cleanup(stop)
	return stop
}

// add writes one event carrying text in its own committed transaction.
func (tb *bundle) add(t *testing.T, text string) string {
	t.Helper()
	var eid string
	err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
		var err error
		eid, err = tb.ob.Add(t.Context(), tx, topic, wrapperspb.String(text))
		return err
	})
	if err != nil {
		t.Fatalf("adding an event: %v", err)
	}
	return eid
}

func (tb *bundle) pending(t *testing.T) int {
	t.Helper()
	n, err := tb.ob.Pending(t.Context())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return n
}

// eventually polls cond until it holds, failing t after the timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder counts the deliveries of each event and keeps its text.
type recorder struct {
	mu    sync.Mutex
	count map[string]int
	text  map[string]string
	total int
}

func (r *recorder) handle(_ context.Context, m *bus.Message) error {
	var ev wrapperspb.StringValue
	if err := proto.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decoding %s: %w", m.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == nil {
		r.count, r.text = map[string]int{}, map[string]string{}
	}
	r.count[m.ID]++
	r.text[m.ID] = ev.GetValue()
	r.total++
	return nil
}

func (r *recorder) got(eid string) (text string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text[eid], r.count[eid]
}

func (r *recorder) snapshot() (count map[string]int, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	count = make(map[string]int, len(r.count))
	for k, v := range r.count {
		count[k] = v
	}
	return count, r.total
}

func TestCommittedEventIsDelivered(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		tb := setup(t, url, nil)
		tb.run(t)
		eid := tb.add(t, "hello")
		if !id.HasPrefix(eid, "evt") {
			t.Errorf("event id %q is not an evt id", eid)
		}
		eventually(t, "the event to be delivered", func() bool { _, n := tb.rec.got(eid); return n > 0 })
		if text, _ := tb.rec.got(eid); text != "hello" {
			t.Errorf("delivered payload %q, want %q", text, "hello")
		}
		eventually(t, "the relayed event to leave the outbox", func() bool { return tb.pending(t) == 0 })
	})
}

func TestRolledBackEventIsNeverDelivered(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		tb := setup(t, url, nil)
		tb.run(t)

		errRollback := errors.New("the state change failed")
		var rolledBack string
		err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
			var err error
			if rolledBack, err = tb.ob.Add(t.Context(), tx, topic, wrapperspb.String("never")); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Tx = %v, want the rollback error", err)
		}
		// The relay handles events in id order, and the next event's id is
		// greater: once it has arrived, the rolled-back one had its chance.
		next := tb.add(t, "next")
		eventually(t, "the next event to be delivered", func() bool { _, n := tb.rec.got(next); return n > 0 })
		if _, n := tb.rec.got(rolledBack); n != 0 {
			t.Errorf("the event of a rolled-back transaction was delivered %d times", n)
		}
		eventually(t, "the outbox to be empty", func() bool { return tb.pending(t) == 0 })
	})
}

// flaky is a bus whose first failFirst publishes fail, as a broker that is
// down would.
type flaky struct {
	bus.Bus
	failFirst int32
	calls     atomic.Int32
	mu        sync.Mutex
	ids       []string // the event of each Publish call
}

func (f *flaky) Publish(ctx context.Context, msgs ...*bus.Message) error {
	f.mu.Lock()
	for _, m := range msgs {
		f.ids = append(f.ids, m.ID)
	}
	f.mu.Unlock()
	if f.calls.Add(1) <= f.failFirst {
		return errors.New("flaky: the broker is down")
	}
	return f.Bus.Publish(ctx, msgs...)
}

func TestEventIsKeptWhileTheBusFails(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		const failures = 3
		var fb *flaky
		tb := setup(t, url, func(b bus.Bus) bus.Bus {
			fb = &flaky{Bus: b, failFirst: failures}
			return fb
		})
		// The retries are the outbox's own backoff plus a poll: keep the
		// poll short so the test does not wait on it.
		tb.ob.Poll = 10 * time.Millisecond
		tb.run(t)

		eid := tb.add(t, "persistent")
		eventually(t, "the event to be delivered once the bus recovers", func() bool { _, n := tb.rec.got(eid); return n > 0 })
		eventually(t, "the outbox to be empty", func() bool { return tb.pending(t) == 0 })

		if _, n := tb.rec.got(eid); n != 1 {
			t.Errorf("delivered %d times, want once", n)
		}
		fb.mu.Lock()
		defer fb.mu.Unlock()
		if len(fb.ids) != failures+1 {
			t.Errorf("%d Publish calls, want %d failures and a success", len(fb.ids), failures)
		}
		for i, got := range fb.ids {
			if got != eid {
				t.Errorf("Publish call %d carried event %q, want the same event %q each time", i+1, got, eid)
			}
		}
	})
}

// An event committed while no relay runs (the process crashed, say) is
// delivered by the relay of the next process.
func TestEventSurvivesRestart(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "herald.db")
	first := setup(t, url, nil)
	eid := first.add(t, "before the crash")
	if err := first.db.Close(); err != nil {
		t.Fatal(err)
	}

	second := setup(t, url, nil)
	if n := second.pending(t); n != 1 {
		t.Fatalf("%d events pending after reopening, want 1", n)
	}
	second.run(t)
	eventually(t, "the event to be delivered after the restart", func() bool { _, n := second.rec.got(eid); return n > 0 })
}

func TestFirstDelivery(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		tb := setup(t, url, nil)
		other := outbox.New(tb.db, "other_", tb.bus, nil)
		if err := other.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		rollback := errors.New("rollback")
		// Steps run in order, each in its own transaction; firsts are the
		// results of the FirstDelivery calls within it.
		steps := []struct {
			name     string
			ob       *outbox.Outbox
			events   []string
			rollback bool
			firsts   []bool
		}{
			{"first time, then again in the same transaction", tb.ob, []string{"evt_a", "evt_a"}, false, []bool{true, false}},
			{"again in a later transaction", tb.ob, []string{"evt_a"}, false, []bool{false}},
			{"another event", tb.ob, []string{"evt_b"}, false, []bool{true}},
			{"first time, rolled back", tb.ob, []string{"evt_c"}, true, []bool{true}},
			{"after the rollback, still the first time", tb.ob, []string{"evt_c"}, false, []bool{true}},
			{"another service has its own inbox", other, []string{"evt_a"}, false, []bool{true}},
		}
		for _, st := range steps {
			var got []bool
			err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
				for _, e := range st.events {
					first, err := st.ob.FirstDelivery(t.Context(), tx, e)
					if err != nil {
						return err
					}
					got = append(got, first)
				}
				if st.rollback {
					return rollback
				}
				return nil
			})
			if err != nil && !(st.rollback && errors.Is(err, rollback)) {
				t.Fatalf("%s: %v", st.name, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(st.firsts) {
				t.Errorf("%s: FirstDelivery = %v, want %v", st.name, got, st.firsts)
			}
		}
	})
}

// With a poll interval far beyond the test's deadline, only the wake-up at
// commit can get events delivered in time.
func TestRelayIsWokenAtCommit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		tb := setup(t, url, nil)
		tb.ob.Poll = time.Hour
		tb.run(t)
		// Several rounds, each waiting for the relay to go idle again, so
		// most commits find it asleep rather than mid-scan.
		for i := range 10 {
			eid := tb.add(t, fmt.Sprint("round ", i))
			eventually(t, fmt.Sprintf("event %d to be delivered", i), func() bool { _, n := tb.rec.got(eid); return n > 0 })
			eventually(t, "the outbox to be empty", func() bool { return tb.pending(t) == 0 })
		}
	})
}

// Thousands of events, committed concurrently in batches, are each delivered
// exactly once when nothing fails.
func TestManyEventsDeliveredExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		const txs, perTx = 30, 100
		tb := setup(t, url, nil)
		stop := tb.run(t)

		var (
			mu   sync.Mutex
			eids []string
			wg   sync.WaitGroup
		)
		for i := range txs {
			wg.Go(func() {
				var batch []string
				err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
					batch = batch[:0]
					for j := range perTx {
						eid, err := tb.ob.Add(t.Context(), tx, topic, wrapperspb.String(fmt.Sprint(i, "/", j)))
						if err != nil {
							return err
						}
						batch = append(batch, eid)
					}
					return nil
				})
				if err != nil {
					t.Errorf("transaction %d: %v", i, err)
					return
				}
				mu.Lock()
				eids = append(eids, batch...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}

		eventually(t, "every event to be delivered", func() bool {
			count, _ := tb.rec.snapshot()
			return len(count) == txs*perTx
		})
		eventually(t, "the outbox to be empty", func() bool { return tb.pending(t) == 0 })
		// Stopped, the relay has no publish in flight that could still
		// deliver a duplicate.
		stop()

		count, total := tb.rec.snapshot()
		if total != txs*perTx {
			t.Errorf("%d deliveries of %d events, want each exactly once", total, txs*perTx)
		}
		for _, eid := range eids {
			if count[eid] != 1 {
				t.Errorf("event %s delivered %d times, want once", eid, count[eid])
			}
		}
	})
}

func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// inFlight: the consumer is still handling an event when Run's
		// context is cancelled.
		inFlight bool
	}{
		{"idle", false},
		{"publish in flight", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, "sqlite://:memory:", nil)
			entered := make(chan struct{})
			if tt.inFlight {
				var once sync.Once
				if _, err := tb.bus.Subscribe(t.Context(), topic, "stuck", func(ctx context.Context, _ *bus.Message) error {
					once.Do(func() { close(entered) })
					<-ctx.Done() // held until the test ends
					return ctx.Err()
				}); err != nil {
					t.Fatal(err)
				}
			}
			stop := tb.run(t)
			if tt.inFlight {
				tb.add(t, "stuck")
				select {
				case <-entered:
				case <-time.After(timeout):
					t.Fatal("the event never reached the stuck consumer")
				}
			}
			stop() // fails the test if Run does not return

			// An event whose publish was interrupted stays for the next run.
			want := 0
			if tt.inFlight {
				want = 1
			}
			if n := tb.pending(t); n != want {
				t.Errorf("%d events pending after Run stopped, want %d", n, want)
			}
		})
	}
}

// Events written together in one transaction, more than one INSERT and
// more than one Publish call hold, each reach the bus exactly once, with
// their own content, under the ids AddBatch returned in order.
func TestBatchDeliveredExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, url string) {
		const n = 2500
		tb := setup(t, url, nil)
		evs := make([]proto.Message, n)
		for i := range evs {
			evs[i] = wrapperspb.String(fmt.Sprint("event ", i))
		}
		var eids []string
		err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
			var err error
			eids, err = tb.ob.AddBatch(t.Context(), tx, topic, evs)
			return err
		})
		if err != nil {
			t.Fatalf("AddBatch: %v", err)
		}
		if len(eids) != n {
			t.Fatalf("AddBatch returned %d ids, want %d", len(eids), n)
		}
		stop := tb.run(t)
		eventually(t, "every event to be delivered", func() bool {
			count, _ := tb.rec.snapshot()
			return len(count) == n
		})
		eventually(t, "the outbox to be empty", func() bool { return tb.pending(t) == 0 })
		stop()
		_, total := tb.rec.snapshot()
		if total != n {
			t.Errorf("%d deliveries of %d events, want each exactly once", total, n)
		}
		for i, eid := range eids {
			if text, _ := tb.rec.got(eid); text != fmt.Sprint("event ", i) {
				t.Errorf("event %s carried %q, want %q", eid, text, fmt.Sprint("event ", i))
			}
		}
	})
}

// A nil event in a batch is refused by its position, and nothing of the
// batch is written even when the transaction commits.
func TestBatchRefusesNilEvent(t *testing.T) {
	t.Parallel()
	tb := setup(t, "sqlite://:memory:", nil)
	var addErr error
	err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
		_, addErr = tb.ob.AddBatch(t.Context(), tx, topic, []proto.Message{wrapperspb.String("a"), nil})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if addErr == nil || !strings.Contains(addErr.Error(), "events[1]") {
		t.Errorf("AddBatch with a nil second event: %v, want an error naming events[1]", addErr)
	}
	if n := tb.pending(t); n != 0 {
		t.Errorf("%d events stored, want none", n)
	}
}

// refusing is a bus that refuses every Publish carrying one event, as a
// broker refusing a malformed message would.
type refusing struct {
	bus.Bus
	bad string
}

func (r *refusing) Publish(ctx context.Context, msgs ...*bus.Message) error {
	for _, m := range msgs {
		if m.ID == r.bad {
			return errors.New("refusing: message rejected")
		}
	}
	return r.Bus.Publish(ctx, msgs...)
}

// An event the bus keeps refusing, published in one chunk with others,
// does not hold them back: after the failed chunk each is retried alone.
func TestRefusedEventDoesNotHoldItsChunk(t *testing.T) {
	t.Parallel()
	var rb *refusing
	tb := setup(t, "sqlite://:memory:", func(b bus.Bus) bus.Bus {
		rb = &refusing{Bus: b}
		return rb
	})
	tb.ob.Poll = 10 * time.Millisecond
	evs := make([]proto.Message, 10)
	for i := range evs {
		evs[i] = wrapperspb.String(fmt.Sprint(i))
	}
	var eids []string
	if err := tb.db.Tx(t.Context(), func(tx *store.Tx) error {
		var err error
		eids, err = tb.ob.AddBatch(t.Context(), tx, topic, evs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rb.bad = eids[3]
	tb.run(t)
	eventually(t, "every other event to be delivered", func() bool {
		count, _ := tb.rec.snapshot()
		return len(count) == len(eids)-1
	})
	if _, n := tb.rec.got(eids[3]); n != 0 {
		t.Errorf("the refused event was delivered %d times", n)
	}
	eventually(t, "only the refused event to be left in the outbox", func() bool { return tb.pending(t) == 1 })
}
