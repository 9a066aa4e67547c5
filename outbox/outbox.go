// Package outbox is the transactional outbox: a service writes an event in
// the same transaction as the state change it reports, and a relay publishes
// committed events to the bus, deleting each only once the bus accepted it.
// So an event is never published for a change that rolled back, and never
// lost for one that committed; a crash between publish and delete publishes
// the event again, which consumers absorb by deduplicating on the event id.
//
// Each service has its own outbox table (<prefix>outbox), like every other
// table it owns, and an inbox table (<prefix>inbox) of the event ids it has
// consumed, for deduplication (FirstDelivery).
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Outbox writes and relays one service's events.
type Outbox struct {
	db    *store.DB
	bus   bus.Bus
	table string
	inbox string
	log   *slog.Logger
	wake  chan struct{}

	// Parallel is how many events are being published at once.
	Parallel int
	// Batch is how many rows one poll reads.
	Batch int
	// Poll is how often the relay looks for rows it was not woken for
	// (written by another process, or left by a failed publish).
	Poll time.Duration
	// PublishTimeout bounds one publish, so an event whose consumer keeps
	// failing backs off instead of holding a relay slot forever.
	PublishTimeout time.Duration
}

// New returns the outbox of the service whose tables carry prefix.
func New(db *store.DB, prefix string, b bus.Bus, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{
		db: db, bus: b, table: prefix + "outbox", inbox: prefix + "inbox", log: log,
		wake:     make(chan struct{}, 1),
		Parallel: 64, Batch: 512, Poll: time.Second, PublishTimeout: 30 * time.Second,
	}
}

// Migrate creates the outbox table if it does not exist, and adds the
// metadata column to a table created before it existed.
func (o *Outbox) Migrate(ctx context.Context) error {
	err := o.createTable(ctx, o.table, `CREATE TABLE IF NOT EXISTS `+o.table+` (
		seq_id     TEXT PRIMARY KEY,
		topic      TEXT NOT NULL,
		payload    BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		attempts   INTEGER NOT NULL DEFAULT 0,
		next_at    BIGINT NOT NULL DEFAULT 0,
		metadata   TEXT
	)`)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.table, err)
	}
	if err := o.addMetadataColumn(ctx); err != nil {
		return fmt.Errorf("outbox %s: adding the metadata column: %w", o.table, err)
	}
	err = o.createTable(ctx, o.inbox, `CREATE TABLE IF NOT EXISTS `+o.inbox+` (
		event_id TEXT PRIMARY KEY,
		seen_at  BIGINT NOT NULL
	)`)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.inbox, err)
	}
	return nil
}

// createTable runs a CREATE TABLE IF NOT EXISTS. When two nodes of a
// service start together on PostgreSQL, both may find the table missing
// and the slower one fails on the catalog (a duplicate type or table); so
// there the statement runs under a transaction-scoped advisory lock named
// after the table, and the second node finds the table made.
func (o *Outbox) createTable(ctx context.Context, table, ddl string) error {
	if o.db.Dialect() != store.Postgres {
		_, err := o.db.Exec(ctx, ddl)
		return err
	}
	h := fnv.New64a()
	h.Write([]byte("herald outbox " + table))
	return o.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(h.Sum64())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, ddl)
		return err
	})
}

// addMetadataColumn upgrades an outbox table from before bus metadata
// (the trace context) was stored. PostgreSQL says IF NOT EXISTS itself,
// which also holds when two nodes migrate at once; SQLite has no such
// clause, so the column is looked up first.
func (o *Outbox) addMetadataColumn(ctx context.Context) error {
	if o.db.Dialect() == store.Postgres {
		_, err := o.db.Exec(ctx, `ALTER TABLE `+o.table+` ADD COLUMN IF NOT EXISTS metadata TEXT`)
		return err
	}
	var n int
	if err := o.db.QueryRow(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = 'metadata'`, o.table).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := o.db.Exec(ctx, `ALTER TABLE `+o.table+` ADD COLUMN metadata TEXT`)
	return err
}

// contextMetadata is what the bus message of an event written with ctx
// carries besides the payload: the trace context (W3C traceparent and
// baggage, by the process's propagator), so the consumer's work joins the
// trace of the change that caused it. NULL when ctx carries none.
func contextMetadata(ctx context.Context) (any, error) {
	md := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, md)
	if len(md) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// FirstDelivery records, within tx, that the service handled the event with
// this id, and reports whether this is the first time. A consumer calls it
// in the transaction that applies the event and skips the event when it
// returns false: this is what makes at-least-once delivery harmless.
func (o *Outbox) FirstDelivery(ctx context.Context, tx *store.Tx, eventID string) (bool, error) {
	res, err := tx.Exec(ctx, `INSERT INTO `+o.inbox+` (event_id, seen_at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING`,
		eventID, store.ToMicros(time.Now()))
	if err != nil {
		return false, fmt.Errorf("outbox: recording event %s: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Add writes ev to the outbox within tx and returns the event id. The relay
// is woken when tx commits.
func (o *Outbox) Add(ctx context.Context, tx *store.Tx, topic string, ev proto.Message) (string, error) {
	ids, err := o.AddBatch(ctx, tx, topic, []proto.Message{ev})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// insertChunk is the most events one INSERT writes (five parameters each;
// SQLite allows 32766 in one statement).
const insertChunk = 1000

// AddBatch writes evs, all of one topic, to the outbox within tx, with as
// few statements as it can, and returns their event ids in order. The relay
// is woken when tx commits.
func (o *Outbox) AddBatch(ctx context.Context, tx *store.Tx, topic string, evs []proto.Message) ([]string, error) {
	var bad errs.Fields
	if topic == "" {
		bad.Add("topic", "must not be empty")
	}
	if len(evs) == 0 {
		bad.Add("event", "must not be nil")
	}
	for i, ev := range evs {
		if ev == nil {
			if len(evs) == 1 {
				bad.Add("event", "must not be nil")
			} else {
				bad.Add(fmt.Sprintf("events[%d]", i), "must not be nil")
			}
		}
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	md, err := contextMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: encoding the metadata of %s: %w", topic, err)
	}
	ids := make([]string, 0, len(evs))
	now := store.ToMicros(time.Now())
	for chunk := range slices.Chunk(evs, insertChunk) {
		var q strings.Builder
		q.WriteString(`INSERT INTO ` + o.table + ` (seq_id, topic, payload, created_at, metadata) VALUES `)
		args := make([]any, 0, 5*len(chunk))
		for i, ev := range chunk {
			payload, err := proto.Marshal(ev)
			if err != nil {
				return nil, fmt.Errorf("outbox: encoding %s: %w", topic, err)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?)")
			eid := id.New("evt")
			ids = append(ids, eid)
			args = append(args, eid, topic, payload, now, md)
		}
		if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
			return nil, fmt.Errorf("outbox: writing %s: %w", topic, err)
		}
	}
	tx.AfterCommit(o.Wake)
	return ids, nil
}

// Wake makes the relay look for new rows now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Pending counts events not yet accepted by the bus.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	err := o.db.QueryRow(ctx, `SELECT COUNT(*) FROM `+o.table).Scan(&n)
	return n, err
}

type row struct {
	id       string
	topic    string
	payload  []byte
	attempts int
	metadata string // JSON object, or empty
}

// publishChunk is the most events one Publish call carries; the rows of a
// chunk the bus accepted are deleted with one statement.
const publishChunk = 64

// Run relays events until ctx is cancelled. Events that have not failed yet
// go to the bus in chunks, one Publish call and one DELETE per chunk; an
// event whose publish failed is retried alone, so one event the bus keeps
// refusing never holds others back.
func (o *Outbox) Run(ctx context.Context) {
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		// relayed holds rows finished since the last scan began: a scan
		// that started before a row's delete committed may still return
		// it, and must not publish it again.
		relayed = map[string]bool{}
		sem     = make(chan struct{}, o.Parallel)
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	dispatch := func(rs []row) bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o.relay(ctx, rs)
			mu.Lock()
			for _, r := range rs {
				delete(inFlight, r.id)
				relayed[r.id] = true
			}
			mu.Unlock()
			o.Wake()
		}()
		return true
	}
	for {
		mu.Lock()
		clear(relayed)
		mu.Unlock()
		rows, err := o.due(ctx)
		if err != nil && ctx.Err() == nil {
			o.log.Warn("outbox: reading", "table", o.table, "err", err)
		}
		dispatched := 0
		var chunk []row
		for _, r := range rows {
			mu.Lock()
			busy := inFlight[r.id] || relayed[r.id]
			if !busy {
				inFlight[r.id] = true
			}
			mu.Unlock()
			if busy {
				continue
			}
			dispatched++
			if r.attempts > 0 {
				if !dispatch([]row{r}) {
					return
				}
				continue
			}
			chunk = append(chunk, r)
			if len(chunk) == publishChunk {
				if !dispatch(chunk) {
					return
				}
				chunk = nil
			}
		}
		if len(chunk) > 0 && !dispatch(chunk) {
			return
		}
		// A full batch means more rows may be waiting: go again at once.
		if dispatched > 0 && len(rows) == o.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-tick.C:
		}
	}
}

func (o *Outbox) due(ctx context.Context) ([]row, error) {
	rs, err := o.db.Query(ctx, `SELECT seq_id, topic, payload, attempts, COALESCE(metadata, '') FROM `+o.table+
		` WHERE next_at <= ? ORDER BY seq_id LIMIT ?`, store.ToMicros(time.Now()), o.Batch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.topic, &r.payload, &r.attempts, &r.metadata); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// relay publishes rs in one call, then deletes them, or, if the bus
// refused, puts each off by its own backoff.
func (o *Outbox) relay(ctx context.Context, rs []row) {
	msgs := make([]*bus.Message, len(rs))
	for i, r := range rs {
		msgs[i] = &bus.Message{ID: r.id, Topic: r.topic, Payload: r.payload}
		if r.metadata != "" {
			// A row whose metadata does not decode is still relayed: the
			// event matters, its trace context does not.
			if err := json.Unmarshal([]byte(r.metadata), &msgs[i].Metadata); err != nil {
				o.log.Warn("outbox: dropping undecodable metadata", "id", r.id, "err", err)
				msgs[i].Metadata = nil
			}
		}
	}
	pctx, cancel := context.WithTimeout(ctx, o.PublishTimeout)
	err := o.bus.Publish(pctx, msgs...)
	cancel()
	if err == nil {
		q, args := inList(`DELETE FROM `+o.table+` WHERE seq_id IN `, rs)
		if _, err := o.db.Exec(context.WithoutCancel(ctx), q, args...); err != nil {
			// They stay and are published again: consumers deduplicate.
			o.log.Warn("outbox: deleting relayed events", "count", len(rs), "first", rs[0].id, "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, bus.ErrClosed) { // shutting down: expected, kept for next time
		level = slog.LevelDebug
	}
	for _, r := range rs {
		backoff := min(time.Duration(1<<min(r.attempts, 8))*100*time.Millisecond, time.Minute)
		o.log.Log(ctx, level, "outbox: publish failed, will retry", "topic", r.topic, "id", r.id, "attempt", r.attempts+1, "retry_in", backoff, "err", err)
		if _, err := o.db.Exec(context.WithoutCancel(ctx), `UPDATE `+o.table+` SET attempts = attempts + 1, next_at = ? WHERE seq_id = ?`,
			store.ToMicros(time.Now().Add(backoff)), r.id); err != nil {
			o.log.Warn("outbox: recording retry", "id", r.id, "err", err)
		}
	}
}

// inList appends "(?, ?, ...)" holding the rows' ids to q.
func inList(q string, rs []row) (string, []any) {
	var b strings.Builder
	b.WriteString(q)
	b.WriteString("(")
	args := make([]any, len(rs))
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args[i] = r.id
	}
	b.WriteString(")")
	return b.String(), args
}
