// Package nats is the event bus on NATS JetStream. It registers the URL
// scheme "nats":
//
//	nats://[user:password@ | token@]host:port[?option=value&...]
//
// Options (all optional):
//
//	stream=HERALD         name of the JetStream stream that holds Herald's events
//	prefix=herald         subject prefix: topic "post.due" is subject "herald.post.due",
//	                      and the stream takes "herald.>"
//	storage=file          file or memory; memory does not survive a server restart,
//	                      so the bus then does not declare Features.Durable
//	replicas=1            stream replicas, for a clustered JetStream
//	retention=limits      limits or interest (see Semantics); a stream that
//	                      exists with the other retention is refused at Open
//	max_age=168h          with retention=limits, how long a message is kept: a
//	                      group further behind than this loses events (0:
//	                      forever); with interest, default 0, it drops
//	                      messages a group has not handled yet
//	duplicates=2m         window in which a re-published event id is dropped by
//	                      the server (the outbox may publish an event twice)
//	ack_wait=10s          how long a delivered message may stay unacknowledged
//	                      before the server gives it to another subscriber; a
//	                      running handler keeps extending it, so it need not
//	                      cover slow handlers, only a subscriber that vanished
//	max_deliver=-1        deliveries of a message before the server gives up on
//	                      it for a group (-1: never give up; anything else can
//	                      lose events)
//	inactive=0            remove a group's consumer, and what it still holds,
//	                      after it has had no subscriber this long (0: never)
//	connect_timeout=5s    bound on connecting at Open
//	request_timeout=5s    bound on each JetStream API request (setting up the
//	                      stream or a group's consumer, Ping) when the caller's
//	                      context has no deadline
//	tls=false             require TLS (system roots)
//	name=herald           connection name shown by the server
//
// Credentials in the URL are never printed: errors and logs show the URL
// with the password, or a lone token, replaced by "xxxxx".
//
// # Semantics
//
// One stream per Herald installation holds every topic. With limits
// retention, the default, the stream keeps every message for max_age,
// whatever the groups have acknowledged; each group's consumer keeps its
// own position in it. Interest retention (a message kept until every group
// of its topic has acknowledged it) stores less, but the server then drops
// what is published while it shuts down: its consumers stop before the
// stream does, and a message that finds no consumer interested is removed
// right after its PubAck. Measured: a graceful stop of the server during
// a flow of events lost 8 and 30 of 600 (docs/decisions/0033). Either way
// a group starts with the messages published after it was made, so a
// topic nobody subscribed to is, as with the in-process bus, delivered to
// nobody. Publish sends with the event id as Nats-Msg-Id and returns only once
// the server has stored the message and said so (the JetStream PubAck), so
// a nil error means the message is on disk (storage=file).
//
// Each (topic, group) pair is a durable pull consumer, named by
// busdriver.Name, created on first Subscribe and starting with the messages
// published after it. Every subscriber of a group pulls from the same
// consumer, so they compete for its messages; each keeps at most its
// concurrency's worth of pulled messages waiting beside its running
// handlers, so an idle subscriber of the group is never starved by a busy
// one. Acknowledgements are explicit: a handler's nil
// acknowledges, an error (or a panic) is a Nak with the subscription's
// backoff as delay, so Message.Delivery (the server's delivery count) counts
// up. Messages that a closing subscription had received but not started are
// given back at once. A subscriber cannot withdraw the pull request it has
// outstanding, though: for up to 5 seconds after it stops, the server may
// deliver a few messages into it, and those come again after ack_wait.
//
// One subscriber with concurrency 1 sees a topic's messages in publish
// order when nothing is redelivered (Features.OrderedPerTopic).
//
// Every node of an installation must open the bus with the same stream
// options: each Open creates or updates the stream to its own.
//
// The client reconnects on its own, forever, and pulls resume; if the server
// lost the consumer (deleted by an operator, a restart with storage=memory)
// the subscription creates it again. Publish while disconnected waits for the reconnection within its
// context.
//
// # What it must never do
//
// It must never report a Publish as done before the PubAck, never
// acknowledge a message whose handler failed or did not run, never pull
// without bound ahead of its handlers, and never print credentials.
package nats
