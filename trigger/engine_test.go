package trigger

import (
	"context"
	"fmt"
	"github.com/heraldhq/herald/store"
	"testing"

	"github.com/jonboulle/clockwork"
	"time"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// waitBalanced waits until the services own every shard between them, each
// some.
func waitBalanced(t *testing.T, svcs ...*Service) {
	t.Helper()
	eventually(t, "shards shared between engines", func() bool {
		total := 0
		for _, s := range svcs {
			n := s.Stats().OwnedShards
			if n == 0 {
				return false
			}
			total += n
		}
		return total == svcs[0].cfg.Shards
	})
}

// checkEachOnce checks that every schedule of ids fired exactly once.
func checkEachOnce(t *testing.T, b *bundle, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range b.dues.all() {
		seen[d.ev.GetScheduleId()]++
	}
	for i := range n {
		if got := seen[sid(i)]; got != 1 {
			t.Errorf("%s fired %d times, want once", sid(i), got)
		}
	}
}

func TestTwoEnginesFireEachScheduleOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one, two := b.service(true, nil), b.service(true, nil)
	waitBalanced(t, one, two)

	const n = 300
	for i := range n {
		// Each service is asked about schedules of shards the other owns
		// too; the owner learns of them from the database. Dues are
		// relative to each request, so a slow machine does not make them
		// overdue.
		via := []*Service{one, two}[i%2]
		at := time.Now().Add(300*time.Millisecond + time.Duration(i%7)*10*time.Millisecond)
		mustSchedule(t, via, scheduleReq(tenant, sid(i), at))
	}
	eventually(t, "every schedule fired", func() bool { return one.Stats().Fired+two.Stats().Fired >= n })
	b.drain(one, two)
	checkEachOnce(t, b, n)
	s1, s2 := one.Stats(), two.Stats()
	if s1.Fired == 0 || s2.Fired == 0 || s1.Fired+s2.Fired != n {
		t.Errorf("fired %d and %d, want both to fire and %d in all", s1.Fired, s2.Fired, n)
	}
	for _, d := range b.dues.all() {
		if d.ev.GetFiredAt().AsTime().Before(d.ev.GetDueAt().AsTime()) {
			t.Errorf("%s fired at %v, before due %v", d.ev.GetScheduleId(), d.ev.GetFiredAt().AsTime(), d.ev.GetDueAt().AsTime())
		}
	}
}

func TestSurvivorTakesOverWhenAnEngineStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	leaving, staying := b.service(true, nil), b.service(true, nil)
	waitBalanced(t, leaving, staying)

	const n = 200
	var last time.Time
	for i := range n {
		last = time.Now().Add(500*time.Millisecond + time.Duration(i)*3*time.Millisecond)
		mustSchedule(t, staying, scheduleReq(tenant, sid(i), last))
	}
	// Stop one engine while its share is due.
	sleepUntil(last.Add(-300 * time.Millisecond))
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	// The survivor takes over half the shards and fires and relays a
	// hundred-odd schedules at once: on a loaded machine (race detector,
	// PostgreSQL) that can take longer than the usual wait, so the handover
	// gets a wider deadline. It is a bound on waiting, not on speed.
	const handover = 3 * waitLimit
	eventuallyWithin(t, handover, "the survivor owns every shard", func() bool { return staying.Stats().OwnedShards == staying.cfg.Shards })
	// Counted by the events, not the engines' stats: a fire whose commit
	// raced the leaving engine's shutdown committed, but its engine saw the
	// cancellation and did not count it.
	eventuallyWithin(t, handover, "every schedule fired", func() bool {
		var pending int
		err := b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM trigger_schedules WHERE state = 'pending'`).Scan(&pending)
		return err == nil && pending == 0
	})
	b.drainWithin(handover, leaving, staying)
	checkEachOnce(t, b, n)
}

func TestLostShardLocksStopFiringUntilRegained(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	at := time.Now().Add(time.Second)
	mustSchedule(t, s, scheduleReq(tenant, "s1", at))

	b.coord.steal(s.cfg.NodeID, "intruder")
	eventually(t, "every shard dropped", func() bool {
		st := s.Stats()
		return st.OwnedShards == 0 && st.InMemory == 0
	})
	sleepUntil(at.Add(300 * time.Millisecond))
	if n := len(b.dues.of(tenant, "s1")); n != 0 {
		t.Fatalf("fired %d times by an engine that lost its shard", n)
	}
	if st := mustGet(t, s, tenant, "s1").GetState(); st != triggerv1.ScheduleState_SCHEDULE_STATE_PENDING {
		t.Fatalf("state = %v, want pending", st)
	}

	b.coord.give("intruder")
	d := b.waitFired(tenant, "s1")
	if late := d.ev.GetFiredAt().AsTime().Sub(at); late < 300*time.Millisecond {
		t.Errorf("lateness = %v, want the time the shard was away", late)
	}
	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}
}

func TestFireRefusedWhenNewerHolderClaimedShard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	at := time.Now().Add(time.Second)
	mustSchedule(t, s, scheduleReq(tenant, "s1", at))

	// A newer holder claims the shard in the database, as one would after
	// this node's lock expired without it noticing yet.
	shard := shardOf(tenant, "s1", s.cfg.Shards)
	var token int64
	if err := b.db.QueryRow(ctx, `SELECT token FROM trigger_shards WHERE shard = ?`, shard).Scan(&token); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(ctx, `UPDATE trigger_shards SET owner = 'intruder', token = ? WHERE shard = ?`, token+1000, shard); err != nil {
		t.Fatal(err)
	}

	// The fire at the due instant is refused; the engine gives the shard up,
	// takes it again (claiming it anew) and fires.
	d := b.waitFired(tenant, "s1")
	if st := s.Stats(); st.Fenced < 1 {
		t.Errorf("stats = %+v, want at least one fenced fire", st)
	}
	var fireToken int64
	if err := b.db.QueryRow(ctx, `SELECT fire_token FROM trigger_schedules WHERE id = 's1'`).Scan(&fireToken); err != nil {
		t.Fatal(err)
	}
	if fireToken <= token {
		t.Errorf("fired under token %d, want a token newer than %d", fireToken, token)
	}
	if d.ev.GetFiredAt().AsTime().Before(at) {
		t.Errorf("fired at %v, before due %v", d.ev.GetFiredAt().AsTime(), at)
	}
	b.drain(s)
	if n := len(b.dues.of(tenant, "s1")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}
}

func TestAloneWithoutCoordinator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, err := New(testConfig(), Deps{DB: b.db, Bus: b.bus, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	if n := s.Stats().OwnedShards; n != s.cfg.Shards {
		t.Errorf("alone, owns %d shards, want all %d", n, s.cfg.Shards)
	}
	mustSchedule(t, s, scheduleReq(tenant, "s1", time.Now().Add(100*time.Millisecond)))
	b.waitFired(tenant, "s1")
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name string
		edit func(*Config, *Deps)
	}{
		{"no shards", func(c *Config, _ *Deps) { c.Shards = 0 }},
		{"tiny horizon", func(c *Config, _ *Deps) { c.Horizon = time.Millisecond }},
		{"poll beyond half the horizon", func(c *Config, _ *Deps) { c.Poll = c.Horizon }},
		{"no batch", func(c *Config, _ *Deps) { c.Batch = 0 }},
		{"no fire transaction", func(c *Config, _ *Deps) { c.FireParallel = 0 }},
		{"memory below a batch", func(c *Config, _ *Deps) { c.MaxInMemory = c.Batch - 1 }},
		{"negative grace", func(c *Config, _ *Deps) { c.PastGrace = -time.Second }},
		{"no database", func(_ *Config, d *Deps) { d.DB = nil }},
		{"no bus", func(_ *Config, d *Deps) { d.Bus = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, deps := DefaultConfig(), Deps{DB: b.db, Bus: b.bus}
			tt.edit(&cfg, &deps)
			if _, err := New(cfg, deps); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	if _, err := New(DefaultConfig(), Deps{DB: b.db, Bus: b.bus}); err != nil {
		t.Errorf("New(DefaultConfig()) = %v", err)
	}
}

func TestSharesAddUpToEveryShard(t *testing.T) {
	t.Parallel()
	for _, nodes := range []int{1, 2, 3, 5, 64, 100} {
		c := newFakeCoord()
		ctx := context.Background()
		var engines []*engine
		for i := range nodes {
			cfg := DefaultConfig()
			cfg.NodeID = sid(i)
			e := newEngine(cfg, nil, nil, c, clockwork.NewRealClock(), testLog(t), nil)
			if err := e.register(ctx); err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e)
		}
		total, least, most := 0, DefaultConfig().Shards, 0
		for _, e := range engines {
			n := e.share(ctx)
			total += n
			least, most = min(least, n), max(most, n)
		}
		if total != DefaultConfig().Shards || most-least > 1 {
			t.Errorf("%d nodes: shares add up to %d, from %d to %d; want %d, at most one apart",
				nodes, total, least, most, DefaultConfig().Shards)
		}
	}
}

// A read (a load or a change poll) that saw a schedule pending just before
// it fired must not put it back in memory once the fire removed it.
func TestReadInFlightDuringFireDoesNotBringItBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.service(true, nil)
	ctx := context.Background()
	mustSchedule(t, s, scheduleReq(tenant, "s1", time.Now().Add(500*time.Millisecond)))

	// Begin a read as the engine does and see the row pending.
	e := s.engine
	e.mu.Lock()
	e.reads++
	e.mu.Unlock()
	r, err := scanSchedule(b.db.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM trigger_schedules WHERE tenant_id = ? AND id = ?`, tenant, "s1"))
	if err != nil {
		t.Fatal(err)
	}
	if r.state != statePending {
		t.Fatalf("state read = %s, want pending", r.state)
	}

	b.waitFired(tenant, "s1")
	eventually(t, "the fire recorded", func() bool { return s.Stats().Fired == 1 })
	e.mu.Lock()
	e.noteLocked(r)
	e.endReadLocked()
	e.mu.Unlock()
	if st := s.Stats(); st.InMemory != 0 {
		t.Fatalf("stats after a stale read = %+v, want nothing in memory", st)
	}
}

// TestParallelFiresOfABacklog fires a backlog many batches long, split by
// shard into concurrent transactions (tiny batches make it so), with two
// engines sharing the shards: every one-shot schedule fires once, every
// occurrence of a recurring one once, none early.
func TestParallelFiresOfABacklog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	b.clock = clock
	tune := func(c *Config) { c.Batch, c.FireParallel = 8, 4 }
	one, two := b.service(true, tune), b.service(true, tune)
	eventually(t, "shards shared between engines", func() bool {
		clock.Advance(testConfig().Poll)
		n1, n2 := one.Stats().OwnedShards, two.Stats().OwnedShards
		return n1 > 0 && n2 > 0 && n1+n2 == one.cfg.Shards
	})
	due := clock.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	const once, recurring = 400, 40
	for i := range once {
		mustSchedule(t, []*Service{one, two}[i%2], scheduleReq(tenant, sid(i), due))
	}
	for i := range recurring {
		mustSchedule(t, []*Service{one, two}[i%2], &triggerv1.ScheduleRequest{
			TenantId: tenant, ScheduleId: fmt.Sprintf("rec_%02d", i), PostId: "post_rec", Revision: 1,
			Zone: "UTC", Rrule: "FREQ=MINUTELY;COUNT=2", StartLocal: due.Format(localLayout),
		})
	}
	clock.Advance(due.Sub(clock.Now()))
	eventually(t, "the backlog to fire", func() bool { return one.Stats().Fired+two.Stats().Fired >= once+recurring })
	clock.Advance(time.Minute)
	eventually(t, "the second occurrences to fire", func() bool {
		if one.Stats().Fired+two.Stats().Fired >= once+2*recurring {
			return true
		}
		clock.Advance(testConfig().Poll)
		return false
	})
	b.drain(one, two)
	seen := map[string]int{}
	for _, d := range b.dues.all() {
		seen[d.ev.GetScheduleId()+"@"+d.ev.GetDueAt().AsTime().String()]++
		if d.ev.GetFiredAt().AsTime().Before(d.ev.GetDueAt().AsTime()) {
			t.Errorf("%s fired at %v, before due %v", d.ev.GetScheduleId(), d.ev.GetFiredAt().AsTime(), d.ev.GetDueAt().AsTime())
		}
	}
	if len(seen) != once+2*recurring {
		t.Errorf("%d distinct firings, want %d", len(seen), once+2*recurring)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s fired %d times, want once", k, n)
		}
	}
	if s1, s2 := one.Stats(), two.Stats(); s1.Fired+s2.Fired != once+2*recurring {
		t.Errorf("fired %d and %d, want %d in all", s1.Fired, s2.Fired, once+2*recurring)
	}
}

// TestSlowCommitStillReachesTheOwner: a schedule moved into the owner's
// horizon by a transaction that committed long after it stamped
// updated_at (as a transaction held up on a loaded database does) is older
// than the change polls' usual look-back; the periodic wide look-back
// still finds it, and it fires once.
func TestSlowCommitStillReachesTheOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := b.service(false, nil) // takes the request, owns no shard
	owner := b.service(true, nil)
	eventually(t, "the owner holding every shard", func() bool { return owner.Stats().OwnedShards == owner.cfg.Shards })
	mustSchedule(t, api, scheduleReq(tenant, "slow", time.Now().Add(24*time.Hour)))
	// The move, as committed now by a transaction that stamped it 30 s ago.
	now := time.Now()
	if _, err := b.db.Exec(t.Context(), `UPDATE trigger_schedules SET due_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		store.ToMicros(now.Add(3*time.Second)), store.ToMicros(now.Add(-30*time.Second)), tenant, "slow"); err != nil {
		t.Fatal(err)
	}
	b.waitFired(tenant, "slow")
	b.drain(owner)
	if n := len(b.dues.of(tenant, "slow")); n != 1 {
		t.Errorf("fired %d times, want once", n)
	}
}
