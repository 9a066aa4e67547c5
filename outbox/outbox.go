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
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

// Migrate creates the outbox table if it does not exist.
func (o *Outbox) Migrate(ctx context.Context) error {
	_, err := o.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+o.table+` (
		seq_id     TEXT PRIMARY KEY,
		topic      TEXT NOT NULL,
		payload    BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		attempts   INTEGER NOT NULL DEFAULT 0,
		next_at    BIGINT NOT NULL DEFAULT 0
	)`)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.table, err)
	}
	_, err = o.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+o.inbox+` (
		event_id TEXT PRIMARY KEY,
		seen_at  BIGINT NOT NULL
	)`)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.inbox, err)
	}
	return nil
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
	var bad errs.Fields
	if topic == "" {
		bad.Add("topic", "must not be empty")
	}
	if ev == nil {
		bad.Add("event", "must not be nil")
	}
	if err := bad.Err(); err != nil {
		return "", err
	}
	payload, err := proto.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("outbox: encoding %s: %w", topic, err)
	}
	eid := id.New("evt")
	if _, err := tx.Exec(ctx, `INSERT INTO `+o.table+` (seq_id, topic, payload, created_at) VALUES (?, ?, ?, ?)`,
		eid, topic, payload, store.ToMicros(time.Now())); err != nil {
		return "", fmt.Errorf("outbox: writing %s: %w", topic, err)
	}
	tx.AfterCommit(o.Wake)
	return eid, nil
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
}

// Run relays events until ctx is cancelled.
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
	for {
		mu.Lock()
		clear(relayed)
		mu.Unlock()
		rows, err := o.due(ctx)
		if err != nil && ctx.Err() == nil {
			o.log.Warn("outbox: reading", "table", o.table, "err", err)
		}
		dispatched := 0
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
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			dispatched++
			wg.Add(1)
			go func(r row) {
				defer wg.Done()
				defer func() { <-sem }()
				o.relay(ctx, r)
				mu.Lock()
				delete(inFlight, r.id)
				relayed[r.id] = true
				mu.Unlock()
				o.Wake()
			}(r)
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
	rs, err := o.db.Query(ctx, `SELECT seq_id, topic, payload, attempts FROM `+o.table+
		` WHERE next_at <= ? ORDER BY seq_id LIMIT ?`, store.ToMicros(time.Now()), o.Batch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.topic, &r.payload, &r.attempts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func (o *Outbox) relay(ctx context.Context, r row) {
	pctx, cancel := context.WithTimeout(ctx, o.PublishTimeout)
	err := o.bus.Publish(pctx, &bus.Message{ID: r.id, Topic: r.topic, Payload: r.payload})
	cancel()
	if err == nil {
		if _, err := o.db.Exec(context.WithoutCancel(ctx), `DELETE FROM `+o.table+` WHERE seq_id = ?`, r.id); err != nil {
			// It stays and is published again: consumers deduplicate.
			o.log.Warn("outbox: deleting relayed event", "id", r.id, "err", err)
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
	backoff := min(time.Duration(1<<min(r.attempts, 8))*100*time.Millisecond, time.Minute)
	o.log.Log(ctx, level, "outbox: publish failed, will retry", "topic", r.topic, "id", r.id, "attempt", r.attempts+1, "retry_in", backoff, "err", err)
	if _, err := o.db.Exec(context.WithoutCancel(ctx), `UPDATE `+o.table+` SET attempts = attempts + 1, next_at = ? WHERE seq_id = ?`,
		store.ToMicros(time.Now().Add(backoff)), r.id); err != nil {
		o.log.Warn("outbox: recording retry", "id", r.id, "err", err)
	}
}
