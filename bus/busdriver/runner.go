package busdriver

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
)

// Runner runs one subscription's handler for the messages a broker hands it:
// at most its concurrency at once, each call with the runner's context (the
// subscription's, cancelled by Stop), a panicking handler recovered and
// counted as a handler error. It is safe for concurrent use.
//
// The adapter's receive loop calls Go for each message it receives and
// settles the message with the broker (ack, nack) in the callback Go calls
// after the handler; a slot is freed only after that, so the broker never
// has more unsettled messages out than the concurrency allows.
type Runner struct {
	h            bus.Handler
	topic, group string
	// keepEvery is how often Go calls a message's keepAlive.
	keepEvery time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	// slots is a semaphore of capacity concurrency.
	slots chan struct{}

	mu      sync.Mutex
	stopped bool
	// running counts handler goroutines; Adds happen under mu while not
	// stopped, so Wait (after Stop) never races with an Add from zero.
	running sync.WaitGroup
}

// NewRunner returns a runner for h, the handler of group's subscription to
// topic, whose handlers run with a context derived from ctx. keepAliveEvery
// is how often a running handler's keepAlive is called (see Go); zero never.
func NewRunner(ctx context.Context, topic, group string, h bus.Handler, concurrency int, keepAliveEvery time.Duration) *Runner {
	r := &Runner{h: h, topic: topic, group: group, keepEvery: keepAliveEvery, slots: make(chan struct{}, max(concurrency, 1))}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r
}

// Context is the context the handlers run with; it is done once the runner
// is stopped (or the context it was made from is).
func (r *Runner) Context() context.Context { return r.ctx }

// Go waits for a free slot, then runs the handler on m in a goroutine:
// while it runs, keepAlive (when not nil) is called every keepAliveEvery,
// for brokers that must be told a long handler is still working; settle
// then gets the handler's verdict, nil to acknowledge.
//
// Go reports false, running nothing, when the runner stops before a slot is
// free: the caller must give the message back to the broker at once.
func (r *Runner) Go(m *bus.Message, keepAlive func(), settle func(err error)) bool {
	select {
	case r.slots <- struct{}{}:
	case <-r.ctx.Done():
		return false
	}
	r.mu.Lock()
	if r.stopped || r.ctx.Err() != nil {
		r.mu.Unlock()
		<-r.slots
		return false
	}
	r.running.Add(1)
	r.mu.Unlock()

	go func() {
		defer r.running.Done()
		defer func() { <-r.slots }()
		var k *keeper
		if keepAlive != nil && r.keepEvery > 0 {
			k = keep(keepAlive, r.keepEvery)
		}
		err := r.handle(m)
		if k != nil {
			k.stop()
		}
		settle(err)
	}()
	return true
}

// keeper calls a function periodically on a timer, which costs less than a
// goroutine and a ticker for each message.
type keeper struct {
	fn    func()
	every time.Duration
	mu    sync.Mutex
	t     *time.Timer
	done  bool
}

func keep(fn func(), every time.Duration) *keeper {
	k := &keeper{fn: fn, every: every}
	k.mu.Lock() // tick waits for k.t to be set
	k.t = time.AfterFunc(every, k.tick)
	k.mu.Unlock()
	return k
}

func (k *keeper) tick() {
	k.mu.Lock()
	done := k.done
	k.mu.Unlock()
	if done {
		return
	}
	k.fn()
	k.mu.Lock()
	if !k.done {
		k.t.Reset(k.every)
	}
	k.mu.Unlock()
}

// stop ends the calls; one already under way may still finish.
func (k *keeper) stop() {
	k.mu.Lock()
	k.done = true
	k.t.Stop()
	k.mu.Unlock()
}

func (r *Runner) handle(m *bus.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bus: handler of group %q panicked on %s %s: %v\n%s", r.group, r.topic, m.ID, p, debug.Stack())
		}
	}()
	return r.h(r.ctx, m)
}

// Stop cancels the handlers' context and makes Go refuse new messages. It
// does not wait: Wait does.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
}

// Wait returns once every handler that Go started has returned and its
// message was settled. Call it after Stop.
func (r *Runner) Wait() { r.running.Wait() }
