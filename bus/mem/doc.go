// Package mem is the embedded, in-process event bus: the default when Herald
// runs as one binary with no broker. It registers the URL scheme "mem"
// ("mem://"); every Open returns a new, independent bus, so a process that
// wants its services to hear each other opens it once, in its composition
// root, and hands it to all of them.
//
// # Semantics
//
// Delivery is at least once, and the bus is meant to be fed by the
// transactional outbox (package outbox), which is what makes it safe:
//
//   - Publish delivers each message to every group subscribed to its topic
//     and returns only after each of those groups has acknowledged it (a
//     handler returned nil). A message whose topic has no subscribers is
//     acknowledged at once: nobody is interested in it.
//   - A handler error is retried after the subscription's backoff, within
//     the same Publish call, with Message.Delivery counting the attempts,
//     until the group acknowledges or Publish's context ends. Then Publish
//     returns the context's error, the outbox keeps its row and publishes it
//     again later. Nothing that Publish acknowledged was left unhandled, so
//     a crash loses nothing: what was not acknowledged is still in the
//     outbox. This is what Features.Durable means for an in-process bus.
//   - Within a group, messages are spread over its subscribers (competing
//     consumers); each subscriber runs at most its Concurrency handlers at
//     once. When every handler of a group is busy, Publish waits for one to
//     free up: that wait is the backpressure that slows the outbox relay down
//     to what consumers can take, instead of queueing without bound.
//   - There is no order between messages: concurrent handlers and retries
//     reorder them (Features.OrderedPerTopic is false).
//   - A group exists only while it has subscribers. When the last one leaves,
//     messages still being delivered to that group are acknowledged as if it
//     had never subscribed; nothing is kept for it.
//   - A panicking handler is recovered and counts as a handler error, so one
//     bad event cannot take the process down.
//
// Closing a subscription (or cancelling the context it was subscribed with)
// cancels the context its handlers run with and stops delivery to it;
// Subscription.Close and Bus.Close return only after the handlers they
// stopped have returned, so nothing runs after them.
//
// # What it must never do
//
// It must never acknowledge a message to the publisher before every
// subscribed group has handled it, never keep messages in an unbounded queue,
// and never hold a lock while a handler runs.
package mem
