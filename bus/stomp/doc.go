// Package stomp is the event bus on Apache ActiveMQ (5.x, "classic"),
// reached over STOMP 1.2 with Herald's own client (package stomp at the
// root of the module). It registers the URL schemes "stomp" and
// "stomp+ssl".
//
// # URL
//
//	stomp://[user[:password]@]host[:port][?options]
//	stomp+ssl://[user[:password]@]host[:port][?options]    TLS, system roots
//
// The port defaults to 61613. The user and password are sent as STOMP's
// login and passcode; they are never printed (errors and logs show the URL
// with the password as "xxxxx"). Options:
//
//   - prefix (default "herald."): put before every topic in destination
//     names, to keep installations sharing a broker apart. Dot-separated
//     words of letters, digits, '_' and '-'; a trailing '.' is allowed.
//   - host: the STOMP virtual host sent in CONNECT; default: the URL's host.
//   - heartbeat (default 10s): the heart-beat period offered and asked for;
//     a broker silent for twice the negotiated period is taken for gone.
//     0 turns heart-beats off.
//   - connect_timeout (default 5s, at least 100ms): bounds each dial and
//     handshake, so Open fails within it when the broker is unreachable.
//
// An unknown option, or one given twice, is refused with errs.Invalid.
//
// # Destinations
//
// Every consumer group must get every message, and the subscribers within a
// group compete for them. ActiveMQ gives exactly that with virtual topics:
// Publish sends to the topic
//
//	/topic/VirtualTopic.<prefix><topic>
//
// and the broker copies each message into the queue of every group,
//
//	/queue/Consumer.<group>.VirtualTopic.<prefix><topic>
//
// which the group's subscribers share. This relies on ActiveMQ's default
// virtual topic interceptor (topics "VirtualTopic.>", queues "Consumer.*."),
// which is on unless the broker's configuration declares its own
// virtualDestinations without it. A group name is one element of the queue
// name: letters, digits and '_' are kept, any other byte is written as '-'
// and two hexadecimal digits ("a.b" is "a-2Eb"). Topics follow the rule of
// every broker-backed bus (busdriver.CheckTopic), which ActiveMQ takes as
// it is.
//
// A group's queue exists from its first subscription on, and keeps
// messages while the group has no subscriber, across restarts of a
// persistent broker. Messages published to a topic no group ever
// subscribed to are dropped: nobody is interested.
//
// # Semantics
//
//   - Publish sends each message persistent (persistent:true) and returns
//     once the broker's RECEIPT for it arrived. ActiveMQ handles a SEND that
//     asks for a receipt as a synchronous send: it answers after the
//     message is in its store. The messages of a batch go out in order,
//     without waiting, and their receipts are awaited together; a failure
//     of some does not undo the others.
//   - Subscribe consumes the group's queue with client-individual
//     acknowledgements and a prefetch (activemq.prefetchSize) equal to the
//     subscription's concurrency: the broker never hands a subscriber more
//     than it runs at once, and a slow subscriber leaves the rest of the
//     queue to the others. A message is acknowledged after its handler
//     returned nil.
//   - After a handler error the subscriber waits the subscription's backoff
//     (doubling, up to 64 times, while the requeue below itself fails),
//     then, in one STOMP transaction, puts a copy of the message at the back
//     of the group's queue with its delivery count one up and acknowledges
//     the original: the broker holds exactly one of the two. The message
//     is retried without end; the group's other messages go on meanwhile,
//     and overtake it. Not used, on purpose: STOMP's NACK, which ActiveMQ
//     answers by moving the message to its dead-letter queue at once; and
//     the broker's redelivery policy, whose delays need the broker's
//     scheduler (schedulerSupport), off by default.
//   - A message delivered but not acknowledged when its subscriber stops,
//     crashes or loses its connection is given back by the broker, marked
//     redelivered, to the group's next subscriber.
//   - Message.Delivery is the count carried through requeues, plus one when
//     the broker says it delivered the message before. It is informational.
//   - Order: an ActiveMQ queue hands its messages in arrival order, so a
//     group's single subscriber with concurrency 1 sees one publisher's
//     messages in publish order until a redelivery or requeue
//     (Features.OrderedPerTopic).
//   - Features.Durable holds when the broker is persistent (ActiveMQ's
//     default, KahaDB). A broker configured with persistent="false" loses
//     queued messages when it restarts; the adapter cannot tell.
//   - The payload travels as the STOMP body (with content-length, so any
//     bytes), the metadata as one header, herald-meta, in URL query
//     encoding: ActiveMQ turns STOMP headers into JMS property names, which
//     do not take every string. Herald's headers: herald-id, herald-topic,
//     herald-meta, herald-delivery. Encoded metadata is limited to 8 KiB
//     and a payload to 16 MiB (ActiveMQ refuses a header line over 10 KiB);
//     Publish refuses more with errs.Invalid naming the field.
//
// # Connections and health
//
// A bus keeps two connections: one publishes, one carries the
// subscriptions and their acknowledgements, because ActiveMQ throttles a
// producer by stalling its whole connection, which must not stall the
// acknowledgements that would make room. When a connection drops, the
// client reconnects with backoff (100 ms to 5 s) and subscribes again;
// Publish and Subscribe wait for it within their context, and Ping, which
// backs readiness, reports the broker unavailable meanwhile. Ping is a
// round trip on both connections.
//
// # What it must never do
//
// It must never report a Publish as done before the broker's receipt,
// never acknowledge a message before its handler returned nil, never NACK
// (that dead-letters on ActiveMQ), and never print a password.
package stomp
