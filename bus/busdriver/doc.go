// Package busdriver is the portable layer under Herald's broker-backed bus
// adapters (NATS JetStream, RabbitMQ): what every one of them must do the
// same way, written once so that each adapter stays a thin translation to its
// broker.
//
//   - ValidateMessages and ValidateSubscribe refuse bad input with
//     errs.Invalid naming the field, exactly as the in-process bus does, and
//     CheckTopic is the topic rule every broker can carry (dot-separated
//     words: a NATS subject, an AMQP routing key).
//   - Name turns a (topic, group) pair into a name that every broker accepts
//     for a durable consumer or a queue, readable and collision-free.
//   - Runner runs a subscription's handler: at most its concurrency at once,
//     panics recovered as handler errors, the handlers' context cancelled
//     when the subscription stops, and a Wait that returns only when the
//     last handler has returned.
//   - OpenError and Redact word start-up failures the same way for every
//     adapter: one line naming the port, the address without credentials,
//     and the cause.
//
// It lives under bus/nats only because that is the folder its author owned;
// its natural home is beside the port (bus/driver), and moving it changes
// no code but the import paths.
//
// It must never know about one broker: anything that names NATS or AMQP
// belongs in that adapter.
package busdriver
