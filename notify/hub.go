package notify

import (
	"sync"

	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// hub fans notifications out to the live streams of each (tenant, user) in
// this process. Publishing never waits for a subscriber: each has a bounded
// buffer, and one that is full is flagged to resync from the database
// instead, so a slow browser costs only its own freshness.
type hub struct {
	mu     sync.Mutex
	subs   map[inbox]map[*subscriber]struct{}
	buffer int
}

// inbox names one user's notifications.
type inbox struct{ tenantID, userID string }

// subscriber is one live stream.
type subscriber struct {
	// updates carries notifications and unread counts in order.
	updates chan update
	// resync is signalled (capacity 1) when updates overflowed: the stream
	// has missed something and its client must reload.
	resync chan struct{}
}

// update is one thing a stream is told: a new notification, or the new
// unread count after notifications were marked read.
type update struct {
	notification *notificationv1.Notification
	unread       int
}

func newHub(buffer int) *hub {
	return &hub{subs: map[inbox]map[*subscriber]struct{}{}, buffer: buffer}
}

// subscribe registers a stream for one user; the returned func ends it.
func (h *hub) subscribe(tenantID, userID string) (*subscriber, func()) {
	s := &subscriber{updates: make(chan update, h.buffer), resync: make(chan struct{}, 1)}
	k := inbox{tenantID, userID}
	h.mu.Lock()
	if h.subs[k] == nil {
		h.subs[k] = map[*subscriber]struct{}{}
	}
	h.subs[k][s] = struct{}{}
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs[k], s)
		if len(h.subs[k]) == 0 {
			delete(h.subs, k)
		}
		h.mu.Unlock()
	}
}

// publish hands u to every stream of the user without blocking.
func (h *hub) publish(tenantID, userID string, u update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[inbox{tenantID, userID}] {
		select {
		case s.updates <- u:
		default:
			select {
			case s.resync <- struct{}{}:
			default: // already flagged
			}
		}
	}
}

// has reports whether the user has a live stream here.
func (h *hub) has(tenantID, userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[inbox{tenantID, userID}]) > 0
}

// count is the number of live streams, for tests and metrics.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}
