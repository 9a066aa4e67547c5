package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/coord"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
)

// engineService is what engines register as in the coordinator, to count
// their peers when sharing shards. It differs from any name the API
// registers under, so API instances are not mistaken for engines.
const engineService = "trigger-engine"

// changeSkew widens the look-back for schedules changed by other nodes,
// whose clocks may run behind this one's.
const changeSkew = 2 * time.Second

// A change committed more slowly than changeSkew (a transaction held up on
// a loaded database) carries an updated_at older than the look-back of the
// polls that could have seen it. Every slowCommitEvery, a poll looks back
// slowCommit instead, so such a change still reaches its owner, late by
// at most that period rather than never.
const (
	slowCommit      = time.Minute
	slowCommitEvery = 10 * time.Second
)

// loadPage is the most rows one query reads when filling the horizon.
const loadPage = 1000

// fireChunk and advanceChunk are the most schedules named in one UPDATE
// (SQLite allows 32766 parameters; four and eleven per schedule).
const (
	fireChunk    = 1000
	advanceChunk = 500
)

func shardLockName(n int) string { return fmt.Sprintf("trigger/shard/%d", n) }

// engine fires the pending schedules of the shards it owns.
type engine struct {
	cfg   Config
	db    *store.DB
	box   *outbox.Outbox
	coord coord.Coordinator
	log   *slog.Logger
	// clock is the engine's time: due instants are compared with its Now,
	// and the fire loop sleeps on its timers.
	clock clockwork.Clock
	// offset is the first shard this node tries to take, so nodes starting
	// together do not all reach for the same shards first.
	offset int

	mu     sync.Mutex
	timers timers
	// byKey holds every entry in memory: in the heap or being fired.
	byKey map[string]*entry
	// reads counts the database reads (loads, change polls) in flight. A
	// read may have seen a schedule as pending just before a fire committed
	// and removed it from memory; floor remembers, while any read is in
	// flight, the lowest version memory may take back for each key fired
	// since, so such a read cannot bring a fired schedule back. It is
	// emptied when no read is in flight: any later read sees the fire.
	reads  int
	floor  map[string]int64
	shards map[int]*shardState
	peak   int
	fired  int64
	stale  int64
	fenced int64
	// fireFailures counts fire transactions that failed (and were retried).
	fireFailures int64

	lat latencies
	// wake tells the fire loop the earliest entry changed.
	wake chan struct{}
	// more tells the loader that fires freed memory while a shard still has
	// schedules within the horizon that were not loaded.
	more chan struct{}

	// feeds polls the RSS/Atom feeds of the owned shards.
	feeds *feedPoller

	ctx        context.Context
	wg         sync.WaitGroup
	deregister func()
}

// shardState is a shard this node owns.
type shardState struct {
	n     int
	lock  coord.Lock
	token int64
	// cursor: every pending schedule of the shard ordered at or before it
	// (by due instant, tenant, id) is in memory or already fired.
	cursor cursor
	// loadingTo is, while a load runs, the due instant it loads up to.
	loadingTo int64
	// complete: the last load reached its target (not cut by MaxInMemory).
	complete bool
	// done is closed when the node gives the shard up.
	done chan struct{}
}

type cursor struct {
	due          int64
	tenantID, id string
}

// regionEnd is the due instant up to which the shard's schedules belong in
// memory: a schedule due later is left for a later load.
func (s *shardState) regionEnd() int64 { return max(s.cursor.due, s.loadingTo) }

func newEngine(cfg Config, db *store.DB, box *outbox.Outbox, c coord.Coordinator, clock clockwork.Clock, log *slog.Logger, client *http.Client) *engine {
	e := &engine{
		cfg: cfg, db: db, box: box, coord: c, clock: clock, log: log,
		offset: shardOf("", cfg.NodeID, cfg.Shards),
		byKey:  map[string]*entry{},
		floor:  map[string]int64{},
		shards: map[int]*shardState{},
		wake:   make(chan struct{}, 1),
		more:   make(chan struct{}, 1),
	}
	e.feeds = newFeedPoller(e, client)
	return e
}

func (e *engine) start(ctx context.Context) error {
	e.ctx = ctx
	if err := e.register(ctx); err != nil {
		return fmt.Errorf("trigger: registering engine: %w", err)
	}
	e.balance(ctx)
	e.refill(ctx)
	e.wg.Go(func() { e.fireLoop(ctx) })
	e.wg.Go(func() { e.maintain(ctx) })
	e.wg.Go(func() { e.feeds.run(ctx) })
	return nil
}

// close waits for the loops (their context is already cancelled) and gives
// up every shard.
func (e *engine) close() {
	e.wg.Wait()
	e.mu.Lock()
	held := make([]*shardState, 0, len(e.shards))
	for _, st := range e.shards {
		held = append(held, st)
		close(st.done)
	}
	e.shards = map[int]*shardState{}
	e.timers = timers{}
	e.byKey = map[string]*entry{}
	clear(e.floor)
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, st := range held {
		if err := st.lock.Unlock(ctx); err != nil {
			e.log.Debug("trigger: unlocking shard", "shard", st.n, "err", err)
		}
	}
	if e.deregister != nil {
		e.deregister()
		e.deregister = nil
	}
}

func (e *engine) stats() Stats {
	e.mu.Lock()
	s := Stats{
		Fired: e.fired, Stale: e.stale, Fenced: e.fenced, FireFailures: e.fireFailures,
		InMemory: len(e.byKey), PeakInMemory: e.peak, OwnedShards: len(e.shards),
	}
	e.mu.Unlock()
	s.Lateness = e.lat.summary()
	s.Feeds = e.feeds.stats()
	return s
}

// ownedShards returns the shards this node owns now, with their fencing
// tokens.
func (e *engine) ownedShards() map[int]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[int]int64, len(e.shards))
	for n, st := range e.shards {
		out[n] = st.token
	}
	return out
}

// dropFenced gives up a shard that a commit found claimed by a newer
// holder, if this node still holds it under the token the commit used.
func (e *engine) dropFenced(n int, token int64) {
	e.mu.Lock()
	st := e.shards[n]
	e.mu.Unlock()
	if st != nil && st.token == token {
		e.drop(st, slog.LevelWarn, "a newer holder claimed it")
	}
}

// maintain keeps the engine's share of shards and its horizon filled.
func (e *engine) maintain(ctx context.Context) {
	tick := e.clock.NewTicker(e.cfg.Poll)
	defer tick.Stop()
	since := e.clock.Now()
	wideAt := since
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.more:
			e.refill(ctx)
		case <-tick.Chan():
			e.balance(ctx)
			e.refill(ctx)
			from := since
			if now := e.clock.Now(); now.Sub(wideAt) >= slowCommitEvery {
				if wide := now.Add(-slowCommit); wide.Before(from) {
					from = wide
				}
				wideAt = now
			}
			since = e.pollChanges(ctx, from)
		}
	}
}

// --- shard ownership --------------------------------------------------------

// balance takes free shards up to this node's share, and gives back shards
// beyond it so a node that joined gets its share.
func (e *engine) balance(ctx context.Context) {
	target := e.share(ctx)
	e.mu.Lock()
	owned := make([]int, 0, len(e.shards))
	for n := range e.shards {
		owned = append(owned, n)
	}
	e.mu.Unlock()
	if len(owned) > target {
		slices.Sort(owned)
		for _, n := range owned[target:] {
			e.release(n, slog.LevelDebug, "rebalancing")
		}
		return
	}
	need := target - len(owned)
	for i := 0; i < e.cfg.Shards && need > 0 && ctx.Err() == nil; i++ {
		n := (e.offset + i) % e.cfg.Shards
		if slices.Contains(owned, n) {
			continue
		}
		lock, err := e.coord.TryLock(ctx, shardLockName(n), e.cfg.NodeID)
		if errors.Is(err, coord.ErrLocked) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("trigger: taking shard lock", "shard", n, "err", err)
			}
			return
		}
		if e.acquire(ctx, n, lock) {
			need--
		}
	}
}

// register announces this engine to its peers. Only start and then the
// maintenance loop call it.
func (e *engine) register(ctx context.Context) error {
	dereg, err := e.coord.Register(ctx, coord.Instance{Service: engineService, ID: e.cfg.NodeID})
	if err != nil {
		return err
	}
	if e.deregister != nil {
		e.deregister()
	}
	e.deregister = dereg
	return nil
}

// share is how many shards this node should own: all of them when alone;
// otherwise an even split, the remainder going to the nodes first by id, so
// the shares add up to exactly the number of shards and no node keeps
// reaching for shards nobody will give up.
func (e *engine) share(ctx context.Context) int {
	peers, err := e.coord.Instances(ctx, engineService)
	if err != nil {
		return e.cfg.Shards
	}
	if !slices.ContainsFunc(peers, func(p coord.Instance) bool { return p.ID == e.cfg.NodeID }) {
		// The coordinator forgot us (an expired session): announce again,
		// or peers would count one node too few and take too many shards.
		if err := e.register(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("trigger: registering engine again", "err", err)
		}
		peers = append(peers, coord.Instance{ID: e.cfg.NodeID})
	}
	slices.SortFunc(peers, func(a, b coord.Instance) int { return strings.Compare(a.ID, b.ID) })
	me := slices.IndexFunc(peers, func(p coord.Instance) bool { return p.ID == e.cfg.NodeID })
	n := e.cfg.Shards / len(peers)
	if me < e.cfg.Shards%len(peers) {
		n++
	}
	return n
}

// acquire records this node as the shard's holder under the lock's fencing
// token and starts watching the lock. The coordinator is the authority on
// who holds the lock now, so the claim overwrites whatever was recorded;
// fires check it, so a node that lost the shard stops firing once the new
// holder has claimed it.
func (e *engine) acquire(ctx context.Context, n int, lock coord.Lock) bool {
	_, err := e.db.Exec(ctx, `INSERT INTO trigger_shards (shard, owner, token, claimed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (shard) DO UPDATE SET owner = excluded.owner, token = excluded.token, claimed_at = excluded.claimed_at`,
		n, e.cfg.NodeID, lock.Token(), store.ToMicros(e.clock.Now()))
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("trigger: claiming shard", "shard", n, "err", err)
		}
		_ = lock.Unlock(context.WithoutCancel(ctx))
		return false
	}
	st := &shardState{n: n, lock: lock, token: lock.Token(), cursor: cursor{due: math.MinInt64}, done: make(chan struct{})}
	e.mu.Lock()
	e.shards[n] = st
	e.mu.Unlock()
	e.feeds.kick()
	e.wg.Go(func() {
		select {
		case <-lock.Lost():
			e.drop(st, slog.LevelWarn, "lock lost")
		case <-st.done:
		case <-e.ctx.Done():
		}
	})
	return true
}

// release gives a shard up on purpose.
func (e *engine) release(n int, level slog.Level, reason string) {
	e.mu.Lock()
	st := e.shards[n]
	e.mu.Unlock()
	if st != nil {
		e.drop(st, level, reason)
	}
}

// drop forgets a shard's timers and unlocks it. Entries being fired finish;
// the fencing check decides whether they count.
func (e *engine) drop(st *shardState, level slog.Level, reason string) {
	e.mu.Lock()
	if e.shards[st.n] != st {
		e.mu.Unlock()
		return
	}
	delete(e.shards, st.n)
	for _, en := range e.timers.RemoveIf(func(en *entry) bool { return en.shard == st.n }) {
		if e.byKey[en.key] == en {
			delete(e.byKey, en.key)
		}
	}
	close(st.done)
	e.mu.Unlock()
	e.log.Log(context.Background(), level, "trigger: gave up shard", "shard", st.n, "reason", reason)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.lock.Unlock(ctx); err != nil {
		e.log.Debug("trigger: unlocking shard", "shard", st.n, "err", err)
	}
}

// --- filling the horizon ----------------------------------------------------

// refill loads, for each owned shard, the pending schedules due before now
// plus the horizon that are not in memory yet. A shard is refilled once
// less than half the horizon is left, so loads are rare and never late.
func (e *engine) refill(ctx context.Context) {
	now := e.clock.Now().UnixMicro()
	horizon := e.cfg.Horizon.Microseconds()
	target := now + horizon
	type job struct {
		st   *shardState
		from cursor
	}
	e.mu.Lock()
	var todo []job
	for _, st := range e.shards {
		if !st.complete || st.cursor.due < now+horizon/2 {
			todo = append(todo, job{st, st.cursor})
		}
	}
	e.mu.Unlock()
	// Earliest cursor first: when memory is short, the most urgent load wins.
	slices.SortFunc(todo, func(a, b job) int { return compareCursor(a.from, b.from) })
	for _, j := range todo {
		if full, err := e.load(ctx, j.st, target); full || err != nil {
			return
		}
	}
}

func compareCursor(a, b cursor) int {
	if a.due != b.due {
		if a.due < b.due {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.tenantID, b.tenantID); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// load pages a shard's pending schedules from its cursor up to target into
// memory. It stops early, reporting full, when memory holds MaxInMemory
// schedules; fires free room and wake the loader again.
func (e *engine) load(ctx context.Context, st *shardState, target int64) (full bool, err error) {
	e.mu.Lock()
	if e.shards[st.n] != st {
		e.mu.Unlock()
		return false, nil
	}
	target = max(target, st.cursor.due)
	st.loadingTo = target
	from := st.cursor
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		st.loadingTo = 0
		e.mu.Unlock()
	}()
	for {
		e.mu.Lock()
		room := e.cfg.MaxInMemory - len(e.byKey)
		if room <= 0 {
			st.complete = false
			e.mu.Unlock()
			return true, nil
		}
		e.reads++
		e.mu.Unlock()
		limit := min(loadPage, room)
		rows, err := e.pending(ctx, st.n, from, target, limit)
		e.mu.Lock()
		if err != nil {
			e.endReadLocked()
			e.mu.Unlock()
			if ctx.Err() == nil {
				e.log.Warn("trigger: loading schedules", "shard", st.n, "err", err)
			}
			return false, err
		}
		if e.shards[st.n] != st {
			e.endReadLocked()
			e.mu.Unlock()
			return false, nil
		}
		for _, r := range rows {
			e.noteLocked(r)
		}
		// Only once its rows are applied: the floors guard them until then.
		e.endReadLocked()
		if len(rows) < limit {
			st.cursor, st.complete = cursor{due: target}, true
			e.mu.Unlock()
			return false, nil
		}
		last := rows[len(rows)-1]
		st.cursor = cursor{due: last.due, tenantID: last.tenantID, id: last.id}
		st.complete = false
		from = st.cursor
		e.mu.Unlock()
	}
}

// pending reads a shard's pending schedules after from and due before to,
// in due order.
func (e *engine) pending(ctx context.Context, shard int, from cursor, to int64, limit int) ([]schedule, error) {
	rows, err := e.db.Query(ctx, `SELECT `+scheduleColumns+` FROM trigger_schedules
		WHERE state = 'pending' AND shard = ? AND (due_at, tenant_id, id) > (?, ?, ?) AND due_at < ?
		ORDER BY due_at, tenant_id, id LIMIT ?`,
		shard, from.due, from.tenantID, from.id, to, limit)
	if err != nil {
		return nil, err
	}
	return scanSchedules(rows)
}

type rowsScanner interface {
	scanner
	Next() bool
	Err() error
	Close() error
}

func scanSchedules(rows rowsScanner) ([]schedule, error) {
	defer rows.Close()
	var out []schedule
	for rows.Next() {
		r, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// pollChanges picks up schedules another node created or moved into this
// node's horizon (this node's own changes arrive through note at once).
// It returns the time to look back from next time.
func (e *engine) pollChanges(ctx context.Context, since time.Time) time.Time {
	start := e.clock.Now()
	e.mu.Lock()
	e.reads++
	e.mu.Unlock()
	var changed []schedule
	rows, err := e.db.Query(ctx, `SELECT `+scheduleColumns+` FROM trigger_schedules
		WHERE state = 'pending' AND updated_at >= ? AND due_at < ?`,
		store.ToMicros(since.Add(-changeSkew)), store.ToMicros(start.Add(e.cfg.Horizon)))
	if err == nil {
		changed, err = scanSchedules(rows)
	}
	e.mu.Lock()
	if err == nil {
		for _, r := range changed {
			e.noteLocked(r)
		}
	}
	e.endReadLocked()
	e.mu.Unlock()
	if err == nil {
		return start
	}
	if ctx.Err() == nil {
		e.log.Warn("trigger: looking for changed schedules", "err", err)
	}
	return since
}

// endReadLocked ends a read begun by counting it in e.reads, after its rows
// were applied; the last read in flight clears the fired floors.
func (e *engine) endReadLocked() {
	e.reads--
	if e.reads == 0 {
		clear(e.floor)
	}
}

// note tells the engine a schedule's state as just committed.
func (e *engine) note(r schedule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.noteLocked(r)
}

// noteLocked brings memory in line with r: a newer version replaces an
// older one; a pending schedule of an owned shard due within the loaded
// region goes into the heap; anything else leaves memory. Stale reads are
// harmless: the fire's guard refuses an outdated version.
func (e *engine) noteLocked(r schedule) {
	key := r.key()
	if r.version < e.floor[key] {
		// Read before a fire of a later version committed.
		return
	}
	old := e.byKey[key]
	if old != nil {
		if old.version >= r.version {
			return
		}
		// An old entry being fired stays in its batch; its guard fails.
		e.timers.Remove(old)
		delete(e.byKey, key)
	}
	st := e.shards[r.shard]
	if r.state != statePending || st == nil || r.due > st.regionEnd() {
		return
	}
	en := newEntry(r)
	e.byKey[key] = en
	e.timers.Push(en)
	e.peak = max(e.peak, len(e.byKey))
	if e.timers.Peek() == en {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// --- firing -----------------------------------------------------------------

// fireLoop is the one timer goroutine: it sleeps until the earliest entry
// is due and fires everything due by then. A large backlog of due entries
// is split by shard into up to FireParallel batches fired in concurrent
// transactions: they touch disjoint shard and schedule rows, so they do not
// wait on each other (on SQLite, which takes one writer at a time, they
// simply queue).
func (e *engine) fireLoop(ctx context.Context) {
	timer := e.clock.NewTimer(time.Hour)
	timer.Stop()
	var backoff time.Duration
	for {
		due, wait := e.takeDue(e.cfg.Batch * e.cfg.FireParallel)
		if len(due) > 0 {
			batches := splitByShard(due, e.cfg.Batch, e.cfg.FireParallel)
			errs := make([]error, len(batches))
			if len(batches) == 1 {
				errs[0] = e.fire(ctx, batches[0])
			} else {
				var wg sync.WaitGroup
				for i, b := range batches {
					wg.Go(func() { errs[i] = e.fire(ctx, b) })
				}
				wg.Wait()
			}
			var failed error
			for i, err := range errs {
				if err != nil {
					e.requeue(batches[i])
					failed = err
				}
			}
			if failed == nil {
				backoff = 0
				continue
			}
			if ctx.Err() != nil {
				return
			}
			e.mu.Lock()
			e.fireFailures++
			e.mu.Unlock()
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			e.log.Warn("trigger: firing schedules failed, retrying", "count", len(due), "retry_in", backoff, "err", failed)
			// The retry waits in real time, not on the engine's clock: the
			// clock says when entries are due, and the failed ones are due
			// already; a store that refused needs wall time to recover,
			// and a test's stopped clock must not hold the retry forever.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-e.wake:
		case <-timer.Chan():
		}
		timer.Stop()
	}
}

// splitByShard cuts due entries into at most parts batches, every shard's
// entries in one of them; it makes one batch when there are at most size
// entries (the common case: what came due since the last fire).
func splitByShard(due []*entry, size, parts int) [][]*entry {
	if len(due) <= size || parts <= 1 {
		return [][]*entry{due}
	}
	out := make([][]*entry, parts)
	for _, en := range due {
		out[en.shard%parts] = append(out[en.shard%parts], en)
	}
	return slices.DeleteFunc(out, func(b []*entry) bool { return len(b) == 0 })
}

// takeDue pops the entries due now, up to limit, or says how long until
// the earliest is due (0 when there is none).
func (e *engine) takeDue(limit int) (batch []*entry, wait time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now().UnixMicro()
	for e.timers.Len() > 0 && len(batch) < limit {
		if e.timers.Peek().due > now {
			break
		}
		en := e.timers.Pop()
		en.token = e.shards[en.shard].token
		batch = append(batch, en)
	}
	if len(batch) == 0 && e.timers.Len() > 0 {
		wait = time.Duration(e.timers.Peek().due-now) * time.Microsecond
	}
	return batch, wait
}

// requeue puts back the entries of a batch whose transaction failed.
func (e *engine) requeue(batch []*entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range batch {
		if e.byKey[en.key] != en {
			continue
		}
		if e.shards[en.shard] == nil {
			delete(e.byKey, en.key)
			continue
		}
		e.timers.Push(en)
	}
}

// fire marks a batch fired and writes their post.due events, in one
// transaction, with a handful of statements whatever the batch's size:
// one fences every shard of the batch (this node must still hold it under
// the token it took the entries with), one per chunk marks the one-shot
// schedules fired, one per chunk advances the recurring ones, one per
// chunk writes the events. Per schedule, each statement changes only the
// version the entry was made from, only if still pending and due.
func (e *engine) fire(ctx context.Context, batch []*entry) error {
	// The token each shard's entries were taken with: takeDue gives all the
	// entries of one shard in a batch the same.
	tokens := map[int]int64{}
	for _, en := range batch {
		tokens[en.shard] = en.token
	}

	type firing struct {
		en       *entry
		lateness time.Duration
	}
	var (
		fired    []firing
		stale    int64
		fenced   []int
		advanced []schedule
		// moved: entries whose version this transaction fired or advanced.
		moved []*entry
	)
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		fired, stale, fenced, advanced, moved = fired[:0], 0, fenced[:0], advanced[:0], moved[:0]
		// The post.due events of the whole batch are written together, and
		// so are its schedule.skipped ones.
		var events, skips []proto.Message
		now := e.clock.Now()
		nowUS := now.UnixMicro()
		if err := lockQueues(ctx, tx, batch); err != nil {
			return err
		}
		held, err := e.fence(ctx, tx, tokens, nowUS)
		if err != nil {
			return err
		}
		for shard := range tokens {
			if !held[shard] {
				fenced = append(fenced, shard)
			}
		}
		var once, recurring, queued []*entry
		for _, en := range batch {
			switch {
			case !held[en.shard]:
			case en.queued != nil:
				queued = append(queued, en)
			case en.recur != nil:
				recurring = append(recurring, en)
			default:
				once = append(once, en)
			}
		}
		// fire writes the post.due of en's occurrence due at due; next
		// is the schedule's next firing, 0 when there is none.
		fire := func(en *entry, due, next int64) {
			ev := &eventsv1.PostDue{
				TenantId: en.tenantID, PostId: en.postID, Revision: en.revision, ScheduleId: en.id,
				DueAt:   timestamppb.New(store.FromMicros(due)),
				FiredAt: timestamppb.New(store.FromMicros(nowUS)),
			}
			if next != 0 {
				ev.NextDueAt = timestamppb.New(store.FromMicros(next))
			}
			events = append(events, ev)
			fired = append(fired, firing{en: en, lateness: time.Duration(nowUS-due) * time.Microsecond})
		}

		// skip writes the schedule.skipped of en's count firings, the
		// latest due at due; next is the schedule's next firing.
		skip := func(en *entry, due, count, threshold, next int64) {
			ev := &eventsv1.ScheduleSkipped{
				TenantId: en.tenantID, ScheduleId: en.id, PostId: en.postID, Revision: en.revision,
				DueAt: timestamppb.New(store.FromMicros(due)), Count: count,
				SkippedAt: timestamppb.New(store.FromMicros(nowUS)), Recurring: en.recur != nil,
			}
			if threshold > 0 {
				ev.SkipIfLaterThan = durationpb.New(time.Duration(threshold) * time.Microsecond)
			}
			if next != 0 {
				ev.NextDueAt = timestamppb.New(store.FromMicros(next))
			}
			skips = append(skips, ev)
		}

		// A one-shot schedule later than its threshold is skipped, not
		// fired (after downtime: the engine never holds one that long).
		var late []*entry
		once = slices.DeleteFunc(once, func(en *entry) bool {
			if en.skipLate > 0 && nowUS-en.due > en.skipLate {
				late = append(late, en)
				return true
			}
			return false
		})
		done, err := e.markFired(ctx, tx, once, nowUS, stateFired)
		if err != nil {
			return err
		}
		for _, en := range once {
			if !done[en.key] {
				stale++
				continue
			}
			moved = append(moved, en)
			fire(en, en.due, 0)
		}
		done, err = e.markFired(ctx, tx, late, nowUS, stateSkipped)
		if err != nil {
			return err
		}
		for _, en := range late {
			if !done[en.key] {
				stale++
				continue
			}
			moved = append(moved, en)
			skip(en, en.due, 1, en.skipLate, 0)
		}

		advs, err := e.advance(ctx, tx, recurring, now)
		if err != nil {
			return err
		}
		for i, en := range recurring {
			adv := advs[i]
			if !adv.ok {
				stale++
				continue
			}
			moved = append(moved, en)
			var next int64
			if adv.next.state == statePending {
				next = adv.next.due
				advanced = append(advanced, adv.next)
			}
			if adv.fired {
				fire(en, adv.occurrence, next)
			}
			if adv.skipped > 0 {
				threshold := int64(0)
				if !adv.fired && adv.occurrence != 0 {
					threshold = en.recur.skipLate
				}
				skip(en, adv.lastSkipped, adv.skipped, threshold, next)
			}
		}

		for _, en := range queued {
			after, ok, replanned, err := e.fireQueued(ctx, tx, en, now)
			if err != nil {
				return err
			}
			if !ok {
				stale++
				continue
			}
			moved = append(moved, en)
			var next int64
			if after.state == statePending {
				next = after.due
				advanced = append(advanced, after)
			}
			if !replanned {
				fire(en, en.due, next)
			}
		}
		if len(skips) > 0 {
			if _, err := e.box.AddBatch(ctx, tx, bus.TopicScheduleSkipped, skips); err != nil {
				return err
			}
		}
		if len(events) == 0 {
			return nil
		}
		_, err = e.box.AddBatch(ctx, tx, bus.TopicPostDue, events)
		return err
	})
	if err != nil {
		return err
	}

	byShard := map[int]int{}
	for _, en := range batch {
		byShard[en.shard]++
	}
	e.mu.Lock()
	for _, en := range batch {
		if e.byKey[en.key] == en {
			delete(e.byKey, en.key)
		}
	}
	// A read in flight may have seen these rows pending at the versions just
	// fired; it must not put them back. (Fenced and stale entries get no
	// floor: the row may still be pending at that version and must reload.)
	if e.reads > 0 {
		for _, en := range moved {
			e.floor[en.key] = max(e.floor[en.key], en.version+1)
		}
	}
	// Recurring schedules come back with their next occurrence, recycled
	// evergreen posts with their new slot.
	for _, r := range advanced {
		e.noteLocked(r)
	}
	e.fired += int64(len(fired))
	e.stale += stale
	for _, shard := range fenced {
		e.fenced += int64(byShard[shard])
	}
	incomplete := false
	for _, st := range e.shards {
		incomplete = incomplete || !st.complete
	}
	var lost []*shardState
	for _, shard := range fenced {
		if st := e.shards[shard]; st != nil && st.token == tokens[shard] {
			lost = append(lost, st)
		}
	}
	e.mu.Unlock()

	var late time.Duration
	for _, f := range fired {
		e.lat.add(f.lateness)
		late = max(late, f.lateness)
	}
	if late > time.Second {
		e.log.Info("trigger: fired late schedules (catching up)", "count", len(fired), "max_lateness", late)
	}
	for _, st := range lost {
		e.drop(st, slog.LevelWarn, "a newer holder claimed it")
	}
	if incomplete {
		select {
		case e.more <- struct{}{}:
		default:
		}
	}
	return nil
}

// fence checks, in tx, that this node still holds each shard under the
// token given, and returns the shards it does. The UPDATE takes the shard
// rows' locks, so a newer holder's claim waits for this transaction, and
// once it committed, this node's fires of the shard find the new owner and
// fire nothing.
func (e *engine) fence(ctx context.Context, tx *store.Tx, tokens map[int]int64, nowUS int64) (map[int]bool, error) {
	shards := slices.Sorted(maps.Keys(tokens))
	var q strings.Builder
	q.WriteString(`UPDATE trigger_shards SET fenced_at = ? FROM (VALUES `)
	args := make([]any, 0, 2+2*len(shards))
	args = append(args, nowUS)
	for i, shard := range shards {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(CAST(? AS INTEGER), CAST(? AS BIGINT))")
		args = append(args, shard, tokens[shard])
	}
	q.WriteString(`) AS v WHERE trigger_shards.shard = v.column1 AND trigger_shards.token = v.column2 AND trigger_shards.owner = ?
		RETURNING trigger_shards.shard`)
	args = append(args, e.cfg.NodeID)
	rows, err := tx.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("fencing shards: %w", err)
	}
	held := make(map[int]bool, len(shards))
	for rows.Next() {
		var shard int
		if err := rows.Scan(&shard); err != nil {
			rows.Close()
			return nil, err
		}
		held[shard] = true
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return held, rows.Err()
}

// valuesQuery builds "head (VALUES (row), ...) AS v tail" for n rows of
// the given placeholder row.
func valuesQuery(head, row string, n int, tail string) string {
	var q strings.Builder
	q.Grow(len(head) + len(tail) + n*(len(row)+2) + 16)
	q.WriteString(head)
	q.WriteString(" (VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	q.WriteString(") AS v ")
	q.WriteString(tail)
	return q.String()
}

// scanKeys reads the (tenant_id, id) rows a RETURNING gives back.
func scanKeys(rows rowsScanner, into map[string]bool) error {
	for rows.Next() {
		var tenantID, id string
		if err := rows.Scan(&tenantID, &id); err != nil {
			rows.Close()
			return err
		}
		into[scheduleKey(tenantID, id)] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// markFired marks the one-shot schedules fired and returns the keys that
// were: those still pending at the version the entries were made from.
// Each row records the fencing token of its own shard.
//
// The statement differs by dialect: PostgreSQL joins the rows to a VALUES
// list (UPDATE ... FROM), which SQLite runs slowly (seconds for a thousand
// rows of a large table); SQLite takes them as IN (VALUES ...), the token
// picked by shard.
//
// state is stateFired, or stateSkipped for schedules later than their
// threshold: those are recorded the same way (lateness is how late the
// decision came) and count one skip.
func (e *engine) markFired(ctx context.Context, tx *store.Tx, group []*entry, nowUS int64, state string) (map[string]bool, error) {
	done := make(map[string]bool, len(group))
	skips := 0
	if state == stateSkipped {
		skips = 1
	}
	for chunk := range slices.Chunk(group, fireChunk) {
		var q string
		var args []any
		if e.db.Dialect() == store.Postgres {
			// The casts give PostgreSQL the column types of a VALUES list
			// made only of parameters.
			q = valuesQuery(`UPDATE trigger_schedules
				SET state = ?, skipped_count = trigger_schedules.skipped_count + ?,
					fired_at = ?, lateness_us = ? - trigger_schedules.due_at, fire_token = v.column4,
					version = trigger_schedules.version + 1, updated_at = ?
				FROM`, "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))", len(chunk),
				`WHERE trigger_schedules.tenant_id = v.column1 AND trigger_schedules.id = v.column2 AND trigger_schedules.version = v.column3
					AND trigger_schedules.state = 'pending' AND trigger_schedules.due_at <= ?
				RETURNING trigger_schedules.tenant_id, trigger_schedules.id`)
			args = make([]any, 0, 6+4*len(chunk))
			args = append(args, state, skips, nowUS, nowUS, nowUS)
			for _, en := range chunk {
				args = append(args, en.tenantID, en.id, en.version, en.token)
			}
			args = append(args, nowUS)
		} else {
			tokens := map[int]int64{}
			for _, en := range chunk {
				tokens[en.shard] = en.token
			}
			var b strings.Builder
			b.WriteString(`UPDATE trigger_schedules SET state = ?, skipped_count = skipped_count + ?,
				fired_at = ?, lateness_us = ? - due_at, fire_token = CASE shard`)
			args = make([]any, 0, 7+2*len(tokens)+3*len(chunk))
			args = append(args, state, skips, nowUS, nowUS)
			for _, shard := range slices.Sorted(maps.Keys(tokens)) {
				b.WriteString(" WHEN ? THEN ?")
				args = append(args, shard, tokens[shard])
			}
			b.WriteString(` ELSE fire_token END, version = version + 1, updated_at = ?
				WHERE state = 'pending' AND due_at <= ? AND (tenant_id, id, version) IN (VALUES `)
			args = append(args, nowUS, nowUS)
			for i, en := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?)")
				args = append(args, en.tenantID, en.id, en.version)
			}
			b.WriteString(`) RETURNING tenant_id, id`)
			q = b.String()
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("marking schedules fired: %w", err)
		}
		if err := scanKeys(rows, done); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// advanced is what a fire did with a recurring schedule.
type advanced struct {
	// ok: the schedule was still pending at the entry's version; nothing
	// else is set otherwise.
	ok bool
	// fired: the occurrence due at occurrence fires (else it was skipped).
	fired      bool
	occurrence int64
	// next is the schedule as it now stands: pending at its next
	// occurrence, or fired (finished) when the rule has ended.
	next schedule
	// skipped counts the occurrences skipped; lastSkipped is the latest
	// one's instant.
	skipped, lastSkipped int64
}

// advance fires the due occurrence of each recurring schedule and moves its
// row to its next occurrence, in tx, guarded like markFired (pending, at
// the entry's version, due), so an occurrence fires once across engines and
// stale entries. Catch-up rule: of the occurrences due by now, only the
// latest may fire; older ones (missed during downtime) are skipped, and the
// latest is skipped too when it is later than the schedule's threshold.
//
// The next occurrence is computed from the schedule's rule cursor (where
// the last fire left it), not by expanding the rule from its start, and
// the row keeps the new cursor, so advancing costs the same after years of
// firings as after one.
func (e *engine) advance(ctx context.Context, tx *store.Tx, group []*entry, now time.Time) ([]advanced, error) {
	out := make([]advanced, len(group))
	if len(group) == 0 {
		return out, nil
	}
	nowUS := now.UnixMicro()
	type change struct {
		i                   int
		r                   schedule
		cursorLocal         string
		cursorIndex         int64
		lastDue, fired, tok int64
	}
	changes := make([]change, 0, len(group))
	for i, en := range group {
		sp := en.recur
		rec, err := compileRecurrence(sp.rrule, sp.zone, sp.startLocal, parseExdates(sp.exdates), e.cfg.allowSecondly)
		if err == nil && sp.cursor != nil {
			rec, err = rec.resume(*sp.cursor)
		}
		if err != nil {
			// Stored rules were checked when scheduled; one that no longer
			// compiles (a library upgrade) stays pending for an operator.
			e.log.Error("trigger: stored recurring rule does not compile", "tenant", en.tenantID, "schedule", en.id, "err", err)
			continue
		}
		latest, missed, lastMissed, next := rec.catchUpFrom(store.FromMicros(en.due), now)
		adv := advanced{skipped: missed}
		if missed > 0 {
			adv.lastSkipped = micros(lastMissed)
		}
		if !latest.IsZero() {
			adv.occurrence = micros(latest)
			if sp.skipLate == 0 || nowUS-adv.occurrence <= sp.skipLate {
				adv.fired = true
			} else {
				adv.skipped++
				adv.lastSkipped = adv.occurrence
			}
		}
		r := schedule{
			tenantID: en.tenantID, id: en.id, postID: en.postID, revision: en.revision, zone: sp.zone,
			shard: en.shard, state: statePending, version: en.version + 1, due: en.due,
			kind: kindRRule, rrule: sp.rrule, startLocal: sp.startLocal, exdates: sp.exdates, skipLate: sp.skipLate,
			cursorVersion: en.version + 1,
		}
		if next.at.IsZero() {
			r.state = stateFired
		} else {
			r.due = micros(next.at)
			r.cursorLocal, r.cursorIndex = next.wall.Format(localLayout), next.index
		}
		adv.next = r
		out[i] = adv
		c := change{i: i, r: r, cursorLocal: r.cursorLocal, cursorIndex: r.cursorIndex, lastDue: adv.occurrence, tok: en.token}
		if adv.fired {
			c.fired = 1
		}
		changes = append(changes, c)
	}
	done := map[string]bool{}
	if e.db.Dialect() != store.Postgres && len(changes) > 0 {
		// SQLite: one statement per schedule (see markFired), prepared
		// once: in process a statement costs no round trip, but parsing
		// it costs more than running it.
		st, err := tx.Prepare(ctx, `UPDATE trigger_schedules SET
				due_at = ?, state = ?, skipped_count = skipped_count + ?, cursor_local = ?, cursor_index = ?,
				cursor_version = version + 1, version = version + 1, updated_at = ?,
				last_due_at = CASE WHEN ? <> 0 THEN ? ELSE last_due_at END,
				fired_count = fired_count + ?,
				fired_at = CASE WHEN ? = 1 THEN ? ELSE fired_at END,
				lateness_us = CASE WHEN ? = 1 THEN ? ELSE lateness_us END,
				fire_token = CASE WHEN ? = 1 THEN ? ELSE fire_token END
			WHERE tenant_id = ? AND id = ? AND version = ? AND state = 'pending' AND due_at <= ?`)
		if err != nil {
			return nil, fmt.Errorf("advancing recurring schedules: %w", err)
		}
		defer st.Close()
		for _, c := range changes {
			en := group[c.i]
			res, err := st.Exec(ctx, c.r.due, c.r.state, out[c.i].skipped, c.cursorLocal, c.cursorIndex, nowUS,
				c.lastDue, c.lastDue, c.fired, c.fired, nowUS, c.fired, nowUS-c.lastDue, c.fired, c.tok,
				en.tenantID, en.id, en.version, nowUS)
			if err != nil {
				return nil, fmt.Errorf("advancing recurring schedule: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, err
			} else if n == 1 {
				done[en.key] = true
			}
		}
	} else if len(changes) > 0 {
		for chunk := range slices.Chunk(changes, advanceChunk) {
			// Per row: the guard (tenant, id, version), then the new due_at,
			// state, skipped occurrences, last_due_at (0: unchanged), whether
			// the occurrence fired, the fencing token and the new cursor.
			q := valuesQuery(`UPDATE trigger_schedules SET
				due_at = v.column4, state = v.column5, skipped_count = trigger_schedules.skipped_count + v.column6,
				last_due_at = CASE WHEN v.column7 <> 0 THEN v.column7 ELSE trigger_schedules.last_due_at END,
				fired_count = trigger_schedules.fired_count + v.column8,
				fired_at = CASE WHEN v.column8 = 1 THEN ? ELSE trigger_schedules.fired_at END,
				lateness_us = CASE WHEN v.column8 = 1 THEN ? - v.column7 ELSE trigger_schedules.lateness_us END,
				fire_token = CASE WHEN v.column8 = 1 THEN v.column9 ELSE trigger_schedules.fire_token END,
				cursor_local = v.column10, cursor_index = v.column11, cursor_version = trigger_schedules.version + 1,
				version = trigger_schedules.version + 1, updated_at = ?
			FROM`, `(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT),
				CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT))`, len(chunk),
				`WHERE trigger_schedules.tenant_id = v.column1 AND trigger_schedules.id = v.column2 AND trigger_schedules.version = v.column3
				AND trigger_schedules.state = 'pending' AND trigger_schedules.due_at <= ?
			RETURNING trigger_schedules.tenant_id, trigger_schedules.id`)
			args := make([]any, 0, 4+11*len(chunk))
			args = append(args, nowUS, nowUS, nowUS)
			for _, c := range chunk {
				en := group[c.i]
				args = append(args, en.tenantID, en.id, en.version, c.r.due, c.r.state, out[c.i].skipped,
					c.lastDue, c.fired, c.tok, c.cursorLocal, c.cursorIndex)
			}
			args = append(args, nowUS)
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("advancing recurring schedules: %w", err)
			}
			if err := scanKeys(rows, done); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range changes {
		en := group[c.i]
		if !done[en.key] {
			out[c.i] = advanced{}
			continue
		}
		out[c.i].ok = true
		if s := out[c.i].skipped; s > 0 {
			e.log.Info("trigger: skipped late occurrences", "tenant", en.tenantID, "schedule", en.id,
				"skipped", s, "fired_latest", out[c.i].fired)
		}
	}
	return out, nil
}
