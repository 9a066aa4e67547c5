// Package amqp is the event bus on RabbitMQ (AMQP 0.9.1). It registers the
// URL schemes "amqp" and "amqps" (TLS):
//
//	amqp://user:password@host:port/vhost[?option=value&...]
//
// An empty path, or "/", is the default virtual host "/"; any other path
// names the virtual host ("/%2F" also names "/"). Options (all optional):
//
//	exchange=herald       the durable topic exchange events are published to
//	prefix=herald         prefix of the queues' names
//	queue_type=auto       quorum, classic or auto: quorum when the server is
//	                      RabbitMQ 3.10 or later, classic otherwise (see below)
//	prefetch=0            unacknowledged messages the broker may send one
//	                      subscriber (0: its concurrency)
//	expires=0             delete a group's queues, and what they still hold,
//	                      after they have had no subscriber this long (0: never);
//	                      a subscription's backoff must then be at most half of it
//	heartbeat=10s         AMQP heartbeat, which detects a dead connection
//	connect_timeout=5s    bound on connecting at Open and on each reconnection
//	name=herald           connection name shown by the broker
//
// Credentials in the URL are never printed: errors and logs show the URL
// with the password replaced by "xxxxx".
//
// # Semantics
//
// Publish sends each message, persistent, to the exchange with its topic as
// routing key, on a channel in confirm mode, and returns only when the broker
// has confirmed every one (publisher confirms): a nil error means the queues
// bound to the topic hold the message durably. A topic no group has
// subscribed to routes to no queue, and the message is dropped: nobody is
// interested, as with the in-process bus.
//
// Each (topic, group) pair is a durable queue named prefix + "." +
// busdriver.Name(topic, group), bound to the exchange with the topic, and
// declared on first Subscribe (so it holds the messages published after
// that, and keeps them while the group has no subscriber). Every subscriber
// of a group consumes from that queue, so they compete for its messages;
// each has its own channel with a prefetch of its concurrency (or the
// prefetch option), so an idle subscriber is never starved by a busy one. Acknowledgements are manual: a
// handler's nil acks the delivery.
//
// A handler error (or panic) sends the message to wait out the
// subscription's backoff in the group's retry queue (the group's queue name
// + ".retry", declared on the group's first failure): a copy is published
// there through the default exchange, confirmed, with the backoff as its
// per-message TTL, and only then is the delivery acked. When the TTL runs
// out the broker dead-letters the copy back to the group's queue. So a
// failing message neither holds a handler slot nor spins; if the copy
// cannot be parked, the delivery is nacked and requeued at once instead.
// Messages expire only at the head of a queue, so in a group whose
// subscribers use different backoffs a short one may wait behind a long one.
// Message.Delivery counts the retries (a header on the copy) plus, on quorum
// queues, the broker's own count of requeues (x-delivery-count).
//
// Quorum queues are replicated and fsync before confirming, and with
// at-least-once dead-lettering (RabbitMQ 3.10+) nothing is lost on the way
// back from the retry queue. Classic durable queues are the fallback for
// older servers: messages still survive a restart, but dead-lettering from
// the retry queue is at-most-once, so a broker crash at that instant can
// drop a message being retried. A queue keeps the type and
// arguments it was declared with: changing queue_type or expires for
// existing groups needs their queues deleted first (the broker refuses the
// declaration otherwise, and says so).
//
// When the connection or the publishing channel is lost, the bus reconnects
// with a growing pause (NotifyClose), declares the exchange again, and every
// subscription declares its queues and consumes again. Deliveries that were
// being handled are requeued by the broker and come again (at least once).
// Publish while disconnected waits for the reconnection within its context.
//
// Each group is a queue, and a quorum queue holds a few file descriptors on
// the broker: size the broker's open-file limit (RabbitMQ recommends 65536)
// for the groups an installation has, or it stops accepting connections.
//
// One subscriber with concurrency 1 sees a topic's messages in publish order
// when nothing is redelivered (Features.OrderedPerTopic).
//
// # What it must never do
//
// It must never report a Publish as done before the broker's confirm, never
// ack a delivery whose handler failed unless its copy is confirmed in the
// retry queue, never let the broker send a subscriber more than its prefetch,
// and never print credentials.
package amqp
