package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestMain runs every test twice: on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { storetest.Main(m) }

// waitLimit is how long a test waits for something asynchronous: long, as
// it bounds only a failing test, and a loaded machine runs slowly.
const waitLimit = 30 * time.Second

// bundle is what a test's services share: one database, one bus, one
// coordinator, and the post.due events that reached the bus.
type bundle struct {
	t     *testing.T
	db    *store.DB
	bus   *mem.Bus
	coord *fakeCoord
	dues  *dues
	// clock is given to every service of the bundle; nil is the real one.
	clock clockwork.Clock
	// outbound fetches feeds; nil is the safe default (no loopback).
	outbound *http.Client
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &bundle{t: t, db: db, bus: mem.New(), coord: newFakeCoord(), dues: &dues{}}
	t.Cleanup(func() { b.bus.Close() })
	if _, err := b.bus.Subscribe(ctx, bus.TopicPostDue, "test", b.dues.handle); err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig polls often so balancing and change polling show up quickly.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Poll = 50 * time.Millisecond
	return cfg
}

// service makes a migrated service on the bundle; start says whether to
// start it. It is closed when the test ends.
func (b *bundle) service(start bool, tune func(*Config)) *Service {
	b.t.Helper()
	cfg := testConfig()
	if tune != nil {
		tune(&cfg)
	}
	s, err := New(cfg, Deps{DB: b.db, Bus: b.bus, Coord: b.coord, Clock: b.clock, Outbound: b.outbound, Log: testLog(b.t)})
	if err != nil {
		b.t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.t.Fatal(err)
	}
	if start {
		if err := s.Start(ctx); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Cleanup(func() { s.Close() })
	return s
}

// testLog sends the service's log to the test's output, shown when it fails.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// due is a post.due event as it reached the bus.
type due struct {
	msgID string
	ev    *eventsv1.PostDue
	at    time.Time
}

// dues records each post.due event once, as a consumer deduplicating by
// message id would: the bus and the outbox deliver at least once, so the
// same event may arrive twice, but a second fire would be a second event.
type dues struct {
	mu   sync.Mutex
	got  []due
	seen map[string]bool
}

func (d *dues) handle(_ context.Context, m *bus.Message) error {
	at := time.Now()
	ev := &eventsv1.PostDue{}
	if err := proto.Unmarshal(m.Payload, ev); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[m.ID] {
		return nil
	}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	d.seen[m.ID] = true
	d.got = append(d.got, due{msgID: m.ID, ev: ev, at: at})
	return nil
}

// of returns the events of one schedule.
func (d *dues) of(tenantID, scheduleID string) []due {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []due
	for _, x := range d.got {
		if x.ev.GetTenantId() == tenantID && x.ev.GetScheduleId() == scheduleID {
			out = append(out, x)
		}
	}
	return out
}

func (d *dues) all() []due {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]due(nil), d.got...)
}

// waitFired waits until the schedule's post.due reached the bus and returns
// the first one.
func (b *bundle) waitFired(tenantID, scheduleID string) due {
	b.t.Helper()
	var got []due
	eventually(b.t, "post.due of "+scheduleID, func() bool {
		got = b.dues.of(tenantID, scheduleID)
		return len(got) > 0
	})
	return got[0]
}

// drain waits until the services' outboxes are empty, so every event that
// will ever be published has been.
func (b *bundle) drain(svcs ...*Service) {
	b.t.Helper()
	b.drainWithin(waitLimit, svcs...)
}

// drainWithin is drain with its own deadline, for tests that move many
// events.
func (b *bundle) drainWithin(limit time.Duration, svcs ...*Service) {
	b.t.Helper()
	eventuallyWithin(b.t, limit, "outboxes drained", func() bool {
		for _, s := range svcs {
			if n, err := s.outbox.Pending(context.Background()); err != nil || n > 0 {
				return false
			}
		}
		return true
	})
}

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, waitLimit, what, cond)
}

// eventuallyWithin polls cond until it holds, failing the test after limit.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scheduleReq(tenantID, scheduleID string, at time.Time) *triggerv1.ScheduleRequest {
	return &triggerv1.ScheduleRequest{
		TenantId: tenantID, ScheduleId: scheduleID, PostId: "post_" + scheduleID,
		Revision: 3, DueAt: timestamppb.New(at), Zone: "Europe/Paris",
	}
}

func mustSchedule(t *testing.T, s *Service, req *triggerv1.ScheduleRequest) *triggerv1.Schedule {
	t.Helper()
	res, err := s.Schedule(context.Background(), req)
	if err != nil {
		t.Fatalf("Schedule(%s): %v", req.GetScheduleId(), err)
	}
	return res.GetSchedule()
}

func mustGet(t *testing.T, s *Service, tenantID, scheduleID string) *triggerv1.Schedule {
	t.Helper()
	res, err := s.GetSchedule(context.Background(), &triggerv1.GetScheduleRequest{TenantId: tenantID, ScheduleId: scheduleID})
	if err != nil {
		t.Fatalf("GetSchedule(%s): %v", scheduleID, err)
	}
	return res.GetSchedule()
}

// storedLateness reads the lateness the fire stored.
func (b *bundle) storedLateness(tenantID, scheduleID string) time.Duration {
	b.t.Helper()
	var us int64
	if err := b.db.QueryRow(context.Background(), `SELECT lateness_us FROM trigger_schedules WHERE tenant_id = ? AND id = ?`,
		tenantID, scheduleID).Scan(&us); err != nil {
		b.t.Fatal(err)
	}
	return time.Duration(us) * time.Microsecond
}

// sleepUntil waits for an instant to pass: for tests that need time to go
// by (downtime), not to wait for work.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func sid(i int) string { return fmt.Sprintf("sched_%04d", i) }

// recorder records each event of one kind once, by message id, as a
// consumer deduplicating redeliveries would.
type recorder[T proto.Message] struct {
	make func() T
	mu   sync.Mutex
	got  []T
	seen map[string]bool
}

func newRecorder[T proto.Message](make func() T) *recorder[T] {
	return &recorder[T]{make: make, seen: map[string]bool{}}
}

func (r *recorder[T]) handle(_ context.Context, msg *bus.Message) error {
	ev := r.make()
	if err := proto.Unmarshal(msg.Payload, ev); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.seen[msg.ID] {
		r.seen[msg.ID] = true
		r.got = append(r.got, ev)
	}
	return nil
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder[T]) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}
