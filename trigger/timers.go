package trigger

import "container/heap"

// entry is a pending schedule held in memory because it is due within the
// horizon. It copies what the fire needs, so firing reads nothing first.
type entry struct {
	key      string
	tenantID string
	id       string
	postID   string
	revision int64
	// due is the due instant in Unix microseconds.
	due     int64
	shard   int
	version int64
	// token is the fencing token of the shard lock, taken when the entry
	// leaves the heap to be fired.
	token int64
	// index is the entry's place in the heap, -1 while it is being fired.
	index int
	// recur is the rule of a recurring schedule, nil for a one-shot one.
	recur *recurSpec
	// queued is set for a post in a queue.
	queued *queuedSpec
	// skipLate is a one-shot schedule's late threshold in microseconds (0:
	// fire however late); a recurring one's is in recur.
	skipLate int64
}

// recurSpec is a recurring schedule's rule as stored; it is compiled when
// an occurrence fires, so memory holds text, not compiled rules.
type recurSpec struct {
	rrule, zone, startLocal, exdates string
	skipLate                         int64
	// cursor is where the schedule stands in its rule; nil when the rule
	// must be expanded from its start.
	cursor *ruleCursor
}

// queuedSpec is what firing a queued post needs: whether its queue
// recycles it, and how often it went out already.
type queuedSpec struct {
	queueID   string
	evergreen bool
	fires     int64
}

func newEntry(r schedule) *entry {
	en := &entry{
		key: r.key(), tenantID: r.tenantID, id: r.id, postID: r.postID,
		revision: r.revision, due: r.due, shard: r.shard, version: r.version, index: -1,
	}
	if r.kind == kindRRule {
		en.recur = &recurSpec{rrule: r.rrule, zone: r.zone, startLocal: r.startLocal, exdates: r.exdates, skipLate: r.skipLate, cursor: r.ruleCursor()}
	}
	if r.kind == kindQueue {
		en.queued = &queuedSpec{queueID: r.queueID, evergreen: r.evergreen, fires: r.fires}
	}
	if r.kind == kindOnce {
		en.skipLate = r.skipLate
	}
	return en
}

// timers is a min-heap of entries by due instant: one timer goroutine waits
// for its first entry, however many schedules are held.
type timers struct{ h entryHeap }

func (t *timers) Len() int { return len(t.h) }

// Peek returns the earliest entry, or nil.
func (t *timers) Peek() *entry {
	if len(t.h) == 0 {
		return nil
	}
	return t.h[0]
}

func (t *timers) Push(e *entry) { heap.Push(&t.h, e) }

// Pop removes and returns the earliest entry.
func (t *timers) Pop() *entry { return heap.Pop(&t.h).(*entry) }

// Remove takes e out of the heap if it is in it.
func (t *timers) Remove(e *entry) {
	if e.index >= 0 && e.index < len(t.h) && t.h[e.index] == e {
		heap.Remove(&t.h, e.index)
	}
}

// RemoveIf takes out every entry for which drop is true.
func (t *timers) RemoveIf(drop func(*entry) bool) []*entry {
	var removed []*entry
	kept := t.h[:0]
	for _, e := range t.h {
		if drop(e) {
			e.index = -1
			removed = append(removed, e)
			continue
		}
		e.index = len(kept)
		kept = append(kept, e)
	}
	clear(t.h[len(kept):])
	t.h = kept
	heap.Init(&t.h)
	return removed
}

type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }

func (h entryHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].key < h[j].key
}

func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}
