// Package trigger is Herald's Trigger service: it owns schedules and fires
// each one once, on time, durably, by writing a post.due event to its outbox
// in the same transaction that marks the schedule fired.
//
// The database is the source of truth for every future firing; memory holds
// only the near future. Schedules are spread over a fixed number of shards.
// An engine owns shards through coordination locks (all of them when it is
// alone), keeps the pending schedules of its shards that are due within a
// short horizon in one min-heap served by one timer goroutine, and refills
// the heap from the database before the horizon runs out. Schedule and Cancel
// reach the heap at once; a guarded UPDATE (state, version, due instant and
// the shard's fencing token) makes the heap a hint, never an authority, so a
// schedule that was moved, cancelled, fired elsewhere or belongs to a shard
// this node no longer owns does not fire from a stale entry. Schedules due
// at the same instant fire in batches, one transaction for many, so lateness
// does not grow with the backlog; memory grows with the horizon (and is
// capped), not with the backlog. After downtime, overdue schedules fire at
// once and their lateness is stored.
//
// Only one-shot schedules exist today. The tables carry a kind and the
// engine fires "the next due instant of a schedule", so recurring (RRULE),
// evergreen and feed schedules can later advance due_at in the same guarded
// transaction instead of marking the schedule fired.
//
// This package must never fire a schedule before its due instant, never
// publish to the bus directly (events go through the outbox), never read or
// write another service's tables, and never import another service's
// package.
package trigger
