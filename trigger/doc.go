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
// Schedules are one-shot (a due instant) or recurring (kind rrule): an
// RFC 5545 RRULE evaluated from a local start time in an IANA zone, with
// skipped local dates, ended by COUNT or UNTIL. A recurring schedule is one
// row whose due_at is its next occurrence; the transaction that fires an
// occurrence also moves the row to the next one (or marks it fired when the
// rule has ended), under the same guard, so each occurrence fires once.
// Rules that never fire or fire more than once a minute are refused.
//
// Local times at DST changes follow one rule, RFC 5545's (section 3.3.5):
// the rule is evaluated on wall-clock times, and each occurrence is then
// resolved in the zone; a wall time that does not exist (clocks set
// forward) moves forward by the gap's length (02:30 on a day that jumps
// from 02:00 to 03:00 fires at 03:30); a wall time that exists twice
// (clocks set back) is the first, earlier instant. Firing instants strictly
// increase: an occurrence moved forward past a later one is dropped (only
// rules more frequent than the gap can do that). rrule-go, left to itself,
// takes the later instant of a repeated time, hence the wall-clock
// evaluation.
//
// Evergreen queues: a queue is a weekly table of posting slots in an IANA
// zone (resolved by the DST rule below; slots that resolve to one instant
// are one slot), the accounts it posts to and a recycling policy. A queued
// post is a schedule of kind queue whose due instant is its slot: it takes
// the queue's first free slot after now, keeps it when asked again, frees
// it when cancelled, and fires like a one-shot schedule. An evergreen post
// that fires moves in the same transaction to the first slot after the
// queue's last taken one and at least min_gap later, until it has gone out
// again max_repeats times. A queue is held while it or one of its accounts
// is paused: its posts are held and never fire; released, they keep their
// order and take the slots from now on; a new slot table re-plans them in
// order. Each post moved that way gets a schedule.moved event. Queue rows
// are locked before shard and schedule rows by every transaction that
// hands out a slot or moves posts, so no two posts share a slot (a unique
// index refuses it too). See docs/decisions/0011-evergreen-queues.md.
//
// Catch-up after downtime: of the occurrences of a recurring schedule that
// fell due while no engine ran, only the latest fires (late, its lateness
// stored and visible in post.due as fired_at - due_at); older ones are
// skipped and counted, so a weekly post missed for three weeks posts once,
// not three times. The latest is skipped too when it is later than the
// schedule's skip_if_later_than (0: fire however late). A one-shot
// schedule later than its threshold when the engine reaches it is marked
// skipped instead of fired; a schedule.skipped event, in the same
// transaction, tells Portal (and reports a recurring rule's skipped
// occurrences too).
//
// RSS/Atom feeds: a feed belongs to a shard like a schedule, and the node
// holding the shard polls it at its next_poll_at, at most FeedPolls at a
// time (FeedPollsPerHost against one host), through the SSRF-safe
// outbound client (Deps.Outbound), following a permanent move, with
// conditional requests, a timeout, a body limit and exponential backoff on
// errors. A poll commits in one transaction, fenced like a fire and guarded
// by the feed's version: the feed's poll state, its new items marked seen
// (trigger_feed_items) and their feed.item events, so no item is acted on
// twice. A feed's first poll emits only its newest backfill items. See
// docs/decisions/0010-feed-polling.md.
//
// This package must never fire a schedule before its due instant, never
// publish to the bus directly (events go through the outbox), never read or
// write another service's tables, never import another service's
// package, and never fetch a feed with any client but the outbound one.
package trigger
