// Package stomp is Herald's small STOMP 1.2 client, written for the
// ActiveMQ bus adapter (package bus/stomp) because no STOMP module can be
// obtained. It is a general client, not tied to Herald's bus: frames and
// their codec (Reader, Writer), and a Client that keeps one connection to a
// server alive.
//
// What the Client does:
//
//   - CONNECT with version negotiation (it requires 1.2), the host header,
//     login and passcode; the first connection fails fast with the cause
//     (unreachable, refused credentials as a *ServerError, wrong version).
//   - Heart-beats both ways: it sends them at the negotiated period and takes
//     a server that stays silent for twice its period for gone.
//   - SEND that returns only once the server's RECEIPT arrived (what makes a
//     publish durable with a persistent broker); SendAsync queues SENDs in
//     order and hands back Receipts to wait on together. SUBSCRIBE confirmed
//     by a receipt, ACK and NACK by ack id, transactions (BEGIN, COMMIT, ABORT),
//     and DISCONNECT with a receipt on Close.
//   - ERROR frames become *ServerError: an ERROR about a frame that asked
//     for a receipt fails that call; any other ends the connection.
//   - Reconnection with exponential backoff and jitter, subscribing again to
//     every live subscription under its id. Messages delivered on the lost
//     connection are dropped from the subscription's queue and cannot be
//     acknowledged (ErrStale): the broker delivers them again.
//
// A connection has one reader and one writer goroutine; the writer batches
// frames queued together into one flush. The reader never waits for a
// consumer: a subscription's queue is bounded by what the broker sends
// before acknowledgements (its prefetch), not by the client.
//
// # What it must never do
//
// It must never report a SEND as done before the server's receipt, never
// acknowledge a message on a connection other than the one that delivered
// it, never block the connection's reader on a slow consumer, and never
// log or print a passcode.
package stomp
