package bus

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// BatchHandler handles several delivered messages at once, typically in one
// store transaction. It returns nil when every message is handled, or one
// error per message (nil: acknowledged; not nil: redelivered later, as a
// Handler's error). Like a Handler it must be safe to call again with
// messages it has seen.
type BatchHandler func(ctx context.Context, msgs []*Message) []error

// BatchOptions tune a Batcher.
type BatchOptions struct {
	// MaxBatch is the most messages handed to the batch handler at once
	// (default 64). A subscription delivers at most its Concurrency messages
	// at a time, so that bounds a batch too: subscribe with a Concurrency of
	// at least MaxBatch.
	MaxBatch int
	// MaxWait is how long a batch waits to fill up once its first message
	// is there (default 0: it takes what has arrived, and what arrives
	// while a batch is being handled forms the next; under load batches
	// fill by themselves and an idle subscription adds no delay).
	MaxWait time.Duration
	// Workers is how many batches are handled at once (default 1: SQLite
	// takes one writer at a time anyway).
	Workers int
}

// Batcher turns a subscription's one-message-at-a-time deliveries into
// batches: its Handle is the Handler given to Subscribe, and each call
// waits until the batch holding its message has been handled, then returns
// that message's own result. The adapter acknowledges (or redelivers) each
// message exactly as it would for a plain Handler, only after the batch
// handler has returned: at-least-once delivery and each adapter's
// redelivery are unchanged, and a crash mid-batch leaves every message of
// the batch unacknowledged.
//
// There is no goroutine of its own: the first waiting call handles the
// batch (a leader), and hands the lead to the next waiting call when its
// own message is done, so a Batcher needs no starting or stopping.
type Batcher struct {
	h    BatchHandler
	opts BatchOptions

	mu      sync.Mutex
	queue   []*batchItem
	leaders int           // calls handling batches now, at most opts.Workers
	arrived chan struct{} // poked on each arrival, for a leader waiting to fill up
}

type batchItem struct {
	ctx context.Context
	m   *Message
	// result gets the message's outcome, or lead: the call is to handle
	// batches until its own message is done.
	result chan batchResult
	leads  bool // the call is a leader, or has been told to become one
}

type batchResult struct {
	err  error
	lead bool
}

// NewBatcher returns a Batcher over h.
func NewBatcher(h BatchHandler, opts BatchOptions) *Batcher {
	if opts.MaxBatch < 1 {
		opts.MaxBatch = 64
	}
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	return &Batcher{h: h, opts: opts, arrived: make(chan struct{}, 1)}
}

// Handle is the Handler to subscribe with.
func (b *Batcher) Handle(ctx context.Context, m *Message) error {
	it := &batchItem{ctx: ctx, m: m, result: make(chan batchResult, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, it)
	lead := b.leaders < b.opts.Workers
	if lead {
		b.leaders++
		it.leads = true
	}
	b.mu.Unlock()
	select {
	case b.arrived <- struct{}{}:
	default:
	}
	if lead {
		return b.lead(it)
	}
	// No select on ctx: while anything is queued a leader runs, and it
	// skips a message whose context has ended, so the result always comes.
	r := <-it.result
	if r.lead {
		return b.lead(it)
	}
	return r.err
}

// lead handles batches from the head of the queue until own's message is
// done, then hands the lead on (or gives it up when nothing waits) and
// returns own's result.
func (b *Batcher) lead(own *batchItem) error {
	defer b.handOn() // also when the batch handler panics
	for {
		batch := b.take(own.ctx)
		if len(batch) == 0 {
			// Another leader took own's message: wait for its result.
			return (<-own.result).err
		}
		b.run(batch)
		select {
		case r := <-own.result:
			return r.err
		default:
			// own is further down the queue; handle the next batch.
		}
	}
}

// handOn passes a finishing leader's lead to the first waiting call not
// leading already, or gives it up when none waits.
func (b *Batcher) handOn() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, it := range b.queue {
		if !it.leads {
			it.leads = true
			// A queued call has had no result yet: the send does not block.
			it.result <- batchResult{lead: true}
			return
		}
	}
	b.leaders--
}

// take removes the next batch from the head of the queue, waiting up to
// MaxWait for it to fill.
func (b *Batcher) take(ctx context.Context) []*batchItem {
	b.mu.Lock()
	if b.opts.MaxWait > 0 && len(b.queue) < b.opts.MaxBatch {
		deadline := time.NewTimer(b.opts.MaxWait)
	wait:
		for len(b.queue) < b.opts.MaxBatch {
			b.mu.Unlock()
			select {
			case <-b.arrived:
			case <-deadline.C:
				b.mu.Lock()
				break wait
			case <-ctx.Done():
				b.mu.Lock()
				break wait
			}
			b.mu.Lock()
		}
		deadline.Stop()
	}
	n := min(len(b.queue), b.opts.MaxBatch)
	batch := make([]*batchItem, n)
	copy(batch, b.queue)
	clear(b.queue[:n]) // no references kept in the backing array
	b.queue = b.queue[n:]
	b.mu.Unlock()
	return batch
}

// run hands the live messages of batch to the handler and gives each item
// its result; a message whose delivery context has ended is redelivered
// without being handled. The handler runs under the first live message's
// context (a subscription's deliveries share one in practice).
func (b *Batcher) run(batch []*batchItem) {
	live := make([]*batchItem, 0, len(batch))
	msgs := make([]*Message, 0, len(batch))
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.result <- batchResult{err: err}
			continue
		}
		live = append(live, it)
		msgs = append(msgs, it.m)
	}
	if len(live) == 0 {
		return
	}
	ctx := live[0].ctx
	var errs []error
	done := false
	defer func() {
		if done {
			return
		}
		// The handler panicked: nothing of the batch is acknowledged, and
		// the waiting calls return before the panic goes on.
		for _, it := range live {
			it.result <- batchResult{err: fmt.Errorf("bus: the batch handler panicked")}
		}
	}()
	errs = b.h(ctx, msgs)
	done = true
	if errs != nil && len(errs) != len(live) {
		err := fmt.Errorf("bus: the batch handler returned %d results for %d messages", len(errs), len(live))
		for _, it := range live {
			it.result <- batchResult{err: err}
		}
		return
	}
	for i, it := range live {
		var err error
		if errs != nil {
			err = errs[i]
		}
		it.result <- batchResult{err: err}
	}
}
