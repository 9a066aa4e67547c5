// Package admission decides whether a node takes a piece of work now, makes
// it wait briefly, or refuses it so the caller retries elsewhere or later.
//
// A Limiter holds a concurrency limit that adapts to observed latency: while
// work finishes about as fast as the node's unloaded baseline, and the limit
// is actually used, it grows; once the average of a window of samples rises
// past Tolerance times the baseline, it shrinks in proportion (the gradient
// idea of Netflix's concurrency-limits, written here small). Work beyond the
// limit waits in a bounded queue for at most QueueTimeout, ordered by
// priority, and is refused (shed) past that. Critical work is never refused:
// it is counted, so the limiter sees the load, but admitted at once.
//
// The package knows nothing of HTTP; package node classifies requests and
// answers shed ones with 503 and Retry-After.
package admission
